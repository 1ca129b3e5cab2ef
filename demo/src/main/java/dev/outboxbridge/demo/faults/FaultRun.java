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
import dev.outboxbridge.testkit.PostgresServer;
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
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
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
 */
public final class FaultRun {

    /** Relays on the slot: a leader and a standby. */
    private static final int RELAYS = 2;

    /**
     * Settings of a fault run; with broker or network faults the harness runs its own broker process.
     *
     * @param exactlyOnce the relays run delivery.guarantee=exactly_once, and the report requires 0 duplicates in Kafka
     *        (read read_committed)
     */
    public record Options(Workload.Settings workload, int partitions, Duration minGap, Duration maxGap, Duration drainTimeout,
            long seed, Set<Fault> faults, int consumers, boolean exactlyOnce) {

        /** Relays at least once (the relay's default). */
        public Options(Workload.Settings workload, int partitions, Duration minGap, Duration maxGap, Duration drainTimeout,
                long seed, Set<Fault> faults, int consumers) {
            this(workload, partitions, minGap, maxGap, drainTimeout, seed, faults, consumers, false);
        }

        public Options {
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
            faults = Set.copyOf(faults);
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

    public FaultReport run() throws Exception {
        long start = System.nanoTime();
        Path workDir = Files.createTempDirectory("outbox-faults");
        out.println("  child process logs: " + workDir);
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
            Workload.createSchema(shop.dataSource());
            DemoRun.createBillingSchema(billing);
            String bootstrap = topology.kafkaBootstrap(ns.bootstrapServers());
            String topic = ns.prefix() + OutboxConfig.DEFAULT_TOPIC_PREFIX + Workload.AGGREGATE_TYPE;
            createTopics(topology, ns, bootstrap, topic);
            Map<String, String> relaySettings = relaySettings(shop, topology, ns, bootstrap, topic, workDir);
            String relayRole = RelayRole.provision(shop, relaySettings); // least-privilege role, as in the docs
            try (HikariDataSource shopPool = DemoRun.pool(shop, "fault-shop", options.workload().writers());
                    HikariDataSource faultPool = DemoRun.pool(shop, "fault-injector", 1);
                    HikariDataSource billingPool = DemoRun.pool(billing, "fault-billing", 2);
                    DeadLetterOperator operator = options.workload().poisonRatio() > 0
                            ? DeadLetterOperator.start(billingPool, "billing", bootstrap, topic, Duration.ofMillis(500)) : null) {
                String slot = relaySettings.get(RelayConfig.SLOT_NAME);
                startRelays(topology, shop, relaySettings, workDir);
                startConsumers(topology, billing, topology.consumerBootstrap(bootstrap), topic, ns);
                try (MemorySampler memory = new MemorySampler(topology.processesByKind())) {
                    FaultInjector injector = new FaultInjector(topology, postgres,
                            new FaultInjector.Databases(faultPool, shop.name(), slot, billingPool, billing.name()),
                            options.faults(), options.minGap(), options.maxGap(), options.seed(), out);
                    Workload workload = new Workload(shopPool,
                            Outbox.create(OutboxConfig.builder().topicPrefix(ns.prefix() + OutboxConfig.DEFAULT_TOPIC_PREFIX).build()),
                            options.workload());
                    runUnderFaults(workload, injector);
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
                    Optional<List<String>> interleaved = topology.ownBroker()
                            ? Optional.of(options.exactlyOnce()
                                    ? PublisherLog.epochsGoingBack(topology.brokerLogs(), topic)
                                    : PublisherLog.interleavedProducers(topology.brokerLogs(), topic))
                            : Optional.empty();
                    return new FaultReport(verdict, injector.counts(),
                            topology.relays().stream().mapToInt(Supervised::unexpectedExits).sum(),
                            topology.consumers().stream().mapToInt(Supervised::unexpectedExits).sum(),
                            injector.recoveries(), workload.failedTransactions(), workload.indeterminateTransactions(),
                            Duration.ofNanos(System.nanoTime() - start), memoryReport, injector.maxRecoveryByFault(), interleaved,
                            options.exactlyOnce());
                }
            } finally {
                topology.close(); // the relays stop before their role is dropped
                RelayRole.dropQuietly(shop, relayRole);
            }
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

    private Map<String, String> relaySettings(TestDatabase shop, Topology topology, TestKafka ns, String bootstrap, String topic,
            Path workDir) throws Exception {
        Map<String, String> settings = DemoRun.relaySettings(shop, topology.relayBootstrap(bootstrap),
                ns.prefix() + OutboxConfig.DEFAULT_TOPIC_PREFIX, workDir);
        topology.proxy(Topology.RELAY_POSTGRES).ifPresent(link -> {
            settings.put(RelayConfig.DATABASE_HOSTNAME, "localhost");
            settings.put(RelayConfig.DATABASE_PORT, String.valueOf(link.port()));
        });
        // shorter than a BROKER_PAUSE, so a paused broker makes sends fail for real
        settings.put("kafka.producer.delivery.timeout.ms", "15000");
        settings.put("kafka.producer.request.timeout.ms", "5000");
        if (options.exactlyOnce()) {
            settings.put(RelayConfig.DELIVERY_GUARANTEE, RelayConfig.EXACTLY_ONCE);
            settings.put(RelayConfig.FIRST_START_SNAPSHOT, "false"); // not supported with exactly_once; the slot exists before the workload
        }
        // poison and oversized events: the topic's size limit and the relay's dead-letter topic
        DemoRun.prepareForBadEvents(bootstrap, options.workload(), topic, ns.topic(DemoRun.RELAY_DEAD_LETTER_TOPIC), settings);
        return settings;
    }

    /** A leader and a standby on the same slot ({@code ha.enabled}, the default): relay faults hit the leader. */
    private void startRelays(Topology topology, TestDatabase shop, Map<String, String> settings, Path workDir) throws Exception {
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

    private void startConsumers(Topology topology, TestDatabase billing, String consumerBootstrap, String topic, TestKafka ns)
            throws Exception {
        String jdbcUrl = topology.proxy(Topology.CONSUMER_POSTGRES)
                .map(link -> "jdbc:postgresql://localhost:" + link.port() + "/" + billing.name()).orElse(billing.jdbcUrl());
        Map<String, String> env = Map.of("BILLING_JDBC_URL", jdbcUrl, "BILLING_DB_USER", billing.user(),
                "BILLING_DB_PASSWORD", billing.password() == null ? "" : billing.password(),
                "BILLING_BOOTSTRAP_SERVERS", consumerBootstrap, "BILLING_TOPIC", topic,
                "BILLING_GROUP_ID", ns.prefix() + "billing", "BILLING_DEAD_LETTER_TOPIC", ns.topic(DemoRun.DEAD_LETTER_TOPIC));
        for (int i = 0; i < options.consumers(); i++) {
            topology.startConsumer("consumer-" + i, env);
        }
    }

    /** Runs the workload to its end while the injector injects faults on a thread of its own. */
    private static void runUnderFaults(Workload workload, FaultInjector injector) throws Exception {
        Thread injectorThread = new Thread(injector, "fault-injector");
        injectorThread.start();
        try {
            workload.run(n -> {
            });
        } finally {
            injector.stop();
            injectorThread.interrupt();
            injectorThread.join(120_000);
        }
    }

    private static void awaitSlot(TestDatabase shop, String slot, Path relayLog) throws Exception {
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
