package dev.outboxbridge.demo;

import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.testkit.TestServers;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.net.URI;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The one-command demo: starts an embedded PostgreSQL (wal_level=logical) and Kafka broker (or
 * uses the servers named by the testkit's environment variables), runs two relay processes (a leader and a standby),
 * a sample shop service writing at a steady rate and an inbox consumer, prints live latency, kills the leader with
 * {@code kill -9} halfway, and prints a summary with the guarantees checked.
 */
@Command(name = "outbox-demo", mixinStandardHelpOptions = true, version = "outbox-demo 0.1.0",
        description = "Runs the whole outbox path on real PostgreSQL and Kafka and checks that nothing is lost or invented.")
public final class DemoMain implements Callable<Integer> {

    @Spec
    CommandSpec spec;

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

    @Option(names = "--rate", defaultValue = "500",
            description = "Committed events per second, all writers together; 0 = flat out (default: ${DEFAULT-VALUE}).")
    int rate;

    @Option(names = "--flat-out", description = "Write as fast as the writers can (same as --rate 0): shows throughput and backlog, not latency.")
    boolean flatOut;

    @Option(names = "--warm-up", defaultValue = "10", paramLabel = "SECONDS",
            description = "Seconds at the start of the writes whose latency the summary reports apart from the steady state,"
                    + " while the JVMs compile the hot paths; 0 = none (default: ${DEFAULT-VALUE}).")
    int warmUpSeconds;

    @Option(names = {"--kill-relay", "--restart-relay"}, defaultValue = "true", negatable = true, fallbackValue = "true",
            description = "Run a standby relay process next to the leader, kill -9 the leader halfway and let the standby take over"
                    + " (default: ${DEFAULT-VALUE}).")
    boolean killRelay;

    @Option(names = "--redeliver", defaultValue = "true", negatable = true, fallbackValue = "true",
            description = "Replay the whole topic into the inbox at the end (default: ${DEFAULT-VALUE}).")
    boolean redeliver;

    @Option(names = "--seed", defaultValue = "42", description = "Random seed of the workload (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--external-relays", split = ",", paramLabel = "NAME=URL",
            description = "Run against a deployed stack (docker-compose.yml's workload): the relays run elsewhere and are watched"
                    + " through these operations endpoints (e.g. relay-a=http://relay-a:8080); PostgreSQL and Kafka come from"
                    + " OUTBOX_TEST_PG_HOST/_PORT/_USER/_PASSWORD and OUTBOX_TEST_KAFKA_BOOTSTRAP_SERVERS; nothing is started;"
                    + " needs --no-kill-relay (kill a relay container from outside instead).")
    Map<String, URI> externalRelays;

    @Option(names = "--shop-database", defaultValue = "shop",
            description = "With --external-relays: the database the relays read, with the outbox migrations applied (default: ${DEFAULT-VALUE}).")
    String shopDatabase;

    @Option(names = "--billing-database", defaultValue = "billing",
            description = "With --external-relays: the consumer's database, with the inbox migrations applied (default: ${DEFAULT-VALUE}).")
    String billingDatabase;

    @Option(names = "--topic-prefix", defaultValue = OutboxConfig.DEFAULT_TOPIC_PREFIX,
            description = "With --external-relays: the relays' topic.prefix (default: ${DEFAULT-VALUE}).")
    String topicPrefix;

    public static void main(String[] args) {
        int code = new CommandLine(new DemoMain()).execute(args);
        System.exit(code);
    }

    @Override
    public Integer call() throws Exception {
        if (warmUpSeconds < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "Invalid value " + warmUpSeconds
                    + " for option '--warm-up': must be 0 (none) or more seconds");
        }
        if (rate < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "Invalid value " + rate
                    + " for option '--rate': must be 0 (flat out) or more events per second");
        }
        if (externalRelays != null) {
            return runExternal();
        }
        System.out.println("Outbox Bridge demo: starting PostgreSQL and Kafka (embedded unless OUTBOX_TEST_* variables point elsewhere)...");
        var postgres = TestServers.postgres();
        var kafka = quietly(TestServers::kafka);
        System.out.printf("PostgreSQL %s:%d, Kafka %s%n", postgres.host(), postgres.port(), kafka.bootstrapServers());
        DemoRun.Report report = new DemoRun(postgres, kafka, options(), System.out).run();
        report.print(System.out);
        return report.ok() ? 0 : 1;
    }

    private DemoRun.Options options() {
        return new DemoRun.Options(
                new Workload.Settings(events, aggregates, writers, maxTxSize, rollbackRatio, seed, flatOut ? 0 : rate),
                partitions, killRelay, redeliver, Duration.ofMinutes(5), Duration.ofSeconds(warmUpSeconds));
    }

    /** The run against a deployed stack: servers from the OUTBOX_TEST_* variables, the relays watched at their endpoints. */
    private int runExternal() throws Exception {
        if (killRelay) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--external-relays needs --no-kill-relay: the demo"
                    + " cannot kill a relay that runs elsewhere (docker/compose-check.sh --kill-leader kills the leading container)");
        }
        String host = requiredEnvironment("OUTBOX_TEST_PG_HOST");
        String port = System.getenv().getOrDefault("OUTBOX_TEST_PG_PORT", "5432");
        String user = requiredEnvironment("OUTBOX_TEST_PG_USER");
        String password = System.getenv().getOrDefault("OUTBOX_TEST_PG_PASSWORD", "");
        String bootstrapServers = requiredEnvironment("OUTBOX_TEST_KAFKA_BOOTSTRAP_SERVERS");
        String jdbc = "jdbc:postgresql://" + host + ":" + port + "/";
        System.out.printf("Outbox Bridge demo against a deployed stack: PostgreSQL %s:%s (databases %s, %s), Kafka %s, relays %s%n",
                host, port, shopDatabase, billingDatabase, bootstrapServers, externalRelays.keySet());
        DemoRun.External external = new DemoRun.External(jdbc + shopDatabase, jdbc + billingDatabase, user, password,
                bootstrapServers, topicPrefix, externalRelays);
        DemoRun.Report report = new DemoRun(null, null, options(), System.out).runExternal(external);
        report.print(System.out);
        return report.ok() ? 0 : 1;
    }

    private String requiredEnvironment(String name) {
        String value = System.getenv(name);
        if (value == null || value.isBlank()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--external-relays needs the environment variable " + name
                    + ". Fix: set OUTBOX_TEST_PG_HOST, OUTBOX_TEST_PG_USER (and _PORT, _PASSWORD) and"
                    + " OUTBOX_TEST_KAFKA_BOOTSTRAP_SERVERS to the stack's servers (docker-compose.yml does).");
        }
        return value;
    }

    /**
     * Runs {@code start} with this JVM's stdout and stderr captured: the in-process Kafka broker prints its storage
     * formatting there ("Formatting metadata directory ..."), which says nothing to a user. Shown only if it fails.
     */
    private static <T> T quietly(Supplier<T> start) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream capture = new PrintStream(captured, true, StandardCharsets.UTF_8);
        System.setOut(capture);
        System.setErr(capture);
        try {
            return start.get();
        } catch (RuntimeException | Error e) {
            err.print(captured.toString(StandardCharsets.UTF_8));
            throw e;
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }
}
