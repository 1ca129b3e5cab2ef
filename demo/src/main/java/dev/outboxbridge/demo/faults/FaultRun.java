package dev.outboxbridge.demo.faults;

import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.db.internal.FaultPoints;
import dev.outboxbridge.demo.DeadLetterOperator;
import dev.outboxbridge.demo.DemoRun;
import dev.outboxbridge.demo.HistoryChecker;
import dev.outboxbridge.demo.RelayRole;
import dev.outboxbridge.demo.Workload;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.testkit.KafkaServer;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;

/**
 * A fault run: the demo's workload (rate-limited, some transactions rolled back) while two relays
 * (a leader and a standby on the same slot) and the billing consumers run as separate OS processes that are killed ({@code kill -9}) and
 * stopped (SIGTERM) at random times. Afterwards everything drains and the {@link HistoryChecker}
 * verifies L, P, O and X over the full history; the report adds the faults injected, the Kafka
 * duplicates per relay stop or crash, the recovery time after each fault and the memory of each kind
 * of process, with a bound for the relay ({@link MemoryReport}).
 */
public final class FaultRun {

    /** The faults this harness injects, each a named, reusable injector. */
    public enum Fault {
        /** kill -9 of the leading relay process (the standby takes over); restarted after up to 1 s, as the new standby. */
        RELAY_KILL,
        /** SIGTERM of the leading relay process (graceful stop, the standby takes over); restarted at once. */
        RELAY_TERM,
        /**
         * SIGSTOP of the leading relay for 5-7 s, longer than its lease (4 s): the standby takes over while the old
         * leader still holds its connections; after SIGCONT the old leader must find itself fenced, publish nothing
         * and exit (then it is restarted as a standby).
         */
        RELAY_PAUSE,
        /** kill -9 of the consumer process; restarted after up to 1 s. */
        CONSUMER_KILL,
        /** SIGTERM of the consumer process; restarted at once. */
        CONSUMER_TERM,
        /** pg_terminate_backend of the walsender serving the relay's slot. */
        WALSENDER_TERMINATE,
        /** pg_terminate_backend of the consumer's database connections (mid-transaction or idle). */
        CONSUMER_DB_TERMINATE,
        /** kill -9 of the Kafka broker (a process of the harness), restarted on the same log directory after up to 2 s. */
        BROKER_KILL,
        /**
         * pg_terminate_backend of the writers' connections: transactions fail, some at COMMIT with an
         * unknown outcome that the workload resolves by querying the database.
         */
        WRITER_DB_TERMINATE,
        /**
         * PostgreSQL crashes and comes back: an immediate shutdown ({@code pg_ctl stop -m immediate}: no
         * checkpoint, every connection cut, the relay's walsender included), 0-1 s down, then a start on the
         * same port and data directory with crash recovery. Writers' transactions in flight fail, some at
         * COMMIT with the outcome resolved by query. Needs the embedded PostgreSQL (the testkit restarts it).
         */
        PG_RESTART,
        /** SIGSTOP of one consumer for 8-12 s (longer than its session timeout), then SIGCONT: a zombie that wakes up. */
        CONSUMER_PAUSE,
        /** SIGSTOP of the Kafka broker for 20 s, longer than the relay's producer delivery timeout (15 s here), then SIGCONT. */
        BROKER_PAUSE,
        /** Connection reset (RST) on one link (relay↔PostgreSQL, relay↔Kafka, consumer↔PostgreSQL, consumer↔Kafka). */
        NET_RESET,
        /** Nothing passes on one link for 2-6 s; connections stay open. */
        NET_BLACKHOLE,
        /** 100-300 ms added to every chunk on one link for 5 s. */
        NET_DELAY,
        /** One link limited to 20 KB/s for 5 s. */
        NET_BANDWIDTH,
        /** One link's connections become half-open: the server side is gone, the client is told 20 s later. */
        NET_HALF_OPEN,
        /**
         * The relay halts (as abruptly as kill -9) right after handing a batch to the producer, before
         * any acknowledgement: the records may or may not be in Kafka, none is marked processed.
         */
        RELAY_HALT_AFTER_SEND,
        /** The relay halts right after Kafka acknowledged a record, before it is marked processed: a duplicate on restart. */
        RELAY_HALT_AFTER_ACK,
        /**
         * The relay halts right before its position is written to the position topic (records acknowledged and
         * marked processed) or, at random, right after Kafka acknowledged the position write but before the slot
         * is told it.
         */
        RELAY_HALT_AROUND_FLUSH,
        /** One consumer halts after its handlers ran, right before the database commit: nothing of the transaction stays. */
        CONSUMER_HALT_BEFORE_DB_COMMIT,
        /** One consumer halts right after its database commit, before its offsets are even recorded: redelivered, skipped by the inbox. */
        CONSUMER_HALT_AFTER_DB_COMMIT,
        /**
         * One consumer halts in its offset commit: at random right before commitSync sends the offsets, or right
         * after Kafka stored them but before the consumer learned it.
         */
        CONSUMER_HALT_IN_OFFSET_COMMIT;

