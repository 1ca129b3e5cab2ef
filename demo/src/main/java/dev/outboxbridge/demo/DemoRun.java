package dev.outboxbridge.demo;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.demo.RelayProcesses.RelayProcess;
import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.inbox.InboxStats;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.testkit.KafkaServer;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import dev.outboxbridge.testsupport.RelayRole;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.sql.DataSource;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;

/**
 * One run of the whole path: a shop service writes orders and outbox events (some transactions
 * rolled back), the relay publishes them from the WAL, a billing service applies them through the
 * inbox, and the {@link HistoryChecker} verifies the guarantees over the full history.
 *
 * <p>The relays run as they are deployed: separate OS processes ({@code RelayMain}) on the same slot, a leader and,
 * with {@link Options#killLeaderMidway()}, a standby. The leader publishes and the consumer has its partitions before
 * the first event is written, so the latency shown is the product's, not a start-up backlog. Midway the leader gets a
 * {@code kill -9}; the standby takes over. Every two seconds a line shows what committed, what Kafka holds and the
 * commit-to-consume latency of that interval; the summary reports the steady-state latency apart from the events the
 * failover delayed.
 *
 * <p>Used by the demo command and by the end-to-end tests, on the testkit's servers.
 */
public final class DemoRun {

    /**
     * What to run.
     *
     * @param killLeaderMidway run a standby relay next to the leader, {@code kill -9} the leader once half the events
     *        committed, and let the standby take over
     * @param forceRedelivery at the end, replay the whole topic into the same inbox (every record must be a duplicate)
     * @param warmUp the first part of the writes whose latency is reported apart from the steady state: the JVMs compile
     *        the hot paths then
     */
    public record Options(Workload.Settings workload, int partitions, boolean killLeaderMidway, boolean forceRedelivery,
            Duration drainTimeout, Duration warmUp) {

        /** Options without a warm-up: every event outside the failover window counts as steady state. */
        public Options(Workload.Settings workload, int partitions, boolean killLeaderMidway, boolean forceRedelivery,
                Duration drainTimeout) {
            this(workload, partitions, killLeaderMidway, forceRedelivery, drainTimeout, Duration.ZERO);
        }
    }

    /**
     * The failover of a run, as seconds since the writers started.
     *
     * @param killedAt when the leader got its {@code kill -9}
     * @param takeoverAt when the standby reported itself the leader ({@code outbox_relay_leader} = 1): the lease expired
     *        and its engine starts
     * @param firstPublishAt when Kafka received the first record after the kill; null if nothing was left to publish
     * @param caughtUpAt when the consumer was back in step with the writers after that first record: it had applied every
     *        event committed one monitor tick (0.2 s) earlier; null if that never happened
     */
    public record Failover(String killed, String successor, Duration killedAt, Duration takeoverAt, Duration firstPublishAt,
            Duration caughtUpAt) {
    }

