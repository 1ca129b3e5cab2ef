package dev.outboxbridge.demo.faults;

import com.zaxxer.hikari.HikariDataSource;
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
 * A fault run: the demo's workload (rate-limited, some transactions rolled back) while the relay
 * and the billing consumer run as separate OS processes that are killed ({@code kill -9}) and
 * stopped (SIGTERM) at random times. Afterwards everything drains and the {@link HistoryChecker}
 * verifies L, P, O and X over the full history; the report adds the faults injected, the Kafka
 * duplicates per relay stop or crash and the recovery time after each fault.
 */
public final class FaultRun {

    /** The faults this harness injects, each a named, reusable injector. */
    public enum Fault {
        /** kill -9 of the relay process; restarted after up to 1 s. */
        RELAY_KILL,
        /** SIGTERM of the relay process (graceful stop); restarted at once. */
        RELAY_TERM,
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
        NET_HALF_OPEN;

        boolean network() {
            return name().startsWith("NET_");
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
            Duration elapsed) {

        public int totalFaults() {
            return faults.values().stream().mapToInt(Integer::intValue).sum();
        }

        public double duplicatesPerRelayStop() {
            int stops = faults.getOrDefault(Fault.RELAY_KILL, 0) + faults.getOrDefault(Fault.RELAY_TERM, 0) + unexpectedRelayExits;
            return stops == 0 ? 0 : (double) verdict.kafkaDuplicates() / stops;
        }

        public long maxRecoveryMillis() {
            return recoveryMillis.stream().mapToLong(Long::longValue).max().orElse(0);
        }

        public boolean ok() {
            return verdict.ok();
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
            }
            out.printf("  L nothing lost                   %s%n", verdictText(v.lost()));
            out.printf("  P no phantoms                    %s%n", verdictText(v.phantoms()));
            out.printf("  O order per aggregate            %s%n", verdictText(v.orderViolations()));
            out.printf("  X effects exactly once           %s (%,d applied)%n", verdictText(v.effectViolations()), v.effectsApplied());
            v.deadLetters().print(out);
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
        out.println("  child process logs: " + workDir);
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
    private int relayKafkaBrokerPort;
    private int consumerKafkaBrokerPort;

    private TcpProxy link(String name) {
        return links.stream().filter(l -> l.name().equals(name)).findFirst().orElseThrow();
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
                    HikariDataSource billingPool = DemoRun.pool(billing, "fault-billing", 2);
                    Supervised relay = new Supervised("relay", g -> ChildJvm.start("relay-" + g,
                            "dev.outboxbridge.relay.RelayMain", List.of(), relayEnv, workDir.resolve("relay.log"), "512m"),
                            Duration.ofSeconds(1))) {
                String slot = relayEnv.get("OUTBOX_RELAY_SLOT_NAME");
                awaitSlot(shop, slot, workDir);
                List<Supervised> consumers = new ArrayList<>();
                DeadLetterOperator operator = options.workload().poisonRatio() > 0
                        ? DeadLetterOperator.start(billingPool, "billing", bootstrap, topic, Duration.ofMillis(500)) : null;
                try {
                    for (int i = 0; i < options.consumers(); i++) {
                        String name = "consumer-" + i;
                        consumers.add(new Supervised(name, g -> ChildJvm.start(name + "-" + g, ConsumerMain.class.getName(), List.of(),
                                consumerEnv, workDir.resolve(name + ".log"), "256m"), Duration.ofSeconds(1)));
                    }
                    Injector injector = new Injector(relay, consumers, broker, billingPool, faultPool, slot, billing.name(), shop.name());
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
                    HistoryChecker.Verdict verdict = HistoryChecker.check(workload.committed(), workload.rolledBack(),
                            bootstrap, topic, ns.topic(DemoRun.RELAY_DEAD_LETTER_TOPIC), ns.topic(DemoRun.DEAD_LETTER_TOPIC),
                            billingPool, DemoRun.EFFECTS_TABLE);
                    return new Report(verdict, injector.counts(), relay.unexpectedExits(),
                            consumers.stream().mapToInt(Supervised::unexpectedExits).sum(),
                            injector.recoveries(), workload.failedTransactions(), workload.indeterminateTransactions(),
                            Duration.ofNanos(System.nanoTime() - start));
                } finally {
                    if (operator != null) {
                        operator.close();
                    }
                    for (Supervised c : consumers) {
                        c.close();
                    }
                }
            } finally {
                RelayRole.dropQuietly(shop, relayRole);
            }
        }
    }

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

    /** Injects a random fault every minGap..maxGap and measures how long until effects flow again. */
    private final class Injector implements Runnable {
        final AtomicBoolean stop = new AtomicBoolean();
        private final Supervised relay;
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
        private final SplittableRandom random = new SplittableRandom(options.seed());

        Injector(Supervised relay, List<Supervised> consumers, Supervised broker, DataSource billing, DataSource shop, String slot,
                String billingDatabase, String shopDatabase) {
            this.shopDatabase = shopDatabase;
            this.relay = relay;
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
                    Fault fault = enabled.get(random.nextInt(enabled.size()));
                    long before = appliedEvents(billing);
                    long t0 = System.nanoTime();
                    switch (fault) {
                        case RELAY_KILL -> relay.kill(Duration.ofMillis(random.nextInt(1000)));
                        case RELAY_TERM -> relay.terminate();
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
                    }
                    counts.merge(fault, 1, Integer::sum);
                    out.printf("  fault %-13s (%,d effects applied before it)%n", fault, before);
                    long deadline = t0 + Duration.ofSeconds(120).toNanos();
                    while (!stop.get() && appliedEvents(billing) <= before && System.nanoTime() < deadline) {
                        Thread.sleep(50);
                    }
                    if (!stop.get()) {
                        recoveries.add((System.nanoTime() - t0) / 1_000_000);
                    }
                } catch (InterruptedException e) {
                    return;
                } catch (Exception e) {
                    out.println("  fault injection failed: " + e);
                }
            }
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

        List<Long> recoveries() {
            synchronized (recoveries) {
                return List.copyOf(recoveries);
            }
        }
    }
}
