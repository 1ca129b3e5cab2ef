package dev.outboxbridge.demo;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.inbox.InboxStats;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.testkit.KafkaServer;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import dev.outboxbridge.testsupport.RelayRole;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;

/**
 * One run of the whole path: a shop service writes orders and outbox events (some transactions
 * rolled back), the relay publishes them from the WAL, a billing service applies them through the
 * inbox, and the {@link HistoryChecker} verifies the guarantees over the full history.
 *
 * <p>Used by the demo command and by the end-to-end tests, on the testkit's servers.
 */
public final class DemoRun {

    /** What to run. */
    public record Options(Workload.Settings workload, int partitions, boolean restartRelayMidway, boolean forceRedelivery,
            Duration drainTimeout) {
    }

    /** What happened. */
    public record Report(HistoryChecker.Verdict verdict, InboxStats consumer, long redeliveredDuplicates, long relayRestarts,
            Histogram commitToConsumeMillis, Duration elapsed, long deadLetteredKeysSkipped) {

        public boolean ok() {
            return verdict.ok();
        }

        public void print(PrintStream out) {
            HistoryChecker.Verdict v = verdict;
            out.println();
            out.println("================ Outbox Bridge demo: summary ================");
            out.printf("  committed events                 %,10d%n", v.committed());
            out.printf("  rolled-back events (not sent)    %,10d%n", v.rolledBack());
            out.printf("  published records in Kafka       %,10d  (duplicates %,d)%n", v.kafkaRecords(), v.kafkaDuplicates());
            out.printf("  consumed and applied             %,10d%n", consumer.processed());
            out.printf("  duplicates suppressed by inbox   %,10d%n", consumer.duplicates() + redeliveredDuplicates);
            out.printf("  relay restarts during the run    %,10d%n", relayRestarts);
            out.printf("  lost (must be 0)                 %,10d  %s%n", v.lost().size(), verdictText(v.lost()));
            out.printf("  phantoms (must be 0)             %,10d  %s%n", v.phantoms().size(), verdictText(v.phantoms()));
            out.printf("  order violations (must be 0)     %,10d  %s%n", v.orderViolations().size(), verdictText(v.orderViolations()));
            out.printf("  effects not exactly once (0)     %,10d  %s%n", v.effectViolations().size(), verdictText(v.effectViolations()));
            if (v.deadLetters().poison() + v.deadLetters().oversized() + v.deadLetters().relayDeadLetterRecords()
                    + v.deadLetters().consumerDeadLetterRecords() > 0) {
                v.deadLetters().print(out);
                out.printf("  keys redriven past a poison event %,9d  (SKIP_DEAD_LETTERED by the operator)%n", deadLetteredKeysSkipped);
            }
            Histogram h = commitToConsumeMillis;
            if (h.getTotalCount() > 0) {
                out.printf("  commit -> consume latency (ms)   p50 %d, p90 %d, p99 %d, p99.9 %d, max %d (%,d events)%n",
                        h.getValueAtPercentile(50), h.getValueAtPercentile(90), h.getValueAtPercentile(99),
                        h.getValueAtPercentile(99.9), h.getMaxValue(), h.getTotalCount());
            }
            out.printf("  elapsed                          %.1f s%n", elapsed.toMillis() / 1000.0);
            out.println("  verdict: " + (ok() ? "OK: nothing lost, nothing invented, order kept, every effect applied once"
                    : "VIOLATION"));
            out.println("==============================================================");
        }

        private static String verdictText(List<String> examples) {
            return examples.isEmpty() ? "" : examples.toString();
        }
    }