    /**
     * What happened.
     *
     * @param steadyLatency commit-to-consume latency of the events outside the warm-up and the failover window
     * @param warmUpLatency commit-to-consume latency of the events committed during the warm-up (outside the failover window)
     * @param failoverLatency commit-to-consume latency of the events the failover delayed: not yet consumed at the kill and
     *        committed before the backlog was caught up
     */
    public record Report(HistoryChecker.Verdict verdict, InboxStats consumer, long redeliveredDuplicates, Optional<Failover> failover,
            int eventsPerSecond, Duration warmUp, Histogram steadyLatency, Histogram warmUpLatency, Histogram failoverLatency,
            Duration elapsed, long deadLetteredKeysSkipped) {

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
            out.printf("  lost (must be 0)                 %,10d  %s%n", v.lost().size(), verdictText(v.lost()));
            out.printf("  phantoms (must be 0)             %,10d  %s%n", v.phantoms().size(), verdictText(v.phantoms()));
            out.printf("  order violations (must be 0)     %,10d  %s%n", v.orderViolations().size(), verdictText(v.orderViolations()));
            out.printf("  effects not exactly once (0)     %,10d  %s%n", v.effectViolations().size(), verdictText(v.effectViolations()));
            if (v.deadLetters().poison() + v.deadLetters().oversized() + v.deadLetters().relayDeadLetterRecords()
                    + v.deadLetters().consumerDeadLetterRecords() > 0) {
                v.deadLetters().print(out);
                out.printf("  keys redriven past a poison event %,9d  (SKIP_DEAD_LETTERED by the operator)%n", deadLetteredKeysSkipped);
            }
            out.printf("  writers                          %s%n", eventsPerSecond > 0
                    ? String.format("paced at %,d events/s", eventsPerSecond) : "flat out (no rate limit)");
            if (steadyLatency.getTotalCount() > 0) {
                out.printf("  commit -> consume latency (ms)   %s%n", percentiles(steadyLatency));
                String excluded = warmUpLatency.getTotalCount() > 0 && failover.isPresent() ? "the warm-up and the failover window"
                        : warmUpLatency.getTotalCount() > 0 ? "the warm-up" : failover.isPresent() ? "the failover window" : null;
                out.printf("                                   (%,d events%s)%n", steadyLatency.getTotalCount(),
                        excluded == null ? "" : ", steady state: " + excluded + " below excluded");
            } else if (warmUpLatency.getTotalCount() + failoverLatency.getTotalCount() > 0) {
                // Say why, rather than leave the line out: a short run (--events small, --rate high) can fall entirely
                // into the warm-up and the failover window.
                out.printf("  commit -> consume latency (ms)   no steady-state figure: all %,d events were committed in the"
                        + " warm-up (first %d s) or the failover window; run longer (--events) or shorten --warm-up%n",
                        warmUpLatency.getTotalCount() + failoverLatency.getTotalCount(), warmUp.toSeconds());
            }
            if (warmUpLatency.getTotalCount() > 0) {
                out.printf("  latency in the warm-up           %s%n", percentiles(warmUpLatency));
                out.printf("                                   (%,d events committed in the first %d s of writes)%n",
                        warmUpLatency.getTotalCount(), warmUp.toSeconds());
            }
            failover.ifPresent(f -> {
                out.printf("  relay failover                   %s killed (kill -9) at %.1f s; %s leader %.1f s later%n",
                        f.killed(), seconds(f.killedAt()), f.successor(), seconds(f.takeoverAt().minus(f.killedAt())));
                if (f.firstPublishAt() != null) {
                    out.printf("                                   first record published again %.1f s after the kill%n",
                            seconds(f.firstPublishAt().minus(f.killedAt())));
                }
                if (f.caughtUpAt() != null) {
                    out.printf("                                   backlog caught up %.1f s after the kill%n",
                            seconds(f.caughtUpAt().minus(f.killedAt())));
                }
                if (failoverLatency.getTotalCount() > 0) {
                    out.printf("  latency in the failover window   %s%n", percentiles(failoverLatency));
                    out.printf("                                   (%,d events: unconsumed at the kill, committed before the catch-up)%n",
                            failoverLatency.getTotalCount());
                }
            });
            out.printf("  elapsed                          %.1f s%n", elapsed.toMillis() / 1000.0);
            out.println("  verdict: " + (ok() ? "OK: nothing lost, nothing invented, order kept, every effect applied once"
                    : "VIOLATION"));
            out.println("==============================================================");
        }

