package dev.outboxbridge.demo.faults;

import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.demo.DeadLetterOperator;
import dev.outboxbridge.demo.DemoRun;
import dev.outboxbridge.demo.HistoryChecker;
import dev.outboxbridge.demo.Workload;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.testkit.KafkaServer;
import dev.outboxbridge.db.OutboxBridgeMigrations;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.PostgresStandbyPair;
import dev.outboxbridge.testkit.ReplicatedKafkaCluster;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import dev.outboxbridge.testsupport.MemoryReport;
import dev.outboxbridge.testsupport.MemorySampler;
import dev.outboxbridge.testsupport.PublisherLog;
import dev.outboxbridge.testsupport.RelayRole;
import dev.outboxbridge.testsupport.Supervised;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;

/**
 * A fault run: the demo's workload (rate-limited, some transactions rolled back) while two relays
 * (a leader and a standby on the same slot) and the billing consumers run as separate OS processes
 * (a {@link Topology}) into which a {@link FaultInjector} injects {@link Fault}s at random times.
 * Afterwards everything drains and the {@link HistoryChecker} verifies L, P, O and X over the full
 * history; the {@link FaultReport} adds the faults injected, the Kafka duplicates per relay stop or
 * crash, the recovery time after each fault and the memory of each kind of process, with a bound for
 * the relay ({@link MemoryReport}).
 *
 * <p>On the {@link Topology.Kind#HA} topology the run starts its own PostgreSQL primary with a synchronous standby
 * ({@link PostgresStandbyPair}) and Kafka cluster ({@link ReplicatedKafkaCluster}); the writers, the relays and the
 * consumers reach the primary through the pair's host list ({@code targetServerType=primary}), so they follow a
 * promotion.
 */
public final class FaultRun {

    /** Relays on the slot: a leader and a standby. */
    private static final int RELAYS = 2;
    /** Further rounds of load at most, while a required fault has not been injected and recovered from. */
    public static final int MAX_EXTRA_ROUNDS = 8;

    /**
     * Settings of a fault run; with broker or network faults the harness runs its own broker process.
     *
     * @param exactlyOnce the relays run delivery.guarantee=exactly_once, and the report requires 0 duplicates in Kafka
     *        (read read_committed); else delivery.guarantee=at_least_once (set explicitly, whatever the relay's default)
     * @param topology the servers: the given single ones, or the HA topology the run starts itself
     * @param requiredFaults kinds each of which must have been injected and recovered from before the load ends: while
     *        one is missing when the workload is done, further rounds of a quarter of its events follow (at most
     *        {@value #MAX_EXTRA_ROUNDS}), so that a slow machine gives a longer run, not a shorter test
     * @param minFaults likewise, further rounds while fewer faults than this were injected
     */
    public record Options(Workload.Settings workload, int partitions, Duration minGap, Duration maxGap, Duration drainTimeout,
            long seed, Set<Fault> faults, int consumers, boolean exactlyOnce, Topology.Kind topology, Set<Fault> requiredFaults,
            int minFaults) {

        /** No kind required: the load ends with the workload. */
        public Options(Workload.Settings workload, int partitions, Duration minGap, Duration maxGap, Duration drainTimeout,
                long seed, Set<Fault> faults, int consumers, boolean exactlyOnce, Topology.Kind topology) {
            this(workload, partitions, minGap, maxGap, drainTimeout, seed, faults, consumers, exactlyOnce, topology, Set.of(), 0);
        }

        /** Relays at least once, on the single-server topology. */
        public Options(Workload.Settings workload, int partitions, Duration minGap, Duration maxGap, Duration drainTimeout,
                long seed, Set<Fault> faults, int consumers) {
            this(workload, partitions, minGap, maxGap, drainTimeout, seed, faults, consumers, false);
        }

        /** On the single-server topology. */
        public Options(Workload.Settings workload, int partitions, Duration minGap, Duration maxGap, Duration drainTimeout,
                long seed, Set<Fault> faults, int consumers, boolean exactlyOnce) {
            this(workload, partitions, minGap, maxGap, drainTimeout, seed, faults, consumers, exactlyOnce, Topology.Kind.SINGLE);
        }

        public Options {
            if (topology == null) {
                throw new IllegalArgumentException("Choose a topology (SINGLE or HA)");
            }
            List<Fault> misplaced = faults.stream().filter(f -> !f.appliesTo(topology)).sorted().toList();
            if (!misplaced.isEmpty()) {
                throw new IllegalArgumentException("Faults " + misplaced + " do not apply to the " + topology + " topology"
                        + (topology == Topology.Kind.HA
                                ? " (it has no TCP proxies, no single broker and no single PostgreSQL to crash-restart; its"
                                        + " faults are PG_FAILOVER and the KAFKA_* kinds)"
                                : " (they need the PostgreSQL standby pair or the replicated Kafka cluster)")
                        + ". Fix: leave them out of --faults, or run them with --topology "
                        + (topology == Topology.Kind.HA ? "single" : "ha"));
            }
            if (!exactlyOnce && faults.stream().anyMatch(Fault::exactlyOnceOnly)) {
                throw new IllegalArgumentException("Faults " + faults.stream().filter(Fault::exactlyOnceOnly).toList()
                        + " halt at a point only a relay with delivery.guarantee=exactly_once reaches. Fix: run with"
                        + " --exactly-once or leave them out of --faults");
            }
            if (consumers < 1) {
                throw new IllegalArgumentException("Run at least one consumer");
            }
            if (faults.isEmpty()) {
                throw new IllegalArgumentException("Choose at least one fault");
            }
            if (!faults.containsAll(requiredFaults)) {
                throw new IllegalArgumentException("Required faults " + requiredFaults + " must be among the faults " + faults);
            }
            faults = Set.copyOf(faults);
            requiredFaults = Set.copyOf(requiredFaults);
        }

        boolean network() {
            return faults.stream().anyMatch(Fault::network);
        }

        boolean ownBroker() {
            return network() || faults.stream().anyMatch(Fault::broker);
        }

        boolean faultPoints() {
            return faults.stream().anyMatch(Fault::faultPoint);
        }
    }