        boolean network() {
            return name().startsWith("NET_");
        }

        /** Halts a process at a fault point ({@link FaultPoints}) armed by the harness. */
        boolean faultPoint() {
            return name().contains("_HALT_");
        }

        /** Stops or crashes the relay (what the duplicates per relay stop are counted against). */
        boolean stopsRelay() {
            return this == RELAY_KILL || this == RELAY_TERM || this == RELAY_PAUSE || name().startsWith("RELAY_HALT_");
        }
    }

    /** Settings of a fault run; with {@link Fault#BROKER_KILL} the harness runs its own broker process. */
    public record Options(Workload.Settings workload, int partitions, Duration minGap, Duration maxGap, Duration drainTimeout,
            long seed, Set<Fault> faults, int consumers) {
        public Options {
            if (consumers < 1) {
                throw new IllegalArgumentException("Run at least one consumer");
            }
            if (faults.isEmpty()) {
                throw new IllegalArgumentException("Choose at least one fault");
            }
            faults = Set.copyOf(faults);
        }
    }

    /** What happened. */
    public record Report(HistoryChecker.Verdict verdict, Map<Fault, Integer> faults, int unexpectedRelayExits,
            int unexpectedConsumerExits, List<Long> recoveryMillis, long failedTransactions, long indeterminateCommits,
            Duration elapsed, MemoryReport memory, Map<Fault, Long> maxRecoveryMillisByFault,
            Optional<List<String>> interleavedPublishers) {

        public int totalFaults() {
            return faults.values().stream().mapToInt(Integer::intValue).sum();
        }

        public double duplicatesPerRelayStop() {
            int stops = faults.entrySet().stream().filter(e -> e.getKey().stopsRelay()).mapToInt(Map.Entry::getValue).sum()
                    + unexpectedRelayExits;
            return stops == 0 ? 0 : (double) verdict.kafkaDuplicates() / stops;
        }

        public long maxRecoveryMillis() {
            return recoveryMillis.stream().mapToLong(Long::longValue).max().orElse(0);
        }

        /** L, P, O and X hold, and the relay stayed within its memory bound. */
        public boolean ok() {
            return verdict.ok() && memory.violations().isEmpty() && interleavedPublishers.map(List::isEmpty).orElse(true);
        }

        public void print(PrintStream out) {
            HistoryChecker.Verdict v = verdict;
            out.println();
            out.println("================ Outbox Bridge fault run: report ================");
            out.printf("  faults injected                  %d %s%n", totalFaults(), faults);
            out.printf("  unexpected exits (restarted)     relay %d, consumer %d%n", unexpectedRelayExits, unexpectedConsumerExits);
            out.printf("  committed / rolled back          %,d / %,d events%n", v.committed(), v.rolledBack());
            out.printf("  writer transactions failed       %,d before COMMIT, %,d at COMMIT (outcome resolved by query)%n",
                    failedTransactions, indeterminateCommits);
            out.printf("  records in Kafka                 %,d (duplicates %,d; %.1f per relay stop, crash or failure)%n", v.kafkaRecords(),
                    v.kafkaDuplicates(), duplicatesPerRelayStop());
            List<Long> sorted = new ArrayList<>(recoveryMillis);
            Collections.sort(sorted);
            if (!sorted.isEmpty()) {
                out.printf("  recovery after a fault (ms)      p50 %d, max %d (until the next effect is applied)%n",
                        sorted.get(sorted.size() / 2), sorted.get(sorted.size() - 1));
                out.printf("  recovery by fault, max (ms)      %s%n", maxRecoveryMillisByFault);
            }
            out.printf("  L nothing lost                   %s%n", verdictText(v.lost()));
            out.printf("  P no phantoms                    %s%n", verdictText(v.phantoms()));
            out.printf("  O order per aggregate            %s%n", verdictText(v.orderViolations()));
            out.printf("  X effects exactly once           %s (%,d applied)%n", verdictText(v.effectViolations()), v.effectsApplied());
            out.printf("  F one relay publishing at a time %s%n", interleavedPublishers.map(Report::verdictText)
                    .orElse("not checked (needs the harness's own broker)"));
            v.deadLetters().print(out);
            memory.print(out);
            out.printf("  elapsed                          %.1f s%n", elapsed.toMillis() / 1000.0);
            out.println("  verdict: " + (ok() ? "OK" : "VIOLATION"));
            out.println("=================================================================");
        }

        private static String verdictText(List<String> violations) {
            return violations.isEmpty() ? "ok" : "VIOLATED " + violations;
        }
    }