        private static String percentiles(Histogram h) {
            return String.format("p50 %d, p90 %d, p99 %d, p99.9 %d, max %d", h.getValueAtPercentile(50), h.getValueAtPercentile(90),
                    h.getValueAtPercentile(99), h.getValueAtPercentile(99.9), h.getMaxValue());
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
    /** How long a relay process may take to lead (or to stand by), and the consumer to get its partitions. */
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(120);
    private static final long TICK_MILLIS = 200;
    /** A progress line every this many ticks. */
    private static final int TICKS_PER_LINE = 10;
    private static final long MAX_LATENCY_MILLIS = 3_600_000L;

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

    /**
     * Where a run against a deployed stack (the {@code docker-compose.yml} workload) finds its parts: the shop database
     * with the outbox migrations applied, the billing database with the inbox migrations applied, the broker, the topic
     * prefix the relays publish with, and the relays' operations endpoints by name. Nothing is created per run but the
     * two services' own tables and the topics, so the stack must be fresh (the topics must not exist yet).
     */
    public record External(String shopJdbcUrl, String billingJdbcUrl, String user, String password, String bootstrapServers,
            String topicPrefix, Map<String, URI> relays) {
    }

    /**
     * One run against a deployed stack: the relays run elsewhere (they are watched through their {@code /metrics}, never
     * started or killed from here, so {@link Options#killLeaderMidway()} must be false: whoever runs the stack kills a
     * relay), the databases and the broker exist. Checks the same guarantees as {@link #run()}.
     */
    public Report runExternal(External external) throws Exception {
        if (options.killLeaderMidway()) {
            throw new IllegalArgumentException("With external relays the demo cannot kill the leader; run with --no-kill-relay"
                    + " and kill a relay container from outside (docker/compose-check.sh --kill-leader does)");
        }
        long start = System.nanoTime();
        String topicPrefix = external.topicPrefix();
        String topic = topicPrefix + Workload.AGGREGATE_TYPE;
        Topics topics = new Topics(external.bootstrapServers(), "");
        try (HikariDataSource shopPool = pool(external.shopJdbcUrl(), external.user(), external.password(), "shop",
                        options.workload().writers());
                HikariDataSource billingPool = pool(external.billingJdbcUrl(), external.user(), external.password(), "billing", 4);
                RelayProcesses relays = RelayProcesses.external(external.relays());
                Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, external.bootstrapServers()))) {
            Workload.createSchema(shopPool);
            createBillingSchema(billingPool);
            createFreshTopics(admin, Map.of(topic, options.partitions(), topics.topic(DEAD_LETTER_TOPIC), 1,
                    topics.topic(RELAY_DEAD_LETTER_TOPIC), 1));
            return run(topics, shopPool, billingPool, topicPrefix, topic, relays, admin, "their containers (docker-compose logs)",
                    start);
        }
    }

    /** Creates the topics of an external run; they must not exist yet: records of an earlier run would fail the checks. */
    private static void createFreshTopics(Admin admin, Map<String, Integer> partitions) throws Exception {
        Set<String> existing = admin.listTopics().names().get(60, TimeUnit.SECONDS);
        List<String> clash = partitions.keySet().stream().filter(existing::contains).sorted().toList();
        if (!clash.isEmpty()) {
            throw new IllegalStateException("The topics " + clash + " exist already: they hold records of an earlier run, which the"
                    + " checks would count as phantoms. Fix: start from a fresh stack (docker-compose down -v, then up).");
        }
        List<NewTopic> topics = new ArrayList<>();
        // the broker's default replication factor
        partitions.forEach((name, count) -> topics.add(new NewTopic(name, Optional.of(count), Optional.empty())));
        admin.createTopics(topics).all().get(60, TimeUnit.SECONDS);
    }

    public static HikariDataSource pool(TestDatabase db, String name, int size) {
        return pool(db.jdbcUrl(), db.user(), db.password(), name, size);
    }

    public static HikariDataSource pool(String jdbcUrl, String user, String password, String name, int size) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(jdbcUrl);
        config.setUsername(user);
        config.setPassword(password);
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
        try (RelayProcesses relays = new RelayProcesses(workDir, settings);
                Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, ns.bootstrapServers()))) {
            return run(new Topics(ns.bootstrapServers(), ns.prefix()), shopPool, billingPool, topicPrefix, topic, relays, admin,
                    workDir.toString(), start);
        } finally {
            RelayRole.dropQuietly(shop, role); // after the relays stopped
        }
    }

    private Report run(Topics ns, DataSource shopPool, DataSource billingPool, String topicPrefix,
            String topic, RelayProcesses relays, Admin admin, String relayLogs, long start) throws Exception {
        Clock clock = Clock.systemUTC();
        Latency latency = new Latency();
        out.println("  relay processes log to " + relayLogs);
        if (!relays.isExternal()) {
            RelayProcess leader = relays.start("relay-0");
            relays.await(leader, RelayProcesses.LEADER_GAUGE, READY_TIMEOUT);
            out.printf("  relay-0 (pid %d) leads and publishes (%.1f s after the start)%n", leader.process().pid(), secondsSince(start));
            if (options.killLeaderMidway()) {
                RelayProcess standby = relays.start("relay-1");
                relays.await(standby, RelayProcesses.STANDBY_GAUGE, READY_TIMEOUT);
                out.printf("  relay-1 (pid %d) stands by on the same slot%n", standby.process().pid());
            }
        } else {
            awaitExternalRelays(relays, start);
        }
        String groupId = ns.prefix() + "billing";
        InboxConsumer consumer = billingConsumer(billingPool, ns, topic, "billing", groupId, latency, clock);
        InboxStats stats;
        long redelivered = 0;
        Workload workload;
        Monitor monitor;
        DeadLetterOperator operator = null;
        try {
            consumer.start();
            awaitAssignment(admin, groupId, options.partitions());
            out.println("  billing consumer has its " + options.partitions() + " partitions");
            if (options.workload().poisonRatio() > 0) {
                operator = DeadLetterOperator.start(billingPool, "billing", ns.bootstrapServers(), topic, Duration.ofMillis(200));
            }
            Workload.Settings w = options.workload();
            out.printf("Writing %,d events over %,d orders (%d writers, transactions of 1-%d events, %.0f%% rolled back), %s%s:%n",
                    w.events(), w.aggregates(), w.writers(), w.maxTransactionSize(), w.rollbackRatio() * 100,
                    w.eventsPerSecond() > 0 ? String.format("%,d events/s", w.eventsPerSecond()) : "flat out",
                    options.killLeaderMidway() ? "; the leader gets a kill -9 halfway" : "");
            if (!options.warmUp().isZero()) {
                out.printf("  (the summary reports the latency of the first %d s, the warm-up, apart)%n", options.warmUp().toSeconds());
            }
            workload = new Workload(shopPool, Outbox.create(OutboxConfig.builder().topicPrefix(topicPrefix).build()), w);
            List<TopicPartition> published = new ArrayList<>();
            for (int p = 0; p < options.partitions(); p++) {
                published.add(new TopicPartition(topic, p));
            }
            published.add(new TopicPartition(ns.topic(RELAY_DEAD_LETTER_TOPIC), 0));
            monitor = new Monitor(workload, consumer, relays, admin, published, latency, clock);
            ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> new Thread(r, "demo-monitor"));
            try {
                out.println("       time   committed    in Kafka    consumed   commit->consume, last 2 s");
                latency.warmUpEndMillis = clock.millis() + options.warmUp().toMillis();
                ticker.scheduleAtFixedRate(monitor::tick, TICK_MILLIS, TICK_MILLIS, TimeUnit.MILLISECONDS);
                workload.run(committed -> {
                });
                monitor.expectedEffects = workload.expectedEffects();
                awaitDrain(consumer, workload.expectedEffects(), relays, monitor);
                awaitDeadLetters(billingPool, workload.committedCount(Workload.Kind.POISON), ns.bootstrapServers(),
                        ns.topic(RELAY_DEAD_LETTER_TOPIC), workload.committedCount(Workload.Kind.OVERSIZED), options.drainTimeout(), out);
            } finally {
                ticker.shutdownNow();
                ticker.awaitTermination(10, TimeUnit.SECONDS);
            }
            if (options.forceRedelivery()) {
                redelivered = redeliverEverything(billingPool, ns, topic, clock);
            }
            stats = consumer.stats();
        } finally {
            if (operator != null) {
                operator.close();
            }
            consumer.close();
        }
        HistoryChecker.Verdict verdict = HistoryChecker.check(workload.committed(), workload.rolledBack(), ns.bootstrapServers(),
                topic, ns.topic(RELAY_DEAD_LETTER_TOPIC), ns.topic(DEAD_LETTER_TOPIC), billingPool, EFFECTS_TABLE);
        return new Report(verdict, stats, redelivered, monitor.failover(), options.workload().eventsPerSecond(), options.warmUp(),
                latency.steady, latency.warmUp, latency.failover, Duration.ofNanos(System.nanoTime() - start), operator == null ? 0 : operator.skipped());
    }

    /**
     * External relays (the compose stack's): waits until one of them leads, then until each of the others stands by on
     * the same slot.
     */
    private void awaitExternalRelays(RelayProcesses relays, long start) throws InterruptedException {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        Optional<RelayProcess> leader;
        while ((leader = relays.leader()).isEmpty()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("None of the relays " + relays.all().stream().map(RelayProcess::operations).toList()
                        + " reported " + RelayProcesses.LEADER_GAUGE + " = 1 within " + READY_TIMEOUT.toSeconds()
                        + " s; see their logs (docker-compose logs)");
            }
            Thread.sleep(100);
        }
        out.printf("  %s (%s) leads and publishes (%.1f s after the start)%n", leader.get().name(), leader.get().where(),
                secondsSince(start));
        for (RelayProcess relay : relays.all()) {
            if (!relay.equals(leader.get())) {
                relays.await(relay, RelayProcesses.STANDBY_GAUGE, Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
                out.printf("  %s (%s) stands by on the same slot%n", relay.name(), relay.where());
            }
        }
    }

    /** The Kafka side of a run: the broker and the prefix of the run's topic names. */
    private record Topics(String bootstrapServers, String prefix) {

        String topic(String base) {
            return prefix + base;
        }
    }

    /**
     * Commit-to-consume latency, split in three: the events the failover delayed (consumed after the kill and committed
     * before the backlog was caught up), the others committed during the warm-up, and the rest, the steady state; plus an
     * interval recorder for the live lines.
     */
    private static final class Latency {
        final Histogram steady = new ConcurrentHistogram(MAX_LATENCY_MILLIS, 3);
        final Histogram failover = new ConcurrentHistogram(MAX_LATENCY_MILLIS, 3);
        final Histogram warmUp = new ConcurrentHistogram(MAX_LATENCY_MILLIS, 3);
        final Recorder interval = new Recorder(MAX_LATENCY_MILLIS, 3);
        final Set<UUID> consumed = ConcurrentHashMap.newKeySet();
        volatile long killedAtMillis = Long.MAX_VALUE;
        volatile long caughtUpAtMillis = Long.MAX_VALUE;
        volatile long warmUpEndMillis = Long.MIN_VALUE;

        void record(UUID id, long committedAtMillis, long nowMillis) {
            long millis = Math.min(MAX_LATENCY_MILLIS, Math.max(0, nowMillis - committedAtMillis));
            interval.recordValue(millis);
            (nowMillis >= killedAtMillis && committedAtMillis <= caughtUpAtMillis ? failover
                    : committedAtMillis < warmUpEndMillis ? warmUp : steady).recordValue(millis);
            consumed.add(id);
        }
    }

    /**
     * Runs every {@link #TICK_MILLIS} on the demo's monitor thread: kills the leader once half the events committed,
     * notices the takeover and the catch-up, and prints a progress line every {@link #TICKS_PER_LINE} ticks.
     */
    private final class Monitor {
        private final Workload workload;
        private final InboxConsumer consumer;
        private final RelayProcesses relays;
        private final Admin admin;
        private final List<TopicPartition> published;
        private final Latency latency;
        private final Clock clock;
        private final long startNanos = System.nanoTime();
        private int ticks;
        private String leaderName = "?";
        private volatile RelayProcess killed;
        private volatile long killedAtNanos;
        private volatile String successor;
        private volatile long takeoverAtNanos;
        private long publishedAtKill;
        private volatile long firstPublishAtNanos;
        private volatile long caughtUpAtNanos;
        private Set<UUID> pendingAtTakeover;
        /** Set once the writers are done: what the consumer applies when everything is drained. */
        volatile long expectedEffects = Long.MAX_VALUE;
        private volatile boolean settled;
        private volatile boolean broken;

        Monitor(Workload workload, InboxConsumer consumer, RelayProcesses relays, Admin admin, List<TopicPartition> published,
                Latency latency, Clock clock) {
            this.workload = workload;
            this.consumer = consumer;
            this.relays = relays;
            this.admin = admin;
            this.published = published;
            this.latency = latency;
            this.clock = clock;
        }

        void tick() {
            if (broken) {
                return;
            }
            try {
                ticks++;
                watchFailover();
                settled = !options.killLeaderMidway() || caughtUpAtNanos != 0
                        || successor != null && consumer.stats().processed() >= expectedEffects
                                && (publishedAtKill < 0 // Kafka did not answer at the kill: no first record to wait for
                                        || firstPublishAtNanos == 0 && publishedRecords() <= publishedAtKill); // nothing left
                if (ticks % TICKS_PER_LINE == 0) {
                    line();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                broken = true;
                out.println("  the demo's monitor failed, no more progress lines: " + e);
            }
        }

        private void watchFailover() throws InterruptedException {
            if (!options.killLeaderMidway()) {
                return;
            }
            if (killed == null) {
                if (workload.committedCount() >= options.workload().events() / 2) {
                    Optional<RelayProcess> leader = relays.leader();
                    if (leader.isPresent()) {
                        line();
                        publishedAtKill = publishedRecords();
                        latency.killedAtMillis = clock.millis();
                        killedAtNanos = System.nanoTime();
                        relays.kill(leader.get());
                        killed = leader.get();
                        out.printf("  -- %5.1f s  kill -9 %s (%s), the leader, mid-stream --%n", at(killedAtNanos),
                                killed.name(), killed.where());
                    }
                }
            } else if (successor == null) {
                Optional<RelayProcess> leader = relays.leader();
                if (leader.isPresent()) {
                    takeoverAtNanos = System.nanoTime();
                    successor = leader.get().name();
                    out.printf("  -- %5.1f s  %s leads: the lease expired %.1f s after the kill; its engine starts --%n",
                            at(takeoverAtNanos), successor, (takeoverAtNanos - killedAtNanos) / 1e9);
                }
            } else if (firstPublishAtNanos == 0) {
                if (publishedAtKill >= 0 && publishedRecords() > publishedAtKill) {
                    // the backlog of the failover: the window closes once the consumer is back in step with the writers
                    Set<UUID> pending = ConcurrentHashMap.newKeySet();
                    workload.committed().stream().filter(e -> e.kind() == Workload.Kind.NORMAL).forEach(e -> pending.add(e.id()));
                    pendingAtTakeover = pending;
                    firstPublishAtNanos = System.nanoTime();
                    out.printf("  -- %5.1f s  %s publishes: first record %.1f s after the kill --%n", at(firstPublishAtNanos),
                            successor, (firstPublishAtNanos - killedAtNanos) / 1e9);
                }
            } else if (caughtUpAtNanos == 0) {
                pendingAtTakeover.removeIf(latency.consumed::contains);
                if (!pendingAtTakeover.isEmpty()) {
                    // not yet: by the next tick, every event committed until now must have been applied
                    workload.committed().stream().filter(e -> e.kind() == Workload.Kind.NORMAL && !latency.consumed.contains(e.id()))
                            .forEach(e -> pendingAtTakeover.add(e.id()));
                } else {
                    latency.caughtUpAtMillis = clock.millis();
                    caughtUpAtNanos = System.nanoTime();
                    out.printf("  -- %5.1f s  backlog caught up %.1f s after the kill: the consumer is in step with the writers again --%n",
                            at(caughtUpAtNanos), (caughtUpAtNanos - killedAtNanos) / 1e9);
                }
            }
        }

        private void line() {
            Histogram h = latency.interval.getIntervalHistogram();
            String figures = h.getTotalCount() == 0 ? "-"
                    : String.format("p50 %,6d ms  p99 %,6d ms", h.getValueAtPercentile(50), h.getValueAtPercentile(99));
            if (ticks % TICKS_PER_LINE == 0) {
                leaderName = relays.leader().map(RelayProcess::name).orElse("none: failover");
            }
            long records = publishedRecords();
            out.printf("    %5.1f s  %,10d  %10s  %,10d   %s  (leader %s)%n", at(System.nanoTime()), workload.committedCount(),
                    records < 0 ? "?" : String.format("%,d", records), consumer.stats().processed(), figures, leaderName);
        }

        /** Records in the topic and the relay's dead-letter topic (end offsets), or -1 when Kafka does not answer in time. */
        private long publishedRecords() {
            try {
                Map<TopicPartition, OffsetSpec> request = new HashMap<>();
                published.forEach(tp -> request.put(tp, OffsetSpec.latest()));
                long sum = 0;
                for (var offsets : admin.listOffsets(request).all().get(1, TimeUnit.SECONDS).values()) {
                    sum += offsets.offset();
                }
                return sum;
            } catch (Exception e) {
                if (e instanceof InterruptedException) {
                    Thread.currentThread().interrupt();
                }
                return -1;
            }
        }

        private double at(long nanos) {
            return (nanos - startNanos) / 1e9;
        }

        /**
         * Whether the run is past the failover (or has none): the leader was killed, the standby took over and the backlog
         * was caught up (or nothing was left to publish); true as well once the monitor failed, so a drain cannot hang on it.
         */
        boolean failoverDone() {
            return settled || broken;
        }

        Optional<Failover> failover() {
            if (killed == null || successor == null) {
                return Optional.empty();
            }
            return Optional.of(new Failover(killed.name(), successor, Duration.ofNanos(killedAtNanos - startNanos),
                    Duration.ofNanos(takeoverAtNanos - startNanos),
                    firstPublishAtNanos == 0 ? null : Duration.ofNanos(firstPublishAtNanos - startNanos),
                    caughtUpAtNanos == 0 ? null : Duration.ofNanos(caughtUpAtNanos - startNanos)));
        }
    }

    private static double secondsSince(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e9;
    }

    private static double seconds(Duration d) {
        return d.toMillis() / 1000.0;
    }

    /** Waits until the group's members hold all {@code partitions} partitions, so the first event is consumed at once. */
    private static void awaitAssignment(Admin admin, String groupId, int partitions) throws Exception {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        while (true) {
            int assigned;
            try {
                ConsumerGroupDescription group = admin.describeConsumerGroups(List.of(groupId)).all().get(30, TimeUnit.SECONDS)
                        .get(groupId);
                assigned = group == null ? 0
                        : group.members().stream().mapToInt(m -> m.assignment().topicPartitions().size()).sum();
            } catch (TimeoutException e) {
                // one slow answer (a loaded machine, the group coordinator still loading its topic): ask again until the deadline
                assigned = 0;
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof GroupIdNotFoundException)) {
                    throw e;
                }
                // the consumer has not joined yet (newer brokers answer an unknown group with this error): ask again
                assigned = 0;
            }
            if (assigned >= partitions) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("The billing consumer did not get its " + partitions + " partitions within "
                        + READY_TIMEOUT.toSeconds() + " s (group " + groupId + ": " + assigned + " assigned)");
            }
            Thread.sleep(100);
        }
    }

    /** Waits until the consumer applied {@code expected} events and the failover (if any) happened; bounded by the drain timeout. */
    private void awaitDrain(InboxConsumer consumer, long expected, RelayProcesses relays, Monitor monitor) throws InterruptedException {
        long deadline = System.nanoTime() + options.drainTimeout().toNanos();
        while (consumer.stats().processed() < expected || !monitor.failoverDone()) {
            if (!relays.anyAlive()) {
                throw new IllegalStateException("No relay process is running; see their logs in the directory printed above");
            }
            if (consumer.state() == InboxConsumer.State.FAILED) {
                throw new IllegalStateException("The consumer failed: " + consumer.failure().map(Throwable::getMessage).orElse("?"));
            }
            if (System.nanoTime() > deadline) {
                out.printf("  drain timed out after %s: %,d of %,d consumed%s; checking what is there%n", options.drainTimeout(),
                        consumer.stats().processed(), expected, monitor.failoverDone() ? "" : ", the failover not over");
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
    private long redeliverEverything(DataSource billing, Topics ns, String topic, Clock clock) throws InterruptedException {
        out.println("  -- forcing redelivery: replaying the topic from the start into the same inbox --");
        long records = HistoryChecker.readTopic(ns.bootstrapServers(), topic).size();
        try (InboxConsumer replay = billingConsumer(billing, ns, topic, "billing", ns.prefix() + "billing-replay", new Latency(),
                clock)) {
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

    private static InboxConsumer billingConsumer(DataSource billing, Topics ns, String topic, String consumerName, String groupId,
            Latency latency, Clock clock) {
        Map<String, Object> kafkaProps = new HashMap<>();
        kafkaProps.put("bootstrap.servers", ns.bootstrapServers());
        kafkaProps.put("group.id", groupId);
        kafkaProps.put("auto.offset.reset", "earliest");
        InboxHandler handler = (event, tx) -> {
            applyToLedger(event, tx);
            latency.record(event.id(), event.committedAt().toEpochMilli(), clock.millis());
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
        createBillingSchema(billing.dataSource());
    }

    /** The billing service's tables in {@code billing}, a database with the inbox migrations applied. */
    public static void createBillingSchema(DataSource billing) throws SQLException {
        try (Connection c = billing.getConnection(); Statement s = c.createStatement()) {
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