    /** A database of the run: on the single server (a {@link TestDatabase}) or on the pair, reached through its host list. */
    private record Db(String name, String host, int port, String user, String password, String jdbcUrl, DataSource dataSource,
            UnaryOperator<String> uniqueNames) {

        static Db of(TestDatabase d) {
            return new Db(d.name(), d.host(), d.port(), d.user(), d.password() == null ? "" : d.password(), d.jdbcUrl(),
                    d.dataSource(), d::uniqueName);
        }

        /** A new database on the pair's primary; clients connect through the host list to whichever server is the primary. */
        static Db onPair(PostgresStandbyPair pair, String prefix) {
            String name = pair.createDatabase(prefix);
            PostgresServer first = pair.primary();
            return new Db(name, pair.hostList(), pair.primaryPort(), first.adminUser(), first.adminPassword(), pair.jdbcUrl(name),
                    pair.dataSource(name), p -> {
                        String n = p + "_" + name;
                        return n.length() > 63 ? n.substring(0, 63) : n;
                    });
        }

        String uniqueName(String prefix) {
            return uniqueNames.apply(prefix);
        }

        long count(String sql, Object... params) throws java.sql.SQLException {
            try (var c = dataSource.getConnection(); var ps = c.prepareStatement(sql)) {
                for (int i = 0; i < params.length; i++) {
                    ps.setObject(i + 1, params[i]);
                }
                try (var rs = ps.executeQuery()) {
                    rs.next();
                    return rs.getLong(1);
                }
            }
        }
    }

    private final PostgresServer postgres;
    private final KafkaServer kafka;
    private final Options options;
    private final PrintStream out;

    /**
     * A fault run on {@code postgres} and {@code kafka}; with the {@link Topology.Kind#HA} topology both are ignored (may be
     * null): the run starts its own pair and cluster.
     */
    public FaultRun(PostgresServer postgres, KafkaServer kafka, Options options, PrintStream out) {
        this.postgres = postgres;
        this.kafka = kafka;
        this.options = options;
        this.out = out;
    }