    private final PostgresServer postgres;
    private final KafkaServer kafka;
    private final Options options;
    private final PrintStream out;

    public FaultRun(PostgresServer postgres, KafkaServer kafka, Options options, PrintStream out) {
        this.postgres = postgres;
        this.kafka = kafka;
        this.options = options;
        this.out = out;
    }

    public Report run() throws Exception {
        long start = System.nanoTime();
        Path workDir = Files.createTempDirectory("outbox-faults");
        this.workDir = workDir;
        out.println("  child process logs: " + workDir);
        if (options.faults().contains(Fault.PG_RESTART) && !postgres.canRestart()) {
            throw new IllegalArgumentException("Fault " + Fault.PG_RESTART + " needs a PostgreSQL the testkit started and can restart, but "
                    + postgres.host() + ":" + postgres.port() + " is an external server. Fix: leave " + Fault.PG_RESTART
                    + " out of the faults (--faults), or unset OUTBOX_TEST_PG_HOST to use the embedded PostgreSQL.");
        }
        boolean network = options.faults().stream().anyMatch(Fault::network);
        boolean ownBroker = network || options.faults().contains(Fault.BROKER_KILL) || options.faults().contains(Fault.BROKER_PAUSE);
        if (network) {
            relayKafkaBrokerPort = BrokerProcess.freePort();
            consumerKafkaBrokerPort = BrokerProcess.freePort();
            links.add(TcpProxy.start("relay-kafka", "localhost", relayKafkaBrokerPort));
            links.add(TcpProxy.start("consumer-kafka", "localhost", consumerKafkaBrokerPort));
            links.add(TcpProxy.start("relay-postgres", postgres.host(), postgres.port()));
            links.add(TcpProxy.start("consumer-postgres", postgres.host(), postgres.port()));
        }
        try {
            return run(start, workDir, network, ownBroker);
        } finally {
            links.forEach(TcpProxy::close);
        }
    }

    private final List<TcpProxy> links = new ArrayList<>();
    private volatile Path workDir;
    private int relayKafkaBrokerPort;
    private int consumerKafkaBrokerPort;

    private TcpProxy link(String name) {
        return links.stream().filter(l -> l.name().equals(name)).findFirst().orElseThrow();
    }

    /** The file through which the harness arms fault points in the named supervised process. */
    private static Path faultPointFile(Path workDir, String process) {
        return workDir.resolve(process + ".faultpoints");
    }

    /** {@code env} plus the fault point file of {@code process}, if this run halts processes at fault points. */
    private Map<String, String> withFaultPoints(Map<String, String> env, Path workDir, String process) {
        if (options.faults().stream().noneMatch(Fault::faultPoint)) {
            return env;
        }
        Map<String, String> m = new HashMap<>(env);
        m.put(FaultPoints.FILE_ENV, faultPointFile(workDir, process).toString());
        return m;
    }

