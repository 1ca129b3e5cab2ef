package dev.outboxbridge.demo.faults;

import dev.outboxbridge.demo.Workload;
import dev.outboxbridge.testkit.TestServers;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The long fault run: {@code java -cp demo/target/outbox-demo-0.1.0-SNAPSHOT.jar dev.outboxbridge.demo.faults.FaultMain}.
 * Exits non-zero on any violation of L, P, O or X.
 */
@Command(name = "outbox-faults", mixinStandardHelpOptions = true,
        description = "Kills and restarts the relay and the consumer (separate processes) under load, then checks the history.")
public final class FaultMain implements Callable<Integer> {

    @Option(names = "--events", defaultValue = "100000", description = "Committed events (default: ${DEFAULT-VALUE}).")
    int events;

    @Option(names = "--rate", defaultValue = "100", description = "Committed events per second (default: ${DEFAULT-VALUE}).")
    int rate;

    @Option(names = "--aggregates", defaultValue = "1000", description = "Distinct orders (default: ${DEFAULT-VALUE}).")
    int aggregates;

    @Option(names = "--min-gap-ms", defaultValue = "500", description = "Shortest time between faults (default: ${DEFAULT-VALUE}).")
    long minGap;

    @Option(names = "--max-gap-ms", defaultValue = "1500", description = "Longest time between faults (default: ${DEFAULT-VALUE}).")
    long maxGap;

    @Option(names = "--seed", defaultValue = "7", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--consumers", defaultValue = "3", description = "Consumer processes in the group (default: ${DEFAULT-VALUE}).")
    int consumers;

    @Option(names = "--poison-ratio", defaultValue = "0.002",
            description = "Fraction of events the consumer cannot deserialize: dead-lettered by the consumer (default: ${DEFAULT-VALUE}; 0 = none).")
    double poisonRatio;

    @Option(names = "--oversized-ratio", defaultValue = "0.002",
            description = "Fraction of events larger than the topic accepts: dead-lettered by the relay (default: ${DEFAULT-VALUE}; 0 = none).")
    double oversizedRatio;

    @Option(names = "--faults", split = ",", description = "Faults to inject (default: all that apply to the topology; those only an"
            + " exactly-once relay reaches only with --exactly-once): ${COMPLETION-CANDIDATES}.")
    Set<Fault> faults;

    @Option(names = "--topology", defaultValue = "single", description = "single: one PostgreSQL server and one Kafka broker (the"
            + " test servers); ha: a PostgreSQL 17 primary with a synchronous standby (failover slots) and a Kafka cluster of 3"
            + " brokers and a KRaft controller, started by the run (default: ${DEFAULT-VALUE}).")
    Topology.Kind topology;

    @Option(names = "--min-faults", defaultValue = "0", description = "When the workload is done with fewer faults injected, the"
            + " load goes on in rounds of a quarter of --events (at most " + FaultRun.MAX_EXTRA_ROUNDS + ") until there are"
            + " (default: ${DEFAULT-VALUE}).")
    int minFaults;

    @Option(names = "--exactly-once", description = "Run the relays with delivery.guarantee=exactly_once; the run then fails on"
            + " any duplicate in Kafka (read read_committed).")
    boolean exactlyOnce;

    public static void main(String[] args) {
        System.exit(new CommandLine(new FaultMain()).setCaseInsensitiveEnumValuesAllowed(true).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        if (faults == null) {
            faults = EnumSet.allOf(Fault.class);
            faults.removeIf(f -> !f.appliesTo(topology));
            if (!exactlyOnce) {
                faults.removeIf(Fault::exactlyOnceOnly);
            }
        }
        FaultRun.Options options = new FaultRun.Options(new Workload.Settings(events, aggregates, 2, 10, 0.1, seed, rate)
                .withBadEvents(poisonRatio, oversizedRatio), 3,
                Duration.ofMillis(minGap), Duration.ofMillis(maxGap), Duration.ofMinutes(10), seed, faults, consumers, exactlyOnce, topology, Set.of(), minFaults);
        System.out.printf("Fault run%s on the %s topology: %,d events at %d/s (%.1f%% poison, %.1f%% oversized), a fault every %d-%d ms from %s%n",
                exactlyOnce ? " (exactly_once)" : "", topology, events, rate, poisonRatio * 100, oversizedRatio * 100, minGap, maxGap, faults);
        FaultReport report = topology == Topology.Kind.HA ? new FaultRun(null, null, options, System.out).run()
                : new FaultRun(TestServers.postgres(), TestServers.kafka(), options, System.out).run();
        report.print(System.out);
        return report.ok() ? 0 : 1;
    }
}