    public FaultReport run() throws Exception {
        long start = System.nanoTime();
        Path workDir = Files.createTempDirectory("outbox-faults");
        out.println("  child process logs: " + workDir);
        if (options.topology() == Topology.Kind.HA) {
            out.println("  starting the HA topology: PostgreSQL primary + synchronous standby, 3 Kafka brokers + 1 KRaft controller");
            try (PostgresStandbyPair pair = PostgresStandbyPair.start();
                    ReplicatedKafkaCluster cluster = ReplicatedKafkaCluster.start(workDir.resolve("kafka-cluster"));
                    TestKafka ns = cluster.newNamespace("faults");
                    Topology topology = Topology.startHa(workDir, pair, cluster, options.faultPoints(), out)) {
                Db shop = Db.onPair(pair, "fault_shop");
                pair.migrateOutbox(shop.name());
                Db billing = Db.onPair(pair, "fault_billing");
                OutboxBridgeMigrations.inbox(billing.dataSource()).migrate();
                return runOn(topology, shop, billing, ns, workDir, start);
            }
        }
        if (options.faults().contains(Fault.PG_RESTART) && !postgres.canRestart()) {
            throw new IllegalArgumentException("Fault " + Fault.PG_RESTART + " needs a PostgreSQL the testkit started and can restart, but "
                    + postgres.host() + ":" + postgres.port() + " is an external server. Fix: leave " + Fault.PG_RESTART
                    + " out of the faults (--faults), or unset OUTBOX_TEST_PG_HOST to use the embedded PostgreSQL.");
        }
        try (TestDatabase shop = postgres.createDatabase("fault_shop").migrateOutbox();
                TestDatabase billing = postgres.createDatabase("fault_billing").migrateInbox();
                TestKafka ns = kafka.newNamespace("faults");
                Topology topology = Topology.start(workDir, postgres, options.network(), options.ownBroker(), options.faultPoints(),
                        out)) {
            return runOn(topology, Db.of(shop), Db.of(billing), ns, workDir, start);
        }
    }

    private FaultReport runOn(Topology topology, Db shop, Db billing, TestKafka ns, Path workDir, long start) throws Exception {
        Workload.createSchema(shop.dataSource());
        DemoRun.createBillingSchema(billing.dataSource());
        String bootstrap = topology.kafkaBootstrap(ns.bootstrapServers());
        String topic = ns.prefix() + OutboxConfig.DEFAULT_TOPIC_PREFIX + Workload.AGGREGATE_TYPE;
        createTopics(topology, ns, bootstrap, topic);
        Map<String, String> relaySettings = relaySettings(shop, topology, ns, bootstrap, topic, workDir);
        // least-privilege role, as in the docs
        String relayRole = RelayRole.provision(shop.dataSource(), shop.uniqueName("relay"), relaySettings);
        try (HikariDataSource shopPool = pool(shop, "fault-shop", options.workload().writers());
                HikariDataSource faultPool = pool(shop, "fault-injector", 1);
                HikariDataSource billingPool = pool(billing, "fault-billing", 2);
                DeadLetterOperator operator = options.workload().poisonRatio() > 0
                        ? DeadLetterOperator.start(billingPool, "billing", bootstrap, topic, Duration.ofMillis(500)) : null) {
            String slot = relaySettings.get(RelayConfig.SLOT_NAME);
            startRelays(topology, shop, relaySettings, workDir);
            startConsumers(topology, billing, topology.consumerBootstrap(bootstrap), topic, ns);
            try (MemorySampler memory = new MemorySampler(topology.processesByKind())) {
                FaultInjector injector = new FaultInjector(topology, topology.kind() == Topology.Kind.SINGLE ? postgres : null,
                        new FaultInjector.Databases(faultPool, shop.name(), slot, billingPool, billing.name(), topic,
                                options.partitions()),
                        options.faults(), options.minGap(), options.maxGap(), options.seed(), out);
                Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(ns.prefix() + OutboxConfig.DEFAULT_TOPIC_PREFIX).build());
                Workloads workload = runUnderFaults(shopPool, outbox, injector);
                if (topology.kind() == Topology.Kind.HA) {
                    topology.restoreKafka(); // a fault cut short by the end of the load must not block the drain
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
                if (topology.kind() == Topology.Kind.HA) {
                    topology.cluster().awaitFullIsr(topic, Duration.ofMinutes(2)); // broker 1's log is complete
                }
                Optional<Path> logs = topology.publisherLogs();
                Optional<List<String>> interleaved = logs.isPresent()
                        ? Optional.of(options.exactlyOnce()
                                ? PublisherLog.epochsGoingBack(logs.get(), topic)
                                : PublisherLog.interleavedProducers(logs.get(), topic))
                        : Optional.empty();
                return new FaultReport(verdict, injector.counts(),
                        topology.relays().stream().mapToInt(Supervised::unexpectedExits).sum(),
                        topology.consumers().stream().mapToInt(Supervised::unexpectedExits).sum(),
                        injector.recoveries(), workload.failedTransactions(), workload.indeterminateTransactions(),
                        Duration.ofNanos(System.nanoTime() - start), memoryReport, injector.maxRecoveryByFault(), interleaved,
                        options.exactlyOnce(), topology.kind(), injector.recoveriesByFault(), injector.recovered(),
                        injector.observations());
            }
        } finally {
            topology.close(); // the relays stop before their role is dropped
            RelayRole.dropQuietly(shop.dataSource(), relayRole);
        }
    }