    public static final String EFFECTS_TABLE = "billing_ledger";
    /** The billing consumer's dead-letter topic (within the run's topic namespace). */
    public static final String DEAD_LETTER_TOPIC = "billing.dlt";
    /** The relay's dead-letter topic (within the run's topic namespace), for records Kafka refuses for good. */
    public static final String RELAY_DEAD_LETTER_TOPIC = "relay.dlt";
    /**
     * The topic's max.message.bytes in a run with oversized events: well above the producer's batches of normal
     * events (batch.size 16 KiB) and below {@link Workload#OVERSIZED_PAYLOAD_BYTES}.
     */
    public static final int TOPIC_MAX_MESSAGE_BYTES = 64 * 1024;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final PostgresServer postgres;
    private final KafkaServer kafka;
    private final Options options;
    private final PrintStream out;

    public DemoRun(PostgresServer postgres, KafkaServer kafka, Options options, PrintStream out) {
        this.postgres = postgres;
        this.kafka = kafka;
        this.options = options;
        this.out = out;
    }

    public Report run() throws Exception {
        long start = System.nanoTime();
        Path workDir = Files.createTempDirectory("outbox-demo");
        try (TestDatabase shop = postgres.createDatabase("demo_shop").migrateOutbox();
                TestDatabase billing = postgres.createDatabase("demo_billing").migrateInbox();
                TestKafka ns = kafka.newNamespace("demo")) {
            Workload.createSchema(shop.dataSource());
            createBillingSchema(billing);
            try (HikariDataSource shopPool = pool(shop, "shop", options.workload().writers());
                    HikariDataSource billingPool = pool(billing, "billing", 4)) {
                return run(shop, billing, ns, shopPool, billingPool, workDir, start);
            }
        }
    }

