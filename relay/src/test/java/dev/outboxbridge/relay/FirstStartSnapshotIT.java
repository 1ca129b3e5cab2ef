package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.db.OutboxBridgeMigrations;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import dev.outboxbridge.testsupport.ChildJvm;
import dev.outboxbridge.testsupport.FaultPoints;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A relay's first start publishes the rows already in the outbox table (first.start.snapshot), then the stream, against a
 * real PostgreSQL and Kafka. Every check reads the topic to its end offsets, so a duplicate is always seen.
 */
@ExtendWith(OutboxBridgeExtension.class)
class FirstStartSnapshotIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(120);
    private static final int AGGREGATES = 20;

    @TempDir
    Path dir;

    /** Writes events "aggregate:seq", numbering each aggregate's events in the order their transactions commit. */
    private static final class Writer {
        private final TestDatabase db;
        private final Outbox outbox;
        private final Map<String, Integer> next = new HashMap<>();
        private int written;

        Writer(TestDatabase db, TestKafka kafka) {
            this.db = db;
            this.outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
        }

        /** One transaction with an event for each aggregate given, in that order. */
        void transaction(String... aggregates) throws Exception {
            try (Connection c = db.connect()) {
                c.setAutoCommit(false);
                append(c, aggregates);
                c.commit();
            }
        }

        private void append(Connection c, String... aggregates) {
            List<OutboxEvent> events = new ArrayList<>();
            for (String a : aggregates) {
                events.add(OutboxEvent.of("order", a, "T", a + ":" + next.merge(a, 1, Integer::sum)));
            }
            outbox.appendAll(c, events);
            written += aggregates.length;
        }

        int written() {
            return written;
        }
    }

    private static String value(ConsumerRecord<byte[], byte[]> r) {
        return new String(r.value(), StandardCharsets.UTF_8);
    }

    private static String id(ConsumerRecord<byte[], byte[]> r) {
        return new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8);
    }

    /** Per aggregate, the first delivery of each event must come in commit order: 1, 2, 3... with none missing. */
    private static void assertFirstDeliveriesInCommitOrder(List<ConsumerRecord<byte[], byte[]>> records, Writer writer) {
        Map<String, List<Integer>> firstSeen = new LinkedHashMap<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (ConsumerRecord<byte[], byte[]> r : records) { // ordered by partition, then offset: one aggregate, one partition
            if (seen.add(id(r))) {
                String[] v = value(r).split(":");
                firstSeen.computeIfAbsent(v[0], k -> new ArrayList<>()).add(Integer.parseInt(v[1]));
            }
        }
        assertThat(seen).hasSize(writer.written());
        writer.next.forEach((aggregate, last) -> assertThat(firstSeen.get(aggregate)).as("events of aggregate %s", aggregate)
                .isEqualTo(java.util.stream.IntStream.rangeClosed(1, last).boxed().toList()));
    }

    private static double snapshotPublished(MeterRegistry registry) {
        Counter c = registry.find("outbox.relay.snapshot.events.published").counter();
        return c == null ? 0 : c.count();
    }

    @Test
    void firstStartPublishesTheRowsAlreadyThereOnceInCommitOrderThenTheStreamWithNoGapOrDuplicate(TestDatabase db, TestKafka kafka)
            throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        Writer writer = new Writer(db, kafka);
        // a transaction that began before another one of the same aggregate committed, but commits after it: its created_at
        // (the transaction's start) is earlier, its transaction id (assigned at its first write) later
        try (Connection early = db.connect()) {
            early.setAutoCommit(false);
            try (Statement s = early.createStatement()) {
                s.execute("SELECT 1"); // the transaction starts: now() is fixed, no transaction id yet
            }
            writer.transaction("late"); // late:1
            writer.append(early, "late"); // late:2
            early.commit();
        }
        for (int t = 0; t < 400; t++) { // 2,000 rows; two events of one aggregate in each transaction
            String a = "a" + t % AGGREGATES;
            writer.transaction(a, "a" + (t + 7) % AGGREGATES, a, "a" + (t + 3) % AGGREGATES, "a" + (t + 11) % AGGREGATES);
        }
        int preExisting = writer.written();

        Map<String, String> m = RelaySettings.of(db, kafka, dir);
        MeterRegistry leaderRegistry = new SimpleMeterRegistry();
        MeterRegistry standbyRegistry = new SimpleMeterRegistry();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> writerFailure = new AtomicReference<>();
        java.util.concurrent.atomic.AtomicInteger liveAfterSnapshot = new java.util.concurrent.atomic.AtomicInteger();
        // inserts committed before, during and after the slot's creation and the snapshot: one transaction each
        Thread live = new Thread(() -> {
            try {
                for (int i = 0; !stop.get(); i++) {
                    writer.transaction("a" + i % AGGREGATES);
                    if (snapshotPublished(leaderRegistry) + snapshotPublished(standbyRegistry) >= preExisting) {
                        liveAfterSnapshot.incrementAndGet();
                    }
                }
            } catch (Throwable e) {
                writerFailure.set(e);
            }
        }, "first-start-live-writer");
        // two relays on the same slot (ha.enabled, the default): only the leader's engine runs, so only it snapshots
        try (Relay first = Relay.builder(RelayConfig.of(m)).meterRegistry(leaderRegistry).build();
                Relay second = Relay.builder(RelayConfig.of(m)).meterRegistry(standbyRegistry).build()) {
            live.start();
            first.start();
            second.start();
            await().atMost(TIMEOUT).until(() -> writerFailure.get() != null || liveAfterSnapshot.get() >= 50);
            stop.set(true);
            live.join();
            assertThat(writerFailure.get()).isNull();
            // the snapshot holds the rows committed before the slot's creation: the pre-existing ones and the first live ones
            assertThat(snapshotPublished(leaderRegistry) + snapshotPublished(standbyRegistry))
                    .as("the snapshot published every pre-existing row").isGreaterThanOrEqualTo(preExisting);
            assertThat(List.of(snapshotPublished(leaderRegistry), snapshotPublished(standbyRegistry)))
                    .as("only the leader snapshots").contains(0.0);

            List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, writer.written(), TIMEOUT);
            assertThat(records).as("every event exactly once: no gap and no duplicate at the boundary").hasSize(writer.written());
            assertFirstDeliveriesInCommitOrder(records, writer);
            assertThat(writer.written() - preExisting).as("live inserts").isGreaterThanOrEqualTo(50);
        }
    }

    /**
     * The demo's kind of workload: each transaction bumps the version of 2-4 aggregates (rows of {@code snap_order}, locked
     * in one global order) and appends an event "aggregate:version" for each; several writers contend for the same rows,
     * so a transaction often takes its id at its first update and then waits for another aggregate's lock held by a
     * transaction with a later id: transaction-id order is not commit order for that aggregate.
     */
    private static final class DemoStyleWriters implements AutoCloseable {
        private final TestDatabase db;
        private final Outbox outbox;
        private final int aggregates;
        private final AtomicInteger events = new AtomicInteger();
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private final List<Thread> threads = new ArrayList<>();
        private final AtomicBoolean stop = new AtomicBoolean();

        DemoStyleWriters(TestDatabase db, TestKafka kafka, int aggregates) throws Exception {
            this.db = db;
            this.outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
            this.aggregates = aggregates;
            try (Connection c = db.connect(); Statement s = c.createStatement()) {
                s.execute("CREATE TABLE IF NOT EXISTS snap_order (id text PRIMARY KEY, version int NOT NULL)");
            }
        }

        /** One transaction over 2-4 distinct aggregates, each updated (locked) and given an event. */
        void transaction(SplittableRandom random) throws Exception {
            TreeSet<Integer> picked = new TreeSet<>();
            int size = 2 + random.nextInt(3);
            while (picked.size() < size) {
                picked.add(random.nextInt(aggregates));
            }
            try (Connection c = db.connect()) {
                c.setAutoCommit(false);
                try (PreparedStatement upsert = c.prepareStatement("INSERT INTO snap_order (id, version) VALUES (?, 1) ON CONFLICT (id)"
                        + " DO UPDATE SET version = snap_order.version + 1 RETURNING version")) {
                    for (int a : picked) {
                        String aggregate = "d" + a;
                        upsert.setString(1, aggregate);
                        int version;
                        try (ResultSet rs = upsert.executeQuery()) {
                            rs.next();
                            version = rs.getInt(1);
                        }
                        outbox.append(c, OutboxEvent.of("order", aggregate, "T", aggregate + ":" + version));
                    }
                }
                c.commit();
            }
            events.addAndGet(picked.size());
        }

        /** {@code writers} threads, {@code transactions} each (0: until {@link #close()}). */
        DemoStyleWriters start(int writers, int transactions, long seed) {
            for (int w = 0; w < writers; w++) {
                SplittableRandom random = new SplittableRandom(seed + w);
                Thread t = new Thread(() -> {
                    try {
                        for (int i = 0; (transactions == 0 || i < transactions) && !stop.get(); i++) {
                            transaction(random);
                        }
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                }, "demo-style-writer-" + w);
                threads.add(t);
                t.start();
            }
            return this;
        }

        void join() throws InterruptedException {
            for (Thread t : threads) {
                t.join();
            }
            threads.clear();
            assertThat(failure.get()).as("writer failure").isNull();
        }

        @Override
        public void close() throws InterruptedException {
            stop.set(true);
            join();
        }

        /** Every aggregate's last version: its events are aggregate:1 ... aggregate:version. */
        Map<String, Integer> versions() throws Exception {
            Map<String, Integer> v = new HashMap<>();
            try (Connection c = db.connect(); Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT id, version FROM snap_order")) {
                while (rs.next()) {
                    v.put(rs.getString(1), rs.getInt(2));
                }
            }
            return v;
        }
    }

    /** Exactly once, and per aggregate in version (= commit) order: aggregate:1, aggregate:2, ... with none missing. */
    private static void assertEachVersionOnceInOrder(List<ConsumerRecord<byte[], byte[]>> records, Map<String, Integer> versions) {
        Map<String, List<Integer>> seen = new LinkedHashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : records) { // ordered by partition, then offset: one aggregate, one partition
            String[] v = value(r).split(":");
            seen.computeIfAbsent(v[0], k -> new ArrayList<>()).add(Integer.parseInt(v[1]));
        }
        assertThat(seen.keySet()).isEqualTo(versions.keySet());
        versions.forEach((aggregate, last) -> assertThat(seen.get(aggregate)).as("events of aggregate %s", aggregate)
                .isEqualTo(java.util.stream.IntStream.rangeClosed(1, last).boxed().toList()));
    }

    @Test
    void aTransactionThatTookItsIdBeforeAnotherButCommittedAfterItIsPublishedAfterIt(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 1);
        DemoStyleWriters shape = new DemoStyleWriters(db, kafka, 1); // its table and outbox
        Outbox outbox = shape.outbox;
        String bump = "INSERT INTO snap_order (id, version) VALUES (?, 1) ON CONFLICT (id) DO UPDATE SET version = snap_order.version + 1"
                + " RETURNING version";
        try (Connection a = db.connect(); Connection b = db.connect()) {
            a.setAutoCommit(false);
            b.setAutoCommit(false);
            for (Object[] step : new Object[][] {{a, "x"}, {b, "y"}, {b, "z"}}) {
                upsertAndAppend((Connection) step[0], outbox, bump, (String) step[1]); // a takes its id first (x:1), then b (y:1, z:1)
            }
            b.commit(); // b commits first: z:1
            upsertAndAppend(a, outbox, bump, "z"); // a's z:2, with the older transaction id
            a.commit();
        }
        Map<String, String> m = RelaySettings.of(db, kafka, dir); // first.start.snapshot: on by default
        m.put(RelayConfig.HA_ENABLED, "false");
        try (Relay relay = Relay.create(RelayConfig.of(m))) {
            relay.start();
            List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, 4, TIMEOUT);
            assertThat(records).extracting(FirstStartSnapshotIT::value).containsExactly("y:1", "z:1", "x:1", "z:2");
        }
    }

    private static void upsertAndAppend(Connection c, Outbox outbox, String bump, String aggregate) throws Exception {
        int version;
        try (PreparedStatement ps = c.prepareStatement(bump)) {
            ps.setString(1, aggregate);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                version = rs.getInt(1);
            }
        }
        outbox.append(c, OutboxEvent.of("order", aggregate, "T", aggregate + ":" + version));
    }

    @Test
    void theDemosMultiAggregateWorkloadBeforeTheSlotIsPublishedOnceInCommitOrderThenTheStreamWithNoGapOrDuplicate(TestDatabase db,
            TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        DemoStyleWriters before = new DemoStyleWriters(db, kafka, 12);
        before.start(4, 150, 42).join(); // 600 transactions, about 1,800 events, many lock waits, before the slot exists
        int preExisting = before.events.get();
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            s.execute("VACUUM (FREEZE) outbox_event"); // frozen rows keep their raw xmin, so their commit time stays readable
        }
        Map<String, String> m = RelaySettings.of(db, kafka, dir); // first.start.snapshot: on by default
        MeterRegistry registry = new SimpleMeterRegistry();
        try (Relay relay = Relay.builder(RelayConfig.of(m)).meterRegistry(registry).build();
                DemoStyleWriters live = new DemoStyleWriters(db, kafka, 12)) {
            live.start(4, 0, 7); // the same workload on, through the slot's creation, the snapshot and after it
            relay.start();
            await().atMost(TIMEOUT).until(() -> live.failure.get() != null || snapshotPublished(registry) >= preExisting);
            int atSnapshotEnd = live.events.get();
            await().atMost(TIMEOUT).until(() -> live.failure.get() != null || live.events.get() >= atSnapshotEnd + 300);
            live.close();
            int total = before.events.get() + live.events.get();
            List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, total, TIMEOUT); // and on to the end offsets
            assertThat(records).as("every event exactly once: no gap and no duplicate at the boundary").hasSize(total);
            assertThat(records.stream().map(FirstStartSnapshotIT::id).distinct().count()).isEqualTo(total);
            assertEachVersionOnceInOrder(records, before.versions());
            assertThat(snapshotPublished(registry)).as("the snapshot published the pre-existing rows").isGreaterThanOrEqualTo(preExisting);
        }
    }

    @Test
    void rowsWhoseCommitOrderPostgresDidNotRecordStopTheStartWithTheFixAndPublishNothing() throws Exception {
        Path data = dir.resolve("pg-data");
        Map<String, String> m = new HashMap<>();
        m.put(RelayConfig.DATABASE_HOSTNAME, "localhost");
        m.put(RelayConfig.DATABASE_DBNAME, "postgres");
        m.put(RelayConfig.DATABASE_USER, "postgres");
        m.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, "localhost:9"); // never reached: the database check comes first
        // a server with track_commit_timestamp off (PostgreSQL's default), rows written before any slot
        try (EmbeddedPostgres pg = server(data, "off")) {
            OutboxBridgeMigrations.outbox(pg.getPostgresDatabase()).migrate();
            try (Connection c = pg.getPostgresDatabase().getConnection(); Statement s = c.createStatement()) {
                s.execute("INSERT INTO outbox_event (id, aggregatetype, aggregateid, type, payload)"
                        + " VALUES (gen_random_uuid(), 'order', 'o1', 'T', 'x'::bytea), (gen_random_uuid(), 'order', 'o1', 'T', 'y'::bytea)");
            }
            m.put(RelayConfig.DATABASE_PORT, String.valueOf(pg.getPort()));
            Relay relay = Relay.create(RelayConfig.of(m));
            assertThatThrownBy(relay::start).isInstanceOf(RelayException.class)
                    .hasMessageContaining("track_commit_timestamp=on; it is off on this server")
                    .hasMessageContaining("Fix: ").hasMessageContaining(RelayConfig.FIRST_START_SNAPSHOT + "=false");
            relay.close();
            assertThat(slots(pg)).as("no slot created").isZero();
        }
        // turned on (a restart): the rows committed before have no commit time
        try (EmbeddedPostgres pg = server(data, "on")) {
            m.put(RelayConfig.DATABASE_PORT, String.valueOf(pg.getPort()));
            Relay relay = Relay.create(RelayConfig.of(m));
            assertThatThrownBy(relay::start).isInstanceOf(RelayException.class)
                    .hasMessageContaining("2 of them have no commit time").hasMessageContaining("Fix: ");
            relay.close();
            assertThat(slots(pg)).as("no slot created").isZero();
        }
    }

    private static EmbeddedPostgres server(Path data, String trackCommitTimestamp) throws Exception {
        return EmbeddedPostgres.builder().setDataDirectory(data).setCleanDataDirectory(false)
                .setServerConfig("wal_level", "logical").setServerConfig("track_commit_timestamp", trackCommitTimestamp)
                .setPGStartupWait(Duration.ofSeconds(60)).setRegisterShutdownHook(false).start();
    }

    private static long slots(EmbeddedPostgres pg) throws Exception {
        try (Connection c = pg.getPostgresDatabase().getConnection(); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_replication_slots")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    void withTheSettingOffTheRowsAlreadyThereAreNotPublished(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 1);
        Writer writer = new Writer(db, kafka);
        for (int i = 0; i < 10; i++) {
            writer.transaction("before");
        }
        Map<String, String> m = RelaySettings.of(db, kafka, dir);
        m.put(RelayConfig.FIRST_START_SNAPSHOT, "false");
        try (Relay relay = Relay.create(RelayConfig.of(m))) {
            relay.start(); // the preflight created the slot: what commits from now on is published
            writer.transaction("after");
            List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, 1, TIMEOUT); // and on to the end offsets
            assertThat(records).extracting(FirstStartSnapshotIT::value).containsExactly("after:1");
        }
    }

    @Test
    void aSlotCreatedAheadOfTheRelayGetsTheTableAsItIsThenItsOwnStreamLosingNothing(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 1);
        Writer writer = new Writer(db, kafka);
        Map<String, String> m = RelaySettings.of(db, kafka, dir);
        String slot = m.get(RelayConfig.SLOT_NAME);
        for (int i = 0; i < 5; i++) {
            writer.transaction("o"); // o:1..5, before the slot
        }
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            // what an operator does ahead of the first deployment (the publication first: the slot decodes through it)
            s.execute("CREATE PUBLICATION " + m.get(RelayConfig.PUBLICATION_NAME) + " FOR TABLE outbox_event WITH (publish = 'insert')");
            s.execute("SELECT pg_create_logical_replication_slot('" + slot + "', 'pgoutput')");
        }
        for (int i = 0; i < 5; i++) {
            writer.transaction("o"); // o:6..10, after the slot: in the table and in the slot
        }
        try (Relay relay = Relay.create(RelayConfig.of(m))) {
            relay.start();
            for (int i = 0; i < 5; i++) {
                writer.transaction("o"); // o:11..15, live
            }
            List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, 20, TIMEOUT);
            Map<String, Long> deliveries = records.stream().collect(Collectors.groupingBy(FirstStartSnapshotIT::value, Collectors.counting()));
            for (int i = 1; i <= 10; i++) {
                assertThat(deliveries.get("o:" + i)).as("deliveries of o:%d", i).isEqualTo(i >= 6 ? 2L : 1L);
            }
            // a live row committed before the snapshot read the table (start() returns as a standby, before the engine
            // runs) is in both as well; one committed after it only in the stream
            for (int i = 11; i <= 15; i++) {
                assertThat(deliveries.get("o:" + i)).as("deliveries of o:%d", i).isBetween(1L, 2L);
            }
            assertFirstDeliveriesInCommitOrder(records, writer);
        }
    }

    @Test
    void aRelayStoppedDuringItsFirstSnapshotTakesItAgainOnTheNextStartLosingNothing(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        Writer writer = new Writer(db, kafka);
        for (int t = 0; t < 30; t++) {
            String[] hundred = new String[100];
            for (int i = 0; i < hundred.length; i++) {
                hundred[i] = "a" + (t + i) % AGGREGATES;
            }
            writer.transaction(hundred);
        }
        int preExisting = writer.written();
        Map<String, String> m = RelaySettings.of(db, kafka, dir);
        m.put(RelayConfig.HA_ENABLED, "false"); // a single relay: start() returns once the engine created the slot
        Map<String, String> slow = new HashMap<>(m);
        slow.put(RelayConfig.MAX_BATCH_SIZE, "1"); // one row per batch, each acknowledged before the next: a snapshot of seconds
        slow.put(RelayConfig.MAX_QUEUE_SIZE, "2");
        MeterRegistry registry = new SimpleMeterRegistry();
        double stoppedAt;
        try (Relay relay = Relay.builder(RelayConfig.of(slow)).meterRegistry(registry).build()) {
            relay.start();
            writer.transaction("a0"); // committed after the slot's creation, during the snapshot
            await().atMost(TIMEOUT).until(() -> snapshotPublished(registry) >= 20);
            relay.close();
            stoppedAt = snapshotPublished(registry);
        }
        assertThat(stoppedAt).as("stopped in the middle of the snapshot").isLessThan(preExisting);
        writer.transaction("a1"); // committed while no relay runs
        try (Relay relay = Relay.create(RelayConfig.of(m))) {
            relay.start();
            writer.transaction("a2"); // live
            int expected = writer.written();
            await().atMost(TIMEOUT).until(() -> kafka.readAll(topic, Duration.ofSeconds(10)).stream()
                    .map(FirstStartSnapshotIT::id).distinct().count() == expected);
            // at least once: every event, some twice (those the first run published are published again)
            List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, Duration.ofSeconds(10));
            assertThat(records.stream().map(FirstStartSnapshotIT::id).distinct().count()).isEqualTo(expected);
            assertThat(relay.state()).isEqualTo(Relay.State.RUNNING);
        }
    }

    /** A relay process for the kill test: started from OUTBOX_RELAY_* variables, it runs until it is halted or stops. */
    public static final class ChildRelay {
        public static void main(String[] args) throws Exception {
            try (Relay relay = Relay.create(RelayConfig.of(RelayConfig.fromEnvironment(System.getenv())))) {
                relay.start();
                relay.awaitTermination(TIMEOUT.multipliedBy(5));
            }
        }
    }

    @Test
    void aLeaderKilledDuringTheFirstSnapshotLeavesItToTheStandbyWhichLosesNothing(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        Writer writer = new Writer(db, kafka);
        for (int t = 0; t < 30; t++) {
            String[] hundred = new String[100];
            for (int i = 0; i < hundred.length; i++) {
                hundred[i] = "a" + (t + i) % AGGREGATES;
            }
            writer.transaction(hundred);
        }
        int preExisting = writer.written();
        Map<String, String> m = RelaySettings.of(db, kafka, dir); // ha.enabled (the default): a leader and a standby
        Map<String, String> leader = new HashMap<>(RelayConfig.toEnvironment(m));
        leader.putAll(RelayConfig.toEnvironment(Map.of(RelayConfig.NAME, "killed-leader", RelayConfig.MAX_BATCH_SIZE, "50",
                RelayConfig.MAX_QUEUE_SIZE, "100")));
        leader.put(FaultPoints.ENV, "relay.after-ack@500"); // halts (as kill -9 does) at the 500th event Kafka acknowledged
        Path log = dir.resolve("killed-leader.log");
        ChildJvm child = ChildJvm.start("killed-leader", ChildRelay.class.getName(), List.of(), leader, log, "256m");
        try {
            await().atMost(TIMEOUT).until(() -> Files.exists(log)
                    && Files.readString(log, StandardCharsets.UTF_8).contains("is the leader for slot"));
            try (Relay standby = Relay.create(RelayConfig.of(m))) {
                standby.start();
                assertThat(child.waitFor(TIMEOUT)).isTrue();
                assertThat(child.exitValue()).as("halted at the fault point").isEqualTo(FaultPoints.HALT_STATUS);
                long publishedByTheLeader = kafka.readAll(topic, Duration.ofSeconds(10)).stream().map(FirstStartSnapshotIT::id)
                        .distinct().count();
                assertThat(publishedByTheLeader).as("the leader died in the middle of the snapshot").isBetween(500L, preExisting - 1L);
                writer.transaction("a3"); // committed while the standby takes over
                await().atMost(TIMEOUT).until(() -> standby.state() == Relay.State.RUNNING);
                writer.transaction("a4");
                int expected = writer.written();
                await().atMost(TIMEOUT).until(() -> kafka.readAll(topic, Duration.ofSeconds(10)).stream()
                        .map(FirstStartSnapshotIT::id).distinct().count() == expected);
                assertThat(standby.state()).isEqualTo(Relay.State.RUNNING);
            }
        } finally {
            if (child.isAlive()) {
                child.kill();
            }
        }
    }
}