    /** The run's topic and the two dead-letter topics, on the harness's broker or in the namespace. */
    private void createTopics(Topology topology, TestKafka ns, String bootstrap, String topic) throws Exception {
        if (topology.ownBroker()) {
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
    }

    /** As DemoRun.relaySettings, for a database on the single server or on the pair (its host list). */
    private Map<String, String> relaySettings(Db shop, Topology topology, TestKafka ns, String bootstrap, String topic,
            Path workDir) throws Exception {
        Map<String, String> settings = new HashMap<>();
        settings.put(RelayConfig.NAME, "demo-relay");
        settings.put(RelayConfig.DATABASE_HOSTNAME, shop.host()); // HA: the pair's host list; the relay finds the primary
        settings.put(RelayConfig.DATABASE_PORT, String.valueOf(shop.port()));
        settings.put(RelayConfig.DATABASE_DBNAME, shop.name());
        settings.put(RelayConfig.DATABASE_USER, shop.user());
        settings.put(RelayConfig.DATABASE_PASSWORD, shop.password());
        settings.put(RelayConfig.SLOT_NAME, shop.uniqueName("slot"));
        settings.put(RelayConfig.PUBLICATION_NAME, shop.uniqueName("pub"));
        settings.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, topology.relayBootstrap(bootstrap));
        settings.put(RelayConfig.TOPIC_PREFIX, ns.prefix() + OutboxConfig.DEFAULT_TOPIC_PREFIX);
        topology.proxy(Topology.RELAY_POSTGRES).ifPresent(link -> {
            settings.put(RelayConfig.DATABASE_HOSTNAME, "localhost");
            settings.put(RelayConfig.DATABASE_PORT, String.valueOf(link.port()));
        });
        if (topology.kind() == Topology.Kind.HA) {
            // shorter than a KAFKA_BROKER_PAUSE (10-12 s), so a paused leader makes sends fail for real
            settings.put("kafka.producer.delivery.timeout.ms", "8000");
            settings.put("kafka.producer.request.timeout.ms", "3000");
            // the events topic and the position topic must have replication factor 3 and min.insync.replicas 2
            settings.put(RelayConfig.KAFKA_REPLICATION_CHECK, RelayConfig.KAFKA_REPLICATION_CHECK_REFUSE);
            // heartbeats move the failover slot on, so that it is synchronized to a new standby soon
            settings.put(RelayConfig.HEARTBEAT_INTERVAL_MS, "1000");
        } else {
            // shorter than a BROKER_PAUSE, so a paused broker makes sends fail for real
            settings.put("kafka.producer.delivery.timeout.ms", "15000");
            settings.put("kafka.producer.request.timeout.ms", "5000");
        }
        if (options.exactlyOnce()) {
            settings.put(RelayConfig.DELIVERY_GUARANTEE, RelayConfig.EXACTLY_ONCE);
            settings.put(RelayConfig.FIRST_START_SNAPSHOT, "false"); // not supported with exactly_once; the slot exists before the workload
        } else {
            settings.put(RelayConfig.DELIVERY_GUARANTEE, RelayConfig.AT_LEAST_ONCE); // whatever the relay's default is
        }
        // poison and oversized events: the topic's size limit and the relay's dead-letter topic
        DemoRun.prepareForBadEvents(bootstrap, options.workload(), topic, ns.topic(DemoRun.RELAY_DEAD_LETTER_TOPIC), settings);
        return settings;
    }

    /** A leader and a standby on the same slot ({@code ha.enabled}, the default): relay faults hit the leader. */
    private void startRelays(Topology topology, Db shop, Map<String, String> settings, Path workDir) throws Exception {
        for (int i = 0; i < RELAYS; i++) {
            String name = "relay-" + i;
            Map<String, String> env = RelayConfig.toEnvironment(settings);
            env.put(RelayConfig.environmentVariable(RelayConfig.NAME), "fault-" + name);
            topology.startRelay(name, env);
            if (i == 0) {
                awaitSlot(shop, settings.get(RelayConfig.SLOT_NAME), workDir.resolve(name + ".log"));
            }
        }
    }

