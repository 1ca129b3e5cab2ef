package dev.outboxbridge.demo;

import dev.outboxbridge.testkit.TestServers;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The one-command demo: starts an embedded PostgreSQL (wal_level=logical) and Kafka broker (or
 * uses the servers named by the testkit's environment variables), runs the relay, a sample shop
 * service and an inbox consumer, and prints a summary with the guarantees checked.
 */
@Command(name = "outbox-demo", mixinStandardHelpOptions = true, version = "outbox-demo 0.1.0",
        description = "Runs the whole outbox path on real PostgreSQL and Kafka and checks that nothing is lost or invented.")
public final class DemoMain implements Callable<Integer> {

    @Option(names = "--events", defaultValue = "20000", description = "Committed events to write (default: ${DEFAULT-VALUE}).")
    int events;

    @Option(names = "--aggregates", defaultValue = "500", description = "Distinct orders (Kafka keys) (default: ${DEFAULT-VALUE}).")
    int aggregates;

    @Option(names = "--writers", defaultValue = "2", description = "Concurrent writer threads (default: ${DEFAULT-VALUE}).")
    int writers;

    @Option(names = "--max-tx-size", defaultValue = "10", description = "Most events in one transaction (default: ${DEFAULT-VALUE}).")
    int maxTxSize;

    @Option(names = "--rollback-ratio", defaultValue = "0.1", description = "Share of transactions rolled back on purpose (default: ${DEFAULT-VALUE}).")
    double rollbackRatio;

    @Option(names = "--partitions", defaultValue = "3", description = "Partitions of the topic (default: ${DEFAULT-VALUE}).")
    int partitions;

    @Option(names = "--restart-relay", defaultValue = "true", negatable = true, fallbackValue = "true",
            description = "Stop the relay mid-stream and start a new one (default: ${DEFAULT-VALUE}).")
    boolean restartRelay;

    @Option(names = "--redeliver", defaultValue = "true", negatable = true, fallbackValue = "true",
            description = "Replay the whole topic into the inbox at the end (default: ${DEFAULT-VALUE}).")
    boolean redeliver;

    @Option(names = "--seed", defaultValue = "42", description = "Random seed of the workload (default: ${DEFAULT-VALUE}).")
    long seed;

    public static void main(String[] args) {
        int code = new CommandLine(new DemoMain()).execute(args);
        System.exit(code);
    }

    @Override
    public Integer call() throws Exception {
        System.out.println("Outbox Bridge demo: starting PostgreSQL and Kafka (embedded unless OUTBOX_TEST_* variables point elsewhere)...");
        var postgres = TestServers.postgres();
        var kafka = TestServers.kafka();
        System.out.printf("PostgreSQL %s:%d, Kafka %s%n", postgres.host(), postgres.port(), kafka.bootstrapServers());
        System.out.printf("Writing %,d events over %,d orders (transactions of 1-%d events, %.0f%% rolled back)...%n",
                events, aggregates, maxTxSize, rollbackRatio * 100);
        DemoRun.Options options = new DemoRun.Options(
                new Workload.Settings(events, aggregates, writers, maxTxSize, rollbackRatio, seed),
                partitions, restartRelay, redeliver, Duration.ofMinutes(5));
        DemoRun.Report report = new DemoRun(postgres, kafka, options, System.out).run();
        report.print(System.out);
        return report.ok() ? 0 : 1;
    }
}