    public static HikariDataSource pool(TestDatabase db, String name, int size) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(db.jdbcUrl());
        config.setUsername(db.user());
        config.setPassword(db.password());
        config.setMaximumPoolSize(size);
        config.setMinimumIdle(1);
        config.setPoolName("demo-" + name);
        config.addDataSourceProperty("ApplicationName", "demo-" + name);
        return new HikariDataSource(config);
    }

    private Report run(TestDatabase shop, TestDatabase billing, TestKafka ns, DataSource shopPool, DataSource billingPool, Path workDir,
            long start) throws Exception {
        String topicPrefix = ns.prefix() + OutboxConfig.DEFAULT_TOPIC_PREFIX;
        String topic = topicPrefix + Workload.AGGREGATE_TYPE;
        ns.createTopic(topic, options.partitions());
        ns.createTopic(ns.topic(DEAD_LETTER_TOPIC), 1);
        ns.createTopic(ns.topic(RELAY_DEAD_LETTER_TOPIC), 1);
        Map<String, String> settings = relaySettings(shop, ns.bootstrapServers(), topicPrefix, workDir);
        prepareForBadEvents(ns.bootstrapServers(), options.workload(), topic, ns.topic(RELAY_DEAD_LETTER_TOPIC), settings);
        String role = RelayRole.provision(shop, settings); // the relay runs with the least-privilege role of the docs
        try {
            return run(shop, billing, ns, shopPool, billingPool, topicPrefix, topic, RelayConfig.of(settings), start);
        } finally {
            RelayRole.dropQuietly(shop, role);
        }
    }

    private Report run(TestDatabase shop, TestDatabase billing, TestKafka ns, DataSource shopPool, DataSource billingPool,
            String topicPrefix, String topic, RelayConfig relayConfig, long start) throws Exception {
        Histogram latency = new ConcurrentHistogram(3_600_000L, 3);
        Clock clock = Clock.systemUTC();
        AtomicReference<Relay> relay = new AtomicReference<>(Relay.create(relayConfig));
        relay.get().start();
        long restarts = 0;
        AtomicLong publishedBefore = new AtomicLong();
        InboxConsumer consumer = billingConsumer(billingPool, ns, topic, "billing", "billing", latency, clock);
        consumer.start();
        InboxStats stats;
        long redelivered = 0;
        Workload workload;
        DeadLetterOperator operator = options.workload().poisonRatio() > 0
                ? DeadLetterOperator.start(billingPool, "billing", ns.bootstrapServers(), topic, Duration.ofMillis(200)) : null;
        try {
            workload = new Workload(shopPool, Outbox.create(OutboxConfig.builder().topicPrefix(topicPrefix).build()),
                    options.workload());
            ScheduledExecutorService progress = Executors.newSingleThreadScheduledExecutor(r -> new Thread(r, "demo-progress"));
            progress.scheduleAtFixedRate(() -> out.printf("  committed %,8d | published %,8d | consumed %,8d | duplicates suppressed %,6d%n",
                    workload.committedCount(), publishedBefore.get() + relay.get().publishedCount(), consumer.stats().processed(),
                    consumer.stats().duplicates()), 1, 1, TimeUnit.SECONDS);
            try {
                AtomicBoolean restarted = new AtomicBoolean();
                AtomicReference<Exception> restartFailure = new AtomicReference<>();
                workload.run(committed -> {
                    if (options.restartRelayMidway() && committed >= options.workload().events() / 2 && restarted.compareAndSet(false, true)) {
                        // stop it while it publishes (it leads one lease, ha.lease.ms, after its start), so the new one resumes
                        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                        while (relay.get().publishedCount() == 0 && relay.get().state() != Relay.State.FAILED
                                && System.nanoTime() < deadline) {
                            try {
                                Thread.sleep(50);
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                                return;
                            }
                        }
                        out.println("  -- stopping the relay mid-stream and starting a new one --");
                        relay.get().close();
                        publishedBefore.addAndGet(relay.get().publishedCount());
                        Relay next = Relay.create(relayConfig);
                        try {
                            next.start();
                        } catch (RuntimeException e) {
                            restartFailure.set(e);
                        }
                        relay.set(next);
                    }
                });
                if (restartFailure.get() != null) {
                    throw restartFailure.get();
                }
                restarts = restarted.get() ? 1 : 0;
                awaitDrain(consumer, workload.expectedEffects(), relay.get());
                awaitDeadLetters(billingPool, workload.committedCount(Workload.Kind.POISON), ns.bootstrapServers(),
                        ns.topic(RELAY_DEAD_LETTER_TOPIC), workload.committedCount(Workload.Kind.OVERSIZED), options.drainTimeout(), out);
            } finally {
                progress.shutdownNow();
            }
            if (options.forceRedelivery()) {
                redelivered = redeliverEverything(billingPool, ns, topic, latency, clock);
            }
            stats = consumer.stats();
        } finally {
            if (operator != null) {
                operator.close();
            }
            consumer.close();
            relay.get().close();
        }
        HistoryChecker.Verdict verdict = HistoryChecker.check(workload.committed(), workload.rolledBack(), ns.bootstrapServers(),
                topic, ns.topic(RELAY_DEAD_LETTER_TOPIC), ns.topic(DEAD_LETTER_TOPIC), billingPool, EFFECTS_TABLE);
        return new Report(verdict, stats, redelivered, restarts, latency, Duration.ofNanos(System.nanoTime() - start),
                operator == null ? 0 : operator.skipped());
    }

    private void awaitDrain(InboxConsumer consumer, long expected, Relay relay) throws InterruptedException {
        long deadline = System.nanoTime() + options.drainTimeout().toNanos();
        while (consumer.stats().processed() < expected) {
            if (relay.state() == Relay.State.FAILED) {
                throw new IllegalStateException("The relay failed: " + relay.failure().map(Throwable::getMessage).orElse("?"));
            }
            if (consumer.state() == InboxConsumer.State.FAILED) {
                throw new IllegalStateException("The consumer failed: " + consumer.failure().map(Throwable::getMessage).orElse("?"));
            }
            if (System.nanoTime() > deadline) {
                out.printf("  drain timed out after %s: %,d of %,d consumed; checking what is there%n", options.drainTimeout(),
                        consumer.stats().processed(), expected);
                return;
            }
            Thread.sleep(100);
        }
    }

    /**
     * For a workload with oversized events: lowers the topic's max.message.bytes to {@link #TOPIC_MAX_MESSAGE_BYTES}
     * (outbox-core accepts such events, Kafka refuses them) and has the relay divert what Kafka refuses to
     * {@code relayDeadLetterTopic} (which must exist) instead of stopping. Call before the relay starts: it reads the
     * topic's limit once. Does nothing for a workload without oversized events.
     */
    public static void prepareForBadEvents(String bootstrapServers, Workload.Settings workload, String topic,
            String relayDeadLetterTopic, Map<String, String> relaySettings) throws Exception {
        if (workload.oversizedRatio() <= 0) {
            return;
        }
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers))) {
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            admin.incrementalAlterConfigs(Map.of(resource, List.of(new AlterConfigOp(
                            new ConfigEntry(TopicConfig.MAX_MESSAGE_BYTES_CONFIG, String.valueOf(TOPIC_MAX_MESSAGE_BYTES)),
                            AlterConfigOp.OpType.SET))))
                    .all().get(60, TimeUnit.SECONDS);
        }
        relaySettings.put(RelayConfig.DEAD_LETTER_TOPIC, relayDeadLetterTopic);
    }

    /**
     * After the effects drained: waits until the consumer has dead-lettered {@code poison} events (its inbox rows say
     * DEAD_LETTERED) and the relay's dead-letter topic holds {@code oversized} distinct events, so the checker sees
     * where every bad event went. Bounded by {@code timeout}; on timeout it says so and returns.
     */
    public static void awaitDeadLetters(DataSource billing, long poison, String bootstrapServers, String relayDeadLetterTopic,
            long oversized, Duration timeout, PrintStream out) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        long deadLettered = 0;
        long diverted = 0;
        while (true) {
            if (deadLettered < poison) {
                try (Connection c = billing.getConnection(); Statement s = c.createStatement();
                        var rs = s.executeQuery("SELECT count(*) FROM inbox_event WHERE status = 'DEAD_LETTERED'")) {
                    rs.next();
                    deadLettered = rs.getLong(1);
                }
            }
            if (diverted < oversized) {
                diverted = HistoryChecker.readTopic(bootstrapServers, relayDeadLetterTopic).stream()
                        .map(r -> r.headers().lastHeader(HistoryChecker.ID_HEADER))
                        .filter(h -> h != null).map(h -> new String(h.value(), StandardCharsets.UTF_8)).distinct().count();
            }
            if (deadLettered >= poison && diverted >= oversized) {
                return;
            }
            if (System.nanoTime() > deadline) {
                out.printf("  dead letters timed out after %s: consumer %,d of %,d poison, relay %,d of %,d oversized;"
                        + " checking what is there%n", timeout, deadLettered, poison, diverted, oversized);
                return;
            }
            Thread.sleep(500);
        }
    }

    /** Replays the whole topic through a second consumer with the same inbox name: every record must be a suppressed duplicate. */
    private long redeliverEverything(DataSource billing, TestKafka ns, String topic, Histogram latency, Clock clock)
            throws InterruptedException {
        out.println("  -- forcing redelivery: replaying the topic from the start into the same inbox --");
        long records = HistoryChecker.readTopic(ns.bootstrapServers(), topic).size();
        try (InboxConsumer replay = billingConsumer(billing, ns, topic, "billing", "billing-replay", latency, clock)) {
            replay.start();
            long deadline = System.nanoTime() + options.drainTimeout().toNanos();
            while (replay.stats().duplicates() + replay.stats().processed() < records && System.nanoTime() < deadline
                    && replay.state() == InboxConsumer.State.RUNNING) {
                Thread.sleep(100);
            }
            if (replay.stats().processed() > 0) {
                out.printf("  replay applied %,d events that the first consumer had not: they were not drained%n", replay.stats().processed());
            }
            return replay.stats().duplicates();
        }
    }

    private static InboxConsumer billingConsumer(DataSource billing, TestKafka ns, String topic, String consumerName, String groupId,
            Histogram latency, Clock clock) {
        Map<String, Object> kafkaProps = new HashMap<>();
        kafkaProps.put("bootstrap.servers", ns.bootstrapServers());
        kafkaProps.put("group.id", ns.prefix() + groupId);
        kafkaProps.put("auto.offset.reset", "earliest");
        InboxHandler handler = (event, tx) -> {
            applyToLedger(event, tx);
            latency.recordValue(Math.max(0, clock.millis() - event.committedAt().toEpochMilli()));
        };
        return InboxConsumer.builder()
                .consumerName(consumerName)
                .kafkaProperties(kafkaProps)
                .topics(List.of(topic))
                .dataSource(billing)
                .handler(handler)
                .deadLetterTopic(ns.topic(DEAD_LETTER_TOPIC))
                .clock(clock)
                .build();
    }

    /**
     * The billing service's side effect: not idempotent on purpose (a running total), so only the inbox keeps it right.
     * A payload that is not an order-change document can never be applied: it fails with a {@link FatalEventException},
     * so the consumer dead-letters it at once instead of retrying it.
     */
    public static void applyToLedger(InboxEvent event, Connection tx) throws Exception {
        JsonNode body;
        try {
            body = JSON.readTree(event.payload());
        } catch (JsonProcessingException e) {
            throw FatalEventException.undeserializable(event, e);
        }
        if (body == null || !body.path("amount").canConvertToLong() || !body.path("version").canConvertToInt()) {
            throw FatalEventException.undeserializable(event, new IllegalArgumentException(
                    "not an order change with a numeric amount and version"));
        }
        long amount = body.get("amount").asLong();
        try (PreparedStatement ledger = tx.prepareStatement(
                "INSERT INTO " + EFFECTS_TABLE + " (event_id, order_id, version, amount) VALUES (?, ?, ?, ?)");
                PreparedStatement balance = tx.prepareStatement(
                        "INSERT INTO billing_balance (order_id, total) VALUES (?, ?)"
                                + " ON CONFLICT (order_id) DO UPDATE SET total = billing_balance.total + excluded.total")) {
            ledger.setObject(1, event.id());
            ledger.setString(2, event.key());
            ledger.setInt(3, body.get("version").asInt());
            ledger.setLong(4, amount);
            ledger.executeUpdate();
            balance.setString(1, event.key());
            balance.setLong(2, amount);
            balance.executeUpdate();
        }
    }

    public static void createBillingSchema(TestDatabase billing) throws SQLException {
        try (Connection c = billing.connect(); Statement s = c.createStatement()) {
            // no unique constraint on event_id on purpose: the inbox alone must keep effects exactly once
            s.execute("CREATE TABLE " + EFFECTS_TABLE + " (event_id uuid NOT NULL, order_id text NOT NULL, version int NOT NULL,"
                    + " amount bigint NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
            s.execute("CREATE TABLE billing_balance (order_id text PRIMARY KEY, total bigint NOT NULL)");
        }
    }

    /**
     * Relay settings for a run; the position goes to the relay's default compacted Kafka topic
     * (keyed by database and slot), so {@code workDir} holds only logs.
     */
    public static Map<String, String> relaySettings(TestDatabase shop, String bootstrapServers, String topicPrefix, Path workDir) {
        Map<String, String> m = new HashMap<>();
        m.put(RelayConfig.NAME, "demo-relay");
        m.put(RelayConfig.DATABASE_HOSTNAME, shop.host());
        m.put(RelayConfig.DATABASE_PORT, String.valueOf(shop.port()));
        m.put(RelayConfig.DATABASE_DBNAME, shop.name());
        m.put(RelayConfig.DATABASE_USER, shop.user());
        m.put(RelayConfig.DATABASE_PASSWORD, shop.password() == null ? "" : shop.password());
        m.put(RelayConfig.SLOT_NAME, shop.uniqueName("slot"));
        m.put(RelayConfig.PUBLICATION_NAME, shop.uniqueName("pub"));
        m.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, bootstrapServers);
        m.put(RelayConfig.TOPIC_PREFIX, topicPrefix);
        return m;
    }
}
