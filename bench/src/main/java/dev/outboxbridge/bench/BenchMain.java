package dev.outboxbridge.bench;

import dev.outboxbridge.testkit.TestServers;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import org.apache.kafka.common.utils.AppInfoParser;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The benchmark command: runs the scenarios of issue 6 in one run on one machine (embedded
 * PostgreSQL with wal_level=logical and an in-process Kafka broker, or the servers named by the
 * testkit's environment variables), prints a table with each figure and its ratio to the peers and
 * the limit, and writes results.json, results.md and PNG charts.
 */
@Command(name = "outbox-bench", mixinStandardHelpOptions = true, version = "outbox-bench 0.1.0", sortOptions = false,
        description = "Benchmarks the Outbox Bridge relay against Debezium's EventRouter, a polling relay and the machine's limits.")
public final class BenchMain implements Callable<Integer> {

    static final List<String> ALL_SCENARIOS = List.of("drain", "latency", "write", "inbox", "order", "steady", "memory", "retention");

    @Option(names = "--scenarios", split = ",", defaultValue = "drain,latency,write,inbox,order",
            description = "Scenarios to run, in this order: drain, latency, write, inbox, order (per-aggregate order with concurrent writers),"
                    + " steady (steady-state drain of one large backlog, --steady-events), memory, retention (default: ${DEFAULT-VALUE}).")
    List<String> scenarios;

    @Option(names = "--events", defaultValue = "200000", description = "Drain: backlog rows (default: ${DEFAULT-VALUE}).")
    long events;

    @Option(names = "--warmup-events", defaultValue = "20000",
            description = "Drain: events drained first by the relay and the Debezium peer, not measured, so neither pays the JIT warm-up of the code they share (default: ${DEFAULT-VALUE}).")
    long warmupEvents;

    @Option(names = "--drain-rounds", defaultValue = "3",
            description = "Drain: rounds of the relay and the Debezium peer, in ABBA order; the median round counts, min–max reported (default: ${DEFAULT-VALUE}).")
    int drainRounds;

    @Option(names = "--payload-bytes", defaultValue = "500", description = "Payload size of every event (default: ${DEFAULT-VALUE}).")
    int payloadBytes;

    @Option(names = "--aggregates", defaultValue = "10000", description = "Distinct aggregate ids (Kafka keys) (default: ${DEFAULT-VALUE}).")
    int aggregates;

    @Option(names = "--partitions", defaultValue = "3", description = "Partitions of every topic (default: ${DEFAULT-VALUE}).")
    int partitions;

    @Option(names = "--backlog-tx-size", defaultValue = "10", description = "Events per transaction of the backlog writers (default: ${DEFAULT-VALUE}).")
    int backlogTxSize;

    @Option(names = "--backlog-writers", defaultValue = "2", description = "Backlog writer threads (default: ${DEFAULT-VALUE}).")
    int backlogWriters;

    @Option(names = "--poll-batch-sizes", split = ",", defaultValue = "100,500,2000",
            description = "Batch sizes tried for the polling peer (default: ${DEFAULT-VALUE}).")
    List<Integer> pollBatchSizes;

    @Option(names = "--poll-trial-fraction", defaultValue = "0.25",
            description = "Share of the backlog each polling batch-size trial drains; the best then drains all of it (default: ${DEFAULT-VALUE}).")
    double pollTrialFraction;

    @Option(names = "--poll-interval-ms", defaultValue = "10",
            description = "Polling peer: sleep after a poll that found less than a full batch; equal to the relay's poll.interval.ms (default: ${DEFAULT-VALUE}).")
    long pollIntervalMs;

    @Option(names = "--rates", split = ",", defaultValue = "250,1000,2000", description = "Latency: events/s of the open-loop writers (default: ${DEFAULT-VALUE}).")
    List<Integer> rates;

    @Option(names = "--latency-warmup-seconds", defaultValue = "3", description = "Latency: warm-up at each rate, not recorded (default: ${DEFAULT-VALUE}).")
    int latencyWarmupSeconds;

    @Option(names = "--latency-seconds", defaultValue = "8", description = "Latency: recorded seconds at each rate, per round (default: ${DEFAULT-VALUE}).")
    int latencySeconds;

    @Option(names = "--latency-rounds", defaultValue = "3",
            description = "Latency: rounds at each rate, contenders interleaved (a different one first in each round); the median round by p99 counts, min–max reported (default: ${DEFAULT-VALUE}).")
    int latencyRounds;

    @Option(names = "--latency-writers", defaultValue = "8", description = "Latency: writer threads (and pool size) behind the schedule (default: ${DEFAULT-VALUE}).")
    int latencyWriters;

    @Option(names = "--consumer-latency", defaultValue = "false", negatable = true, fallbackValue = "true",
            description = "Latency: also run an InboxConsumer on each topic and report commit→consumer (it shares the 2 CPUs with the relay) (default: ${DEFAULT-VALUE}).")
    boolean consumerLatency;

    @Option(names = "--latency-tuned-relay", defaultValue = "false", negatable = true, fallbackValue = "true",
            description = "Latency: also run the relay with poll.interval.ms=1 and kafka.producer.linger.ms=0, as an extra row (default: ${DEFAULT-VALUE}).")
    boolean latencyTunedRelay;

    @Option(names = "--exactly-once", defaultValue = "true", negatable = true, fallbackValue = "true",
            description = "Drain and latency: also run the relay with delivery.guarantee=exactly_once, interleaved with the at-least-once relay in the"
                    + " same rounds (issue 13: the cost of exactly-once). Adds one drain per round, and one latency run per round at one rate"
                    + " (1000 events/s if listed in --rates, else the middle rate) (default: ${DEFAULT-VALUE}).")
    boolean exactlyOnce;

    @Option(names = "--idle-seconds", defaultValue = "5",
            description = "Latency: at the rate of issue 13's rule (1000 events/s if listed), after each run, seconds with no writes while the"
                    + " contender runs, to measure its database CPU while idle; 0 skips it (default: ${DEFAULT-VALUE}).")
    int idleSeconds;

    @Option(names = "--order-events", defaultValue = "10000",
            description = "Order: events written by the concurrent writers, each a version bump of a shared aggregate under its row lock (default: ${DEFAULT-VALUE}).")
    long orderEvents;

    @Option(names = "--order-writers", defaultValue = "4", description = "Order: concurrent writer threads, at least 2 (default: ${DEFAULT-VALUE}).")
    int orderWriters;

    @Option(names = "--order-aggregates", defaultValue = "16",
            description = "Order: aggregates the writers share; fewer means more contention (default: ${DEFAULT-VALUE}).")
    int orderAggregates;

    @Option(names = "--order-bumps-per-tx", defaultValue = "3",
            description = "Order: distinct aggregates each transaction locks and bumps, one event each (default: ${DEFAULT-VALUE}).")
    int orderBumps;

    @Option(names = "--steady-events", defaultValue = "1000000",
            description = "Steady: the backlog the relay and the Debezium peer each drain after the warm-up, for the steady-state drain rate"
                    + " (default: ${DEFAULT-VALUE}; about 3 minutes on 2 cores, so not in the default scenario list).")
    long steadyEvents;

    @Option(names = "--steady-rounds", defaultValue = "1",
            description = "Steady: rounds of the relay and the peer over the same backlog, in ABBA order; the median round counts (default: ${DEFAULT-VALUE}).")
    int steadyRounds;

    @Option(names = "--write-seconds", defaultValue = "10", description = "Write overhead: seconds per mode and round (default: ${DEFAULT-VALUE}).")
    int writeSeconds;

    @Option(names = "--write-writers", defaultValue = "4", description = "Write overhead: writer threads (default: ${DEFAULT-VALUE}).")
    int writeWriters;

    @Option(names = "--write-rounds", defaultValue = "2", description = "Write overhead: rounds, modes interleaved (default: ${DEFAULT-VALUE}).")
    int writeRounds;

    @Option(names = "--inbox-events", defaultValue = "20000", description = "Inbox: events consumed per variant (default: ${DEFAULT-VALUE}).")
    long inboxEvents;

    @Option(names = "--inbox-per-record-events", defaultValue = "5000",
            description = "Inbox: events for the one-transaction-per-record variants, which are slow (default: ${DEFAULT-VALUE}).")
    long inboxPerRecordEvents;

    @Option(names = "--memory-events", defaultValue = "1000000", description = "Memory: backlog rows drained by the relay child JVM (default: ${DEFAULT-VALUE}).")
    long memoryEvents;

    @Option(names = "--memory-heap", defaultValue = "512m", description = "Memory: -Xmx of the relay child JVM (default: ${DEFAULT-VALUE}).")
    String memoryHeap;

    @Option(names = "--retention-events", defaultValue = "1000000",
            description = "Retention: events written per retention mode (default: ${DEFAULT-VALUE}).")
    long retentionEvents;

    @Option(names = "--retention-writers", defaultValue = "4", description = "Retention: writer threads (default: ${DEFAULT-VALUE}).")
    int retentionWriters;

    @Option(names = "--retention-tx-size", defaultValue = "1",
            description = "Retention: events per transaction (1: one event per business transaction, the delete-in-transaction mode's worst case) (default: ${DEFAULT-VALUE}).")
    int retentionTxSize;

    @Option(names = "--retention-cleanup-seconds", defaultValue = "5",
            description = "Retention: the cleanup job's retention while the writers run, in seconds (default: ${DEFAULT-VALUE}).")
    int retentionCleanupSeconds;

    @Option(names = "--profile", defaultValue = "true", negatable = true, fallbackValue = "true",
            description = "Record a JFR method profile of the relay and Debezium drains (default: ${DEFAULT-VALUE}).")
    boolean profile;

    @Option(names = "--timeout-seconds", defaultValue = "900", description = "Longest wait for any one drain (default: ${DEFAULT-VALUE}).")
    long timeoutSeconds;

    @Option(names = "--report-only", paramLabel = "RESULTS_JSON",
            description = "Do not measure: redraw the table, results.md and the charts into --out from an earlier results.json.")
    Path reportOnly;

    @Option(names = "--out", defaultValue = "bench-results", description = "Directory for results.json, results.md and the charts (default: ${DEFAULT-VALUE}).")
    Path out;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command and returns its exit code (used by the smoke test). */
    static int run(String... args) {
        return new CommandLine(new BenchMain()).execute(args);
    }

    BenchOptions options() {
        Set<String> s = new LinkedHashSet<>();
        for (String known : ALL_SCENARIOS) {
            if (scenarios.stream().anyMatch(x -> x.trim().equalsIgnoreCase(known))) {
                s.add(known);
            }
        }
        for (String x : scenarios) {
            if (!ALL_SCENARIOS.contains(x.trim().toLowerCase())) {
                throw new CommandLine.ParameterException(new CommandLine(this), "Unknown scenario '" + x + "'; known: " + ALL_SCENARIOS);
            }
        }
        if (s.contains("order") && (orderWriters < 2 || orderAggregates < orderBumps || orderBumps < 1)) {
            throw new CommandLine.ParameterException(new CommandLine(this), "--order-writers must be at least 2 and --order-bumps-per-tx between 1 and"
                    + " --order-aggregates (given " + orderWriters + ", " + orderBumps + ", " + orderAggregates + "). Fix: e.g. --order-writers 4"
                    + " --order-aggregates 16 --order-bumps-per-tx 3.");
        }
        if (s.contains("order") && orderEvents < 1 || s.contains("steady") && (steadyEvents < 1 || steadyRounds < 1)) {
            throw new CommandLine.ParameterException(new CommandLine(this), "--order-events, --steady-events and --steady-rounds must be at least 1"
                    + " (given " + orderEvents + ", " + steadyEvents + ", " + steadyRounds + "). Fix: e.g. --steady-events 1000000 --steady-rounds 1.");
        }
        return new BenchOptions(s, events, warmupEvents, drainRounds, payloadBytes, aggregates, partitions, backlogTxSize, backlogWriters, pollBatchSizes,
                pollTrialFraction, pollIntervalMs, rates, latencyWarmupSeconds, latencySeconds, latencyRounds, latencyWriters, consumerLatency, latencyTunedRelay, exactlyOnce, writeSeconds,
                writeWriters, writeRounds, inboxEvents, inboxPerRecordEvents, memoryEvents, memoryHeap, retentionEvents, retentionWriters, retentionTxSize,
                retentionCleanupSeconds, profile, timeoutSeconds * 1000, idleSeconds, orderEvents, orderWriters, orderAggregates, orderBumps,
                steadyEvents, steadyRounds);
    }

    @Override
    public Integer call() throws Exception {
        BenchOptions o = options();
        Files.createDirectories(out);
        if (reportOnly != null) {
            @SuppressWarnings("unchecked")
            Map<String, Object> earlier = new com.fasterxml.jackson.databind.ObjectMapper().readValue(reportOnly.toFile(), LinkedHashMap.class);
            earlier.remove("targets");
            Report report = new Report(earlier);
            report.write(out);
            report.printConsole(System.out);
            return 0;
        }
        Path work = Files.createTempDirectory("outbox-bench");
        System.out.println("Outbox Bridge benchmarks: " + o.scenarios() + "; starting PostgreSQL and Kafka"
                + " (embedded unless OUTBOX_TEST_* variables point elsewhere)...");
        Map<String, Object> results = new LinkedHashMap<>();
        results.put("started_at", Instant.now().toString());
        try (Progress progress = new Progress(System.out)) {
            var postgres = TestServers.postgres();
            var kafka = TestServers.kafka();
            String pgVersion;
            try (TestDatabase probe = postgres.createDatabase("bench_probe")) {
                pgVersion = BenchContext.queryString(probe, "SHOW server_version");
            }
            results.put("machine", Machine.describe("PostgreSQL " + pgVersion + " (" + postgres.host() + ":" + postgres.port() + ")",
                    "Apache Kafka " + AppInfoParser.getVersion() + " (broker and clients, KRaft, 1 node, " + kafka.bootstrapServers() + ")"));
            results.put("settings", o.toMap());
            results.put("code_under_test", codeUnderTest());
            BenchContext ctx = new BenchContext(postgres, kafka, o, progress, out.toAbsolutePath(), work);
            try (TestKafka shared = kafka.newNamespace("bench-shared")) {
                preCreateRelayPositionTopic(shared);
                runScenario(results, "drain", o, () -> new DrainScenario(ctx).run());
                runScenario(results, "latency", o, () -> new LatencyScenario(ctx, pollingBatch(results), results.containsKey("drain")).run());
                runScenario(results, "write", o, () -> new WriteScenario(ctx).run());
                runScenario(results, "inbox", o, () -> new InboxScenario(ctx).run());
                runScenario(results, "order", o, () -> new OrderScenario(ctx, pollingBatch(results)).run());
                runScenario(results, "steady", o, () -> new DrainScenario(ctx).runSteady(results.containsKey("drain") || results.containsKey("latency")));
                runScenario(results, "memory", o, () -> new MemoryScenario(ctx).run());
                runScenario(results, "retention", o, () -> new RetentionScenario(ctx).run());
            }
            results.put("finished_at", Instant.now().toString());
            results.put("load_average_at_end", Machine.loadAverage());
            Report report = new Report(results);
            report.write(out);
            report.printConsole(System.out);
            progress.log("wrote " + out.toAbsolutePath().resolve("results.json") + ", results.md and charts");
        }
        return results.values().stream().anyMatch(v -> v instanceof Map<?, ?> m && m.containsKey("error")) ? 1 : 0;
    }

    /**
     * Relay versions that keep their position in Kafka create the compacted topic
     * {@code outbox-relay-offsets} on first start; creating it here, before any relay starts, keeps
     * that one-time step out of the measured drains (and out of a create-then-describe race on a
     * fresh broker). Relay versions that keep the position in a file never touch it.
     */
    private static void preCreateRelayPositionTopic(TestKafka shared) throws Exception {
        String topic = "outbox-relay-offsets";
        shared.createTopic(topic, 1);
        org.apache.kafka.common.config.ConfigResource r = new org.apache.kafka.common.config.ConfigResource(
                org.apache.kafka.common.config.ConfigResource.Type.TOPIC, topic);
        shared.admin().incrementalAlterConfigs(Map.of(r, List.of(new org.apache.kafka.clients.admin.AlterConfigOp(
                new org.apache.kafka.clients.admin.ConfigEntry("cleanup.policy", "compact"),
                org.apache.kafka.clients.admin.AlterConfigOp.OpType.SET)))).all().get(30, java.util.concurrent.TimeUnit.SECONDS);
    }

    /** Which jars were measured: the relay and consumer-inbox are edited often, so the run names them. */
    private static Map<String, Object> codeUnderTest() {
        Map<String, Object> m = new LinkedHashMap<>();
        for (Class<?> c : List.of(dev.outboxbridge.relay.Relay.class, dev.outboxbridge.inbox.InboxConsumer.class,
                dev.outboxbridge.outbox.Outbox.class, io.debezium.transforms.outbox.EventRouter.class)) {
            try {
                Path p = Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
                String sha = "";
                if (Files.isRegularFile(p)) {
                    byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p));
                    sha = ", sha256 " + java.util.HexFormat.of().formatHex(d).substring(0, 12);
                }
                m.put(c.getSimpleName(), p.getFileName() + " (" + Files.getLastModifiedTime(p) + sha + ")");
            } catch (Exception e) {
                m.put(c.getSimpleName(), "?");
            }
        }
        return m;
    }

    /** The polling peer's best batch size from the drain, or 500 when the drain did not run. */
    private static int pollingBatch(Map<String, Object> results) {
        if (results.get("drain") instanceof Map<?, ?> drain && drain.get("polling_best_batch") instanceof Integer best) {
            return best;
        }
        return 500;
    }

    interface ScenarioBody {
        Map<String, Object> run() throws Exception;
    }

    private static void runScenario(Map<String, Object> results, String name, BenchOptions o, ScenarioBody body) {
        if (!o.runs(name)) {
            return;
        }
        try {
            results.put(name, body.run());
        } catch (Exception | Error e) {
            e.printStackTrace(System.out);
            results.put(name, Map.of("error", String.valueOf(e)));
        }
    }
}