    /** The consumers; on the HA topology their JDBC URL names both servers, with {@code targetServerType=primary}. */
    private void startConsumers(Topology topology, Db billing, String consumerBootstrap, String topic, TestKafka ns)
            throws Exception {
        String jdbcUrl = topology.proxy(Topology.CONSUMER_POSTGRES)
                .map(link -> "jdbc:postgresql://localhost:" + link.port() + "/" + billing.name()).orElse(billing.jdbcUrl());
        Map<String, String> env = Map.of("BILLING_JDBC_URL", jdbcUrl, "BILLING_DB_USER", billing.user(),
                "BILLING_DB_PASSWORD", billing.password(),
                "BILLING_BOOTSTRAP_SERVERS", consumerBootstrap, "BILLING_TOPIC", topic,
                "BILLING_GROUP_ID", ns.prefix() + "billing", "BILLING_DEAD_LETTER_TOPIC", ns.topic(DemoRun.DEAD_LETTER_TOPIC));
        for (int i = 0; i < options.consumers(); i++) {
            topology.startConsumer("consumer-" + i, env);
        }
    }

    /**
     * Runs the workload to its end while the injector injects faults on a thread of its own; then, while a required
     * fault has not been injected and recovered from, further rounds of a quarter of the events (another seed), up to
     * {@link #MAX_EXTRA_ROUNDS}.
     */
    private Workloads runUnderFaults(DataSource shopPool, Outbox outbox, FaultInjector injector) throws Exception {
        Workloads all = new Workloads();
        Thread injectorThread = new Thread(injector, "fault-injector");
        injectorThread.start();
        try {
            Workload.Settings s = options.workload();
            Workload first = new Workload(shopPool, outbox, s);
            all.add(first);
            first.run(n -> {
            });
            for (int round = 1; round <= MAX_EXTRA_ROUNDS && (!injector.recovered().keySet().containsAll(options.requiredFaults())
                    || injector.total() < options.minFaults()); round++) {
                Set<Fault> missing = EnumSet.noneOf(Fault.class);
                missing.addAll(options.requiredFaults());
                missing.removeAll(injector.recovered().keySet());
                out.printf("  workload round %d: %s not yet injected and recovered from, %d of at least %d faults; %,d more events%n",
                        round + 1, missing, injector.total(), options.minFaults(), Math.max(1, s.events() / 4));
                Workload more = new Workload(shopPool, outbox, new Workload.Settings(Math.max(1, s.events() / 4), s.aggregates(),
                        s.writers(), s.maxTransactionSize(), s.rollbackRatio(), s.seed() + round, s.eventsPerSecond(),
                        s.poisonRatio(), s.oversizedRatio()));
                all.add(more);
                more.run(n -> {
                });
            }
        } finally {
            injector.stop();
            injectorThread.interrupt();
            injectorThread.join(120_000);
        }
        return all;
    }

    /** The history of one or more workloads run one after the other on the same tables. */
    private static final class Workloads {
        private final List<Workload> rounds = new ArrayList<>();

        void add(Workload w) {
            rounds.add(w);
        }

        List<Workload.WrittenEvent> committed() {
            return rounds.stream().flatMap(w -> w.committed().stream()).toList();
        }

        List<UUID> rolledBack() {
            return rounds.stream().flatMap(w -> w.rolledBack().stream()).toList();
        }

        long committedCount() {
            return rounds.stream().mapToLong(Workload::committedCount).sum();
        }

        long committedCount(Workload.Kind kind) {
            return rounds.stream().mapToLong(w -> w.committedCount(kind)).sum();
        }

        long expectedEffects() {
            return rounds.stream().mapToLong(Workload::expectedEffects).sum();
        }

        long failedTransactions() {
            return rounds.stream().mapToLong(Workload::failedTransactions).sum();
        }

        long indeterminateTransactions() {
            return rounds.stream().mapToLong(Workload::indeterminateTransactions).sum();
        }
    }

    private static HikariDataSource pool(Db db, String name, int size) {
        return DemoRun.pool(db.jdbcUrl(), db.user(), db.password(), name, size);
    }

    private static void awaitSlot(Db shop, String slot, Path relayLog) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (shop.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?", slot) == 0) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("The relay process did not create slot " + slot + " within 90 s; see " + relayLog);
            }
            Thread.sleep(200);
        }
    }

    private void awaitDrain(DataSource billing, long committed) throws Exception {
        long deadline = System.nanoTime() + options.drainTimeout().toNanos();
        long applied;
        while ((applied = FaultInjector.appliedEvents(billing)) < committed) {
            if (System.nanoTime() > deadline) {
                out.printf("  drain timed out: %,d of %,d applied; checking what is there%n", applied, committed);
                return;
            }
            Thread.sleep(250);
        }
    }
}