    private Report run(long start, Path workDir, boolean network, boolean ownBroker) throws Exception {
        try (TestDatabase shop = postgres.createDatabase("fault_shop").migrateOutbox();
                TestDatabase billing = postgres.createDatabase("fault_billing").migrateInbox();
                TestKafka ns = kafka.newNamespace("faults");
                Supervised broker = ownBroker ? startBroker(workDir) : null) {
            Workload.createSchema(shop.dataSource());
            DemoRun.createBillingSchema(billing);
            String bootstrap = ownBroker ? brokerBootstrap : ns.bootstrapServers();
            String relayBootstrap = network ? "localhost:" + link("relay-kafka").port() : bootstrap;
            String consumerBootstrap = network ? "localhost:" + link("consumer-kafka").port() : bootstrap;
            String billingJdbcUrl = network ? "jdbc:postgresql://localhost:" + link("consumer-postgres").port() + "/" + billing.name()
                    : billing.jdbcUrl();
            String topicPrefix = ns.prefix() + OutboxConfig.DEFAULT_TOPIC_PREFIX;
            String topic = topicPrefix + Workload.AGGREGATE_TYPE;
            if (ownBroker) {
                try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
                    admin.createTopics(List.of(new NewTopic(topic, Optional.of(options.partitions()), Optional.empty()),
                                    new NewTopic(ns.topic(DemoRun.DEAD_LETTER_TOPIC), Optional.of(1), Optional.empty()),
                                    new NewTopic(ns.topic(DemoRun.RELAY_DEAD_LETTER_TOPIC), Optional.of(1), Optional.empty())))
                            .all().get(60, TimeUnit.SECONDS);
                }
            } else {
                ns.createTopic(topic, options.partitions());
                ns.createTopic(ns.topic(DemoRun.DEAD_LETTER_TOPIC), 1);
                ns.createTopic(ns.topic(DemoRun.RELAY_DEAD_LETTER_TOPIC), 1);
            }
            Map<String, String> relaySettings = DemoRun.relaySettings(shop, relayBootstrap, topicPrefix, workDir);
            if (network) {
                relaySettings.put("database.hostname", "localhost");
                relaySettings.put("database.port", String.valueOf(link("relay-postgres").port()));
            }
            relaySettings.put("relay.name", "fault-relay");
            // shorter than a BROKER_PAUSE, so a paused broker makes sends fail for real
            relaySettings.put("kafka.producer.delivery.timeout.ms", "15000");
            relaySettings.put("kafka.producer.request.timeout.ms", "5000");
            // poison and oversized events: the topic's size limit and the relay's dead-letter topic
            DemoRun.prepareForBadEvents(bootstrap, options.workload(), topic, ns.topic(DemoRun.RELAY_DEAD_LETTER_TOPIC), relaySettings);
            String relayRole = RelayRole.provision(shop, relaySettings); // least-privilege role, as in the docs
            Map<String, String> relayEnv = RelayConfig.toEnvironment(relaySettings);
            Map<String, String> consumerEnv = Map.of("BILLING_JDBC_URL", billingJdbcUrl, "BILLING_DB_USER", billing.user(),
                    "BILLING_DB_PASSWORD", billing.password() == null ? "" : billing.password(),
                    "BILLING_BOOTSTRAP_SERVERS", consumerBootstrap, "BILLING_TOPIC", topic,
                    "BILLING_GROUP_ID", ns.prefix() + "billing", "BILLING_DEAD_LETTER_TOPIC", ns.topic(DemoRun.DEAD_LETTER_TOPIC));
            try (HikariDataSource shopPool = DemoRun.pool(shop, "fault-shop", options.workload().writers());
                    HikariDataSource faultPool = DemoRun.pool(shop, "fault-injector", 1);
                    HikariDataSource billingPool = DemoRun.pool(billing, "fault-billing", 2)) {
                String slot = relayEnv.get("OUTBOX_RELAY_SLOT_NAME");
                List<Supervised> relays = new ArrayList<>();
                List<Supervised> consumers = new ArrayList<>();
                MemorySampler memory = null;
                DeadLetterOperator operator = options.workload().poisonRatio() > 0
                        ? DeadLetterOperator.start(billingPool, "billing", bootstrap, topic, Duration.ofMillis(500)) : null;
                try {
                    // a leader and a standby on the same slot (ha.enabled, the default): relay faults hit the leader
                    for (int i = 0; i < RELAYS; i++) {
                        String name = "relay-" + i;
                        Map<String, String> env = new HashMap<>(withFaultPoints(relayEnv, workDir, name));
                        env.put(RelayConfig.environmentVariable(RelayConfig.NAME), RELAY_NAME_PREFIX + i);
                        relays.add(new Supervised(name, g -> ChildJvm.start(name + "-" + g, "dev.outboxbridge.relay.app.RelayMain",
                                List.of(), env, workDir.resolve(name + ".log"), "512m"), Duration.ofSeconds(1)));
                        if (i == 0) {
                            awaitSlot(shop, slot, workDir);
                        }
                    }
                    for (int i = 0; i < options.consumers(); i++) {
                        String name = "consumer-" + i;
                        Map<String, String> env = withFaultPoints(consumerEnv, workDir, name);
                        consumers.add(new Supervised(name, g -> ChildJvm.start(name + "-" + g, ConsumerMain.class.getName(), List.of(),
                                env, workDir.resolve(name + ".log"), "256m"), Duration.ofSeconds(1)));
                    }
                    Map<String, List<Supervised>> kinds = new LinkedHashMap<>();
                    kinds.put(MemoryReport.RELAY, relays);
                    kinds.put("consumer", consumers);
                    if (broker != null) {
                        kinds.put("kafka broker", List.of(broker));
                    }
                    memory = new MemorySampler(kinds);
                    Injector injector = new Injector(relays, consumers, broker, billingPool, faultPool, slot, billing.name(), shop.name());
                    Thread injectorThread = new Thread(injector, "fault-injector");
                    Workload workload = new Workload(shopPool,
                            Outbox.create(OutboxConfig.builder().topicPrefix(topicPrefix).build()), options.workload());
                    injectorThread.start();
                    try {
                        workload.run(n -> {
                        });
                    } finally {
                        injector.stop.set(true);
                        injectorThread.interrupt();
                        injectorThread.join(120_000);
                    }
                    out.printf("  workload done (%,d committed), %d faults injected; draining%n", workload.committedCount(),
                            injector.total());
                    awaitDrain(billingPool, workload.expectedEffects());
                    DemoRun.awaitDeadLetters(billingPool, workload.committedCount(Workload.Kind.POISON), bootstrap,
                            ns.topic(DemoRun.RELAY_DEAD_LETTER_TOPIC), workload.committedCount(Workload.Kind.OVERSIZED),
                            options.drainTimeout(), out);
                    if (operator != null) {
                        out.printf("  operator skipped the poison head of %,d parked keys (redrive SKIP_DEAD_LETTERED)%n", operator.skipped());
                    }
                    MemoryReport memoryReport = memory.finish();
                    HistoryChecker.Verdict verdict = HistoryChecker.check(workload.committed(), workload.rolledBack(),
                            bootstrap, topic, ns.topic(DemoRun.RELAY_DEAD_LETTER_TOPIC), ns.topic(DemoRun.DEAD_LETTER_TOPIC),
                            billingPool, DemoRun.EFFECTS_TABLE);
                    Optional<List<String>> interleaved = ownBroker
                            ? Optional.of(PublisherLog.interleavedProducers(workDir.resolve("kafka").resolve("logs"), topic))
                            : Optional.empty();
                    return new Report(verdict, injector.counts(), relays.stream().mapToInt(Supervised::unexpectedExits).sum(),
                            consumers.stream().mapToInt(Supervised::unexpectedExits).sum(),
                            injector.recoveries(), workload.failedTransactions(), workload.indeterminateTransactions(),
                            Duration.ofNanos(System.nanoTime() - start), memoryReport, injector.maxRecoveryByFault(), interleaved);
                } finally {
                    if (memory != null) {
                        memory.close();
                    }
                    if (operator != null) {
                        operator.close();
                    }
                    for (Supervised c : consumers) {
                        c.close();
                    }
                    for (Supervised r : relays) {
                        r.close();
                    }
                }
            } finally {
                RelayRole.dropQuietly(shop, relayRole);
            }
        }
    }

    /** Relays on the slot: a leader and a standby. */
    private static final int RELAYS = 2;
    private static final String RELAY_NAME_PREFIX = "fault-relay-";

    /** PostgreSQL application_name of the workload's connections (see DemoRun.pool). */
    private static final String WRITER_APPLICATION_NAME = "demo-fault-shop";

    private volatile String brokerBootstrap;

    private Supervised startBroker(Path workDir) throws Exception {
        List<BrokerProcess.Listener> listeners = links.isEmpty() ? List.of() : List.of(
                new BrokerProcess.Listener("RELAY", relayKafkaBrokerPort, link("relay-kafka").port()),
                new BrokerProcess.Listener("CONSUMER", consumerKafkaBrokerPort, link("consumer-kafka").port()));
        BrokerProcess process = BrokerProcess.format(workDir.resolve("kafka"), Map.of(), listeners);
        brokerBootstrap = process.bootstrapServers();
        Supervised broker = new Supervised("kafka", process::start, Duration.ofSeconds(1));
        process.awaitReady(Duration.ofSeconds(90));
        out.println("  harness Kafka broker (killable) at " + brokerBootstrap);
        return broker;
    }

    private void awaitSlot(TestDatabase shop, String slot, Path workDir) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (shop.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?", slot) == 0) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("The relay process did not create slot " + slot + " within 90 s; see "
                        + workDir.resolve("relay.log"));
            }
            Thread.sleep(200);
        }
    }

    private void awaitDrain(DataSource billing, long committed) throws Exception {
        long deadline = System.nanoTime() + options.drainTimeout().toNanos();
        long applied;
        while ((applied = appliedEvents(billing)) < committed) {
            if (System.nanoTime() > deadline) {
                out.printf("  drain timed out: %,d of %,d applied; checking what is there%n", applied, committed);
                return;
            }
            Thread.sleep(250);
        }
    }

    static long appliedEvents(DataSource billing) throws SQLException {
        try (var c = billing.getConnection(); var s = c.createStatement();
                var rs = s.executeQuery("SELECT count(DISTINCT event_id) FROM " + DemoRun.EFFECTS_TABLE)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** Effects applied so far, or {@code fallback} while the database does not answer (PostgreSQL restarting). */
    static long appliedEventsOr(DataSource billing, long fallback) {
        try {
            return appliedEvents(billing);
        } catch (SQLException e) {
            return fallback;
        }
    }

    /** A process halted at a fault point: when that was noticed, and the effects applied by then. */
    private record Halt(long seenNanos, long appliedBefore) {
    }

    /** Injects a random fault every minGap..maxGap and measures how long until effects flow again. */
    private final class Injector implements Runnable {
        final AtomicBoolean stop = new AtomicBoolean();
        private final List<Supervised> relays;
        private final List<Supervised> consumers;
        private final Supervised broker;
        private final DataSource billing;
        private final DataSource shop;
        private final String slot;
        private final String billingDatabase;
        private final String shopDatabase;
        private final List<Fault> enabled;
        private final Map<Fault, Integer> counts = Collections.synchronizedMap(new EnumMap<>(Fault.class));
        private final List<Long> recoveries = Collections.synchronizedList(new ArrayList<>());
        private final Map<Fault, Long> maxRecoveryByFault = Collections.synchronizedMap(new EnumMap<>(Fault.class));
        private final SplittableRandom random = new SplittableRandom(options.seed());

        Injector(List<Supervised> relays, List<Supervised> consumers, Supervised broker, DataSource billing, DataSource shop,
                String slot, String billingDatabase, String shopDatabase) {
            this.shopDatabase = shopDatabase;
            this.relays = relays;
            this.consumers = consumers;
            this.broker = broker;
            this.billing = billing;
            this.shop = shop;
            this.slot = slot;
            this.billingDatabase = billingDatabase;
            this.enabled = options.faults().stream().sorted().toList();
        }

        @Override
        public void run() {
            while (!stop.get()) {
                long gap = options.minGap().toMillis()
                        + random.nextLong(Math.max(1, options.maxGap().toMillis() - options.minGap().toMillis()));
                try {
                    Thread.sleep(gap);
                    Fault fault = nextFault();
                    long before = appliedEvents(billing);
                    long t0 = System.nanoTime();
                    Halt halt = null;
                    switch (fault) {
                        case RELAY_KILL -> leader().kill(Duration.ofMillis(random.nextInt(1000)));
                        case RELAY_TERM -> leader().terminate();
                        case RELAY_PAUSE -> leader().pause(Duration.ofMillis(5000 + random.nextInt(2000)));
                        case CONSUMER_KILL -> randomConsumer().kill(Duration.ofMillis(random.nextInt(1000)));
                        case CONSUMER_TERM -> randomConsumer().terminate();
                        case CONSUMER_PAUSE -> randomConsumer().pause(Duration.ofMillis(8000 + random.nextInt(4000)));
                        case BROKER_PAUSE -> broker.pause(Duration.ofSeconds(20));
                        case WALSENDER_TERMINATE -> terminate(shop, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
                                + " WHERE slot_name = ? AND active_pid IS NOT NULL", slot);
                        case CONSUMER_DB_TERMINATE -> terminate(billing, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                + " WHERE datname = ? AND application_name = '" + ConsumerMain.APPLICATION_NAME + "'", billingDatabase);
                        case BROKER_KILL -> broker.kill(Duration.ofMillis(random.nextInt(2000)));
                        case WRITER_DB_TERMINATE -> terminate(shop, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                + " WHERE datname = ? AND application_name = '" + WRITER_APPLICATION_NAME + "'", shopDatabase);
                        case PG_RESTART -> postgres.restartImmediately(Duration.ofMillis(random.nextInt(1000)));
                        case NET_RESET -> randomLink().resetAll();
                        case NET_BLACKHOLE -> randomLink().blackhole(Duration.ofMillis(2000 + random.nextInt(4000)));
                        case NET_DELAY -> {
                            TcpProxy l = randomLink();
                            l.delay(Duration.ofMillis(100 + random.nextInt(200)));
                            Thread.sleep(5000);
                            l.heal();
                        }
                        case NET_BANDWIDTH -> {
                            TcpProxy l = randomLink();
                            l.bandwidth(20_000);
                            Thread.sleep(5000);
                            l.heal();
                        }
                        case NET_HALF_OPEN -> randomLink().halfOpenAll(Duration.ofSeconds(20));
                        case RELAY_HALT_AFTER_SEND -> halt = haltAt(leader(), FaultPoints.Point.RELAY_AFTER_SEND);
                        case RELAY_HALT_AFTER_ACK -> halt = haltAt(leader(), FaultPoints.Point.RELAY_AFTER_ACK);
                        case RELAY_HALT_AROUND_FLUSH -> halt = haltAt(leader(), random.nextBoolean()
                                ? FaultPoints.Point.RELAY_BEFORE_POSITION_FLUSH : FaultPoints.Point.RELAY_AFTER_POSITION_FLUSH);
                        case CONSUMER_HALT_BEFORE_DB_COMMIT -> halt = haltAt(randomConsumer(), FaultPoints.Point.INBOX_BEFORE_DB_COMMIT);
                        case CONSUMER_HALT_AFTER_DB_COMMIT -> halt = haltAt(randomConsumer(), FaultPoints.Point.INBOX_AFTER_DB_COMMIT);
                        case CONSUMER_HALT_IN_OFFSET_COMMIT -> halt = haltAt(randomConsumer(), random.nextBoolean()
                                ? FaultPoints.Point.INBOX_BEFORE_OFFSET_COMMIT : FaultPoints.Point.INBOX_AFTER_OFFSET_COMMIT);
                    }
                    if (halt != null) { // the fault happened when the point was reached, not when it was armed
                        t0 = halt.seenNanos();
                        before = halt.appliedBefore();
                    }
                    counts.merge(fault, 1, Integer::sum);
                    out.printf("  fault %-13s (%,d effects applied before it)%n", fault, before);
                    long deadline = t0 + Duration.ofSeconds(120).toNanos();
                    while (!stop.get() && appliedEventsOr(billing, before) <= before && System.nanoTime() < deadline) {
                        Thread.sleep(50);
                    }
                    if (!stop.get()) {
                        long recovery = (System.nanoTime() - t0) / 1_000_000;
                        recoveries.add(recovery);
                        maxRecoveryByFault.merge(fault, recovery, Math::max);
                    }
                } catch (InterruptedException e) {
                    return;
                } catch (Exception e) {
                    out.println("  fault injection failed: " + e);
                }
            }
        }

        private final List<Fault> bag = new ArrayList<>();

        /** Random order, but every enabled kind once before any kind comes again (a shuffled bag). */
        private Fault nextFault() {
            if (bag.isEmpty()) {
                bag.addAll(enabled);
                for (int i = bag.size() - 1; i > 0; i--) {
                    Collections.swap(bag, i, random.nextInt(i + 1));
                }
            }
            return bag.remove(bag.size() - 1);
        }

        /** The relay holding the lease (found through its lease session in PostgreSQL), or any when none does right now. */
        private Supervised leader() throws SQLException {
            try (var c = shop.getConnection(); var s = c.createStatement(); var rs = s.executeQuery("SELECT a.application_name"
                    + " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
                    + " AND a.application_name LIKE '" + RELAY_NAME_PREFIX + "%-lease'")) {
                if (rs.next()) {
                    String name = rs.getString(1);
                    int index = Integer.parseInt(name.substring(RELAY_NAME_PREFIX.length(), name.length() - "-lease".length()));
                    out.printf("    on the leader, relay-%d%n", index);
                    return relays.get(index);
                }
            }
            out.println("    no relay holds the lease right now: on any relay");
            return relays.get(random.nextInt(relays.size()));
        }

        /**
         * Arms {@code point} at a random hit (1-10) in the current (or next) process of {@code target}
         * and waits until it halted there and its supervisor restarted it.
         *
         * @return when the halt was noticed (the start of the recovery) and the effects applied then
         */
        private Halt haltAt(Supervised target, FaultPoints.Point point) throws Exception {
            Path file = faultPointFile(workDir, target.name());
            int halts = target.faultPointHalts();
            long n = 1 + random.nextInt(10);
            FaultPoints.arm(file, point, n);
            out.printf("    %s armed to halt at hit %d of %s%n", target.name(), n, point.id());
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            try {
                while (target.faultPointHalts() == halts) {
                    if (stop.get() || System.nanoTime() > deadline) {
                        throw new IllegalStateException(target.name() + " did not reach fault point " + point.id() + " " + n
                                + " times within 60 s (or the run ended); disarmed");
                    }
                    Thread.sleep(20);
                }
            } catch (InterruptedException | RuntimeException e) {
                FaultPoints.disarm(file);
                throw e;
            }
            Halt halt = new Halt(target.lastHaltSeenNanos(), appliedEvents(billing));
            while (!target.isAlive() && !stop.get() && System.nanoTime() < deadline) {
                Thread.sleep(20); // isAlive() waits for the supervisor's restart
            }
            return halt;
        }

        private Supervised randomConsumer() {
            return consumers.get(random.nextInt(consumers.size()));
        }

        private TcpProxy randomLink() {
            TcpProxy l = links.get(random.nextInt(links.size()));
            out.printf("    on link %s%n", l.name());
            return l;
        }

        private void terminate(DataSource dataSource, String sql, String parameter) throws SQLException {
            try (var c = dataSource.getConnection(); var ps = c.prepareStatement(sql)) {
                ps.setString(1, parameter);
                ps.executeQuery().close();
            }
        }

        int total() {
            synchronized (counts) {
                return counts.values().stream().mapToInt(Integer::intValue).sum();
            }
        }

        Map<Fault, Integer> counts() {
            synchronized (counts) {
                return counts.isEmpty() ? new EnumMap<>(Fault.class) : new EnumMap<>(counts);
            }
        }

        Map<Fault, Long> maxRecoveryByFault() {
            synchronized (maxRecoveryByFault) {
                return maxRecoveryByFault.isEmpty() ? new EnumMap<>(Fault.class) : new EnumMap<>(maxRecoveryByFault);
            }
        }

        List<Long> recoveries() {
            synchronized (recoveries) {
                return List.copyOf(recoveries);
            }
        }
    }
}
