package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.relay.internal.RelayRuntime;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import dev.outboxbridge.testkit.TopicReader;
import dev.outboxbridge.testsupport.ChildJvm;
import dev.outboxbridge.testsupport.FaultPoints;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * delivery.guarantee=exactly_once against a real PostgreSQL and a real Kafka: a relay process halted (as kill -9 does,
 * at a fault point) in the middle of a transaction, right after a transaction committed, and in the middle of a
 * PostgreSQL transaction that spans batches; a relay started after it publishes the rest. A read_committed reader,
 * reading to the end offsets, sees every event exactly once and in order per aggregate.
 */
@ExtendWith(OutboxBridgeExtension.class)
class ExactlyOnceIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(120);
    private static final Pattern LSN = Pattern.compile("\"lsn\":(\\d+)");

    @TempDir
    Path dir;

    @Test
    void killedInTheMiddleOfATransactionLeavesNoDuplicateAndNoLoss(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        Map<String, String> settings = settings(db, kafka);
        settings.put(RelayConfig.MAX_BATCH_SIZE, "50");
        // halts (as kill -9 does) at the 120th record Kafka acknowledged: inside an open transaction, after some of its
        // records are in the log
        ChildJvm child = startChild("eos-killed", settings, "relay.after-ack@120");
        Writer writer = new Writer(db, kafka);
        for (int t = 0; t < 30; t++) {
            writer.transaction(10);
        }
        assertThat(child.waitFor(TIMEOUT)).isTrue();
        assertThat(child.exitValue()).as("halted at the fault point").isEqualTo(FaultPoints.HALT_STATUS);
        assertThat(TopicReader.readToEnd(TopicReader.committedReader(kafka.bootstrapServers()), topic, TIMEOUT))
                .as("the halted relay committed only what came before its open transaction").hasSizeLessThan(120);

        try (Relay relay = Relay.create(RelayConfig.of(settings))) {
            relay.start();
            List<ConsumerRecord<byte[], byte[]>> committed = readCommitted(kafka, topic, writer.written());
            assertExactlyOnceInOrder(committed, writer.written());
        }
        // the test cut a transaction with records in it: a read_uncommitted reader sees them (and their re-sends)
        Properties uncommitted = new Properties();
        uncommitted.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        uncommitted.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
        assertThat(TopicReader.readToEnd(uncommitted, topic, TIMEOUT)).as("records of the aborted transaction in the log")
                .hasSizeGreaterThan(writer.written());
    }

    @Test
    void restartResumesFromThePositionCommittedWithTheLastTransaction(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        Map<String, String> settings = settings(db, kafka);
        // halts right after the 5th transaction committed: its events and position are in Kafka, nothing is marked
        // processed and the slot was not told
        ChildJvm child = startChild("eos-after-commit", settings, "relay.after-transaction-commit@5");
        Writer writer = new Writer(db, kafka);
        for (int t = 0; t < 100 && child.isAlive(); t++) {
            writer.transaction(1);
        }
        assertThat(child.waitFor(TIMEOUT)).isTrue();
        assertThat(child.exitValue()).as("halted at the fault point").isEqualTo(FaultPoints.HALT_STATUS);
        for (int t = 0; t < 20; t++) {
            writer.transaction(1);
        }
        long position = committedPositionLsn(kafka, settings);
        long confirmed = confirmedFlushLsn(db, settings.get(RelayConfig.SLOT_NAME));
        assertThat(position).as("the position committed with the last transaction is ahead of the slot's confirmed_flush_lsn")
                .isGreaterThan(confirmed);
        int before = TopicReader.readToEnd(TopicReader.committedReader(kafka.bootstrapServers()), topic, TIMEOUT).size();
        assertThat(before).as("events committed by the halted relay").isPositive();

        try (Relay relay = Relay.create(RelayConfig.of(settings))) {
            relay.start();
            // Debezium streams from the stored position, skipping what the slot holds before it: nothing twice
            assertExactlyOnceInOrder(readCommitted(kafka, topic, writer.written()), writer.written());
        }
    }

    @Test
    void aPostgresTransactionSpanningBatchesIsPublishedOnceAcrossAHalt(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        Map<String, String> settings = settings(db, kafka);
        settings.put(RelayConfig.MAX_BATCH_SIZE, "4");
        settings.put(RelayConfig.MAX_QUEUE_SIZE, "8");
        settings.put(RelayConfig.HEARTBEAT_INTERVAL_MS, "0"); // every Kafka transaction carries events of the one below
        ChildJvm child = startChild("eos-spanning", settings, "relay.after-transaction-commit@3");
        Writer writer = new Writer(db, kafka);
        writer.transaction(25); // one PostgreSQL transaction, at most 4 events per batch: at least 7 Kafka transactions
        assertThat(child.waitFor(TIMEOUT)).isTrue();
        assertThat(child.exitValue()).as("halted at the fault point").isEqualTo(FaultPoints.HALT_STATUS);
        int before = TopicReader.readToEnd(TopicReader.committedReader(kafka.bootstrapServers()), topic, TIMEOUT).size();
        assertThat(before).as("the halt cut the PostgreSQL transaction between two Kafka transactions").isBetween(1, 24);

        try (Relay relay = Relay.create(RelayConfig.of(settings))) {
            relay.start();
            assertExactlyOnceInOrder(readCommitted(kafka, topic, 25), 25);
        }
    }

    /**
     * A zombie: a relay process frozen between its permission check and its send (a test hook holds it there, as a long
     * GC pause or SIGSTOP would at the worst moment) while a second relay takes the slot over. Both run without the lease
     * (ha.enabled=false), so only Kafka guards the writes: the successor's initTransactions() fences the zombie, whose
     * late batch, sent when it wakes, is never visible to a read_committed reader; the zombie steps down and exits.
     */
    @Test
    void aZombieRelayIsFencedByKafkaAndItsLateBatchIsNeverVisible(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        Map<String, String> settings = settings(db, kafka);
        settings.put(RelayConfig.HA_ENABLED, "false");
        Path signals = Files.createDirectories(dir.resolve("zombie-signals"));
        Map<String, String> env = new HashMap<>(RelayConfig.toEnvironment(settings));
        env.putAll(RelayConfig.toEnvironment(Map.of(RelayConfig.NAME, "zombie")));
        env.put(ZombieRelay.SIGNALS, signals.toString());
        Path log = dir.resolve("zombie.log");
        ChildJvm zombie = ChildJvm.start("zombie", ZombieRelay.class.getName(), List.of(), env, log, "256m");
        Writer writer = new Writer(db, kafka);
        try {
            await().atMost(TIMEOUT).until(() -> !zombie.isAlive() || (Files.exists(log)
                    && Files.readString(log, StandardCharsets.UTF_8).contains("running: publishing from slot")));
            writer.transaction(5);
            assertThat(readCommitted(kafka, topic, 5)).hasSize(5);
            Files.createFile(signals.resolve(ZombieRelay.ARM));
            writer.transaction(5); // the zombie checks it may publish these, then freezes before sending them
            await().atMost(TIMEOUT).until(() -> Files.exists(signals.resolve(ZombieRelay.FROZEN)));
            terminateWalsender(db, settings.get(RelayConfig.SLOT_NAME)); // the slot is free for the successor

            try (Relay successor = Relay.create(RelayConfig.of(settings))) {
                successor.start();
                writer.transaction(5);
                assertExactlyOnceInOrder(readCommitted(kafka, topic, 15), 15);

                Files.createFile(signals.resolve(ZombieRelay.WAKE)); // the zombie sends its late batch: Kafka fenced it
                assertThat(zombie.waitFor(TIMEOUT)).as("the zombie stepped down and exited").isTrue();
                assertThat(Files.readString(log, StandardCharsets.UTF_8)).as("the zombie's log").contains("Kafka fenced");
                assertThat(zombie.exitValue()).isEqualTo(1);
                writer.transaction(5);
                assertExactlyOnceInOrder(readCommitted(kafka, topic, 20), 20);
                assertThat(successor.state()).as("the successor publishes on; failure: %s", successor.failure())
                        .isEqualTo(Relay.State.RUNNING);
            }
        } finally {
            if (zombie.isAlive()) {
                zombie.kill();
            }
        }
    }

    /**
     * A record Kafka refuses at send time, inside a transaction (the topic's max.message.bytes lowered after the relay
     * read it, so its size check lets the record through): the transaction aborts, nothing of it was visible or marked,
     * and the batch is sent again with the dead-letter record in the refused record's place. A read_committed reader
     * sees the records before and after it once each, in order, and the dead-letter topic the refused one once.
     */
    @Test
    void aRecordRefusedInsideATransactionGoesToTheDeadLetterTopicInItsPlace(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        String deadLetters = kafka.prefix() + "outbox.dead-letter";
        kafka.createTopic(topic, 1);
        kafka.createTopic(deadLetters, 1);
        Map<String, String> settings = settings(db, kafka);
        settings.put(RelayConfig.DEAD_LETTER_TOPIC, deadLetters);
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
        try (Relay relay = Relay.create(RelayConfig.of(settings))) {
            relay.start();
            append(db, outbox, List.of(OutboxEvent.of("order", "o-1", "A", "first")));
            assertThat(readCommitted(kafka, topic, 1)).hasSize(1); // the relay read the topic's limit (1 MB) by now
            kafka.admin().incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.TOPIC, topic), List.of(
                    new AlterConfigOp(new ConfigEntry("max.message.bytes", "4096"), AlterConfigOp.OpType.SET)))).all().get();
            List<UUID> ids = append(db, outbox, List.of(OutboxEvent.of("order", "o-1", "A", "before"),
                    OutboxEvent.of("order", "o-1", "A", "x".repeat(20_000)), OutboxEvent.of("order", "o-1", "A", "after")));
            List<ConsumerRecord<byte[], byte[]>> dead = TopicReader.readAtLeast(TopicReader.committedReader(kafka.bootstrapServers()),
                    deadLetters, 1, TIMEOUT);
            assertThat(dead).hasSize(1);
            assertThat(id(dead.get(0))).isEqualTo(ids.get(1).toString());
            assertThat(new String(dead.get(0).headers().lastHeader("outbox.dlq.reason").value(), StandardCharsets.UTF_8))
                    .contains("RecordTooLarge");
            List<String> values = readCommitted(kafka, topic, 3).stream().map(r -> new String(r.value(), StandardCharsets.UTF_8))
                    .map(v -> v.contains("first") ? "first" : v.contains("before") ? "before" : v.contains("after") ? "after" : v)
                    .toList();
            assertThat(values).containsExactly("first", "before", "after");
            assertThat(relay.state()).as("failure: %s", relay.failure()).isEqualTo(Relay.State.RUNNING);
        }
    }

    private static List<UUID> append(TestDatabase db, Outbox outbox, List<OutboxEvent> events) throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            List<UUID> ids = outbox.appendAll(c, events);
            c.commit();
            return ids;
        }
    }

    private static void terminateWalsender(TestDatabase db, String slot) throws Exception {
        try (Connection c = db.connect();
                PreparedStatement ps = c.prepareStatement("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
                        + " WHERE slot_name = ? AND active_pid IS NOT NULL")) {
            ps.setString(1, slot);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).as("the zombie's walsender holds slot %s", slot).isTrue();
            }
        }
    }

    private Map<String, String> settings(TestDatabase db, TestKafka kafka) {
        Map<String, String> m = RelaySettings.of(db, kafka, dir);
        m.put(RelayConfig.DELIVERY_GUARANTEE, RelayConfig.EXACTLY_ONCE);
        m.put(RelayConfig.FIRST_START_SNAPSHOT, "false"); // not supported with exactly_once (refused)
        return m;
    }

    private ChildJvm startChild(String name, Map<String, String> settings, String faultSpec) throws Exception {
        Map<String, String> env = new HashMap<>(RelayConfig.toEnvironment(settings));
        env.putAll(RelayConfig.toEnvironment(Map.of(RelayConfig.NAME, name)));
        env.put(FaultPoints.ENV, faultSpec);
        Path log = dir.resolve(name + ".log");
        ChildJvm child = ChildJvm.start(name, ChildRelay.class.getName(), List.of(), env, log, "256m");
        await().atMost(TIMEOUT).until(() -> !child.isAlive() || (Files.exists(log)
                && Files.readString(log, StandardCharsets.UTF_8).contains("running: publishing from slot")));
        return child;
    }

    private static List<ConsumerRecord<byte[], byte[]>> readCommitted(TestKafka kafka, String topic, int expected) {
        return TopicReader.readAtLeast(TopicReader.committedReader(kafka.bootstrapServers()), topic, expected, TIMEOUT);
    }

    /** Every event written once, none twice, and per aggregate (the Kafka key) in the order written. */
    static void assertExactlyOnceInOrder(List<ConsumerRecord<byte[], byte[]>> records, int written) {
        List<String> ids = records.stream().map(ExactlyOnceIT::id).toList();
        assertThat(ids).as("no duplicate").doesNotHaveDuplicates();
        assertThat(ids).as("no loss").hasSize(written);
        Map<String, Integer> last = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            String aggregate = new String(r.key(), StandardCharsets.UTF_8);
            int n = sequence(r);
            Integer previous = last.put(aggregate, n);
            assertThat(previous == null ? 0 : previous).as("order of aggregate %s", aggregate).isEqualTo(n - 1);
        }
    }

    private static int sequence(ConsumerRecord<byte[], byte[]> r) {
        String value = new String(r.value(), StandardCharsets.UTF_8);
        Matcher m = Pattern.compile(":(\\d+)").matcher(value);
        assertThat(m.find()).as("payload %s", value).isTrue();
        return Integer.parseInt(m.group(1));
    }

    private static String id(ConsumerRecord<byte[], byte[]> r) {
        return new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8);
    }

    /** The "lsn" of the last position of this database and slot in the position topic, read read_committed. */
    private static long committedPositionLsn(TestKafka kafka, Map<String, String> settings) {
        String server = RelayConfig.of(settings).offsetServerName();
        List<ConsumerRecord<byte[], byte[]>> positions = TopicReader.readToEnd(TopicReader.committedReader(kafka.bootstrapServers()),
                settings.getOrDefault(RelayConfig.OFFSET_STORAGE_TOPIC, "outbox-relay-offsets"), TIMEOUT);
        String last = null;
        for (ConsumerRecord<byte[], byte[]> r : positions) {
            if (r.key() != null && new String(r.key(), StandardCharsets.UTF_8).contains("\"" + server + "\"") && r.value() != null) {
                last = new String(r.value(), StandardCharsets.UTF_8);
            }
        }
        assertThat(last).as("a committed position of %s", server).isNotNull();
        Matcher m = LSN.matcher(last);
        assertThat(m.find()).as("lsn in %s", last).isTrue();
        return Long.parseLong(m.group(1));
    }

    private static long confirmedFlushLsn(TestDatabase db, String slot) throws Exception {
        try (Connection c = db.connect();
                PreparedStatement ps = c.prepareStatement("SELECT (confirmed_flush_lsn - '0/0')::bigint FROM pg_replication_slots"
                        + " WHERE slot_name = ?")) {
            ps.setString(1, slot);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).as("slot %s exists", slot).isTrue();
                return rs.getLong(1);
            }
        }
    }

    /** Writes transactions of events to aggregates a0..a4 in turn, payload "aggregate:n" (n counts per aggregate from 1). */
    static final class Writer {
        private final TestDatabase db;
        private final Outbox outbox;
        private final Map<String, Integer> next = new HashMap<>();
        private int written;

        Writer(TestDatabase db, TestKafka kafka) {
            this.db = db;
            this.outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
        }

        void transaction(int events) throws Exception {
            try (Connection c = db.connect()) {
                c.setAutoCommit(false);
                List<OutboxEvent> batch = new ArrayList<>();
                for (int i = 0; i < events; i++) {
                    String a = "a" + (written + i) % 5;
                    batch.add(OutboxEvent.of("order", a, "T", a + ":" + next.merge(a, 1, Integer::sum)));
                }
                outbox.appendAll(c, batch);
                c.commit();
            }
            written += events;
        }

        int written() {
            return written;
        }
    }

    /**
     * The zombie's process: a relay from OUTBOX_RELAY_* variables whose first transaction after the file {@value #ARM}
     * appears in the directory {@value #SIGNALS} names freezes between its permission check and its send (it writes
     * {@value #FROZEN}) until {@value #WAKE} appears. Exits 1 when the relay failed.
     */
    public static final class ZombieRelay {
        static final String SIGNALS = "EOS_ZOMBIE_SIGNALS";
        static final String ARM = "arm";
        static final String FROZEN = "frozen";
        static final String WAKE = "wake";

        public static void main(String[] args) throws Exception {
            Path signals = Path.of(System.getenv(SIGNALS));
            AtomicBoolean froze = new AtomicBoolean();
            RelayRuntime relay = new RelayRuntime(RelayConfig.of(RelayConfig.fromEnvironment(System.getenv())), Clock.systemUTC(),
                    new SimpleMeterRegistry());
            relay.beforeSend(() -> {
                if (Files.exists(signals.resolve(ARM)) && froze.compareAndSet(false, true)) {
                    try {
                        Files.createFile(signals.resolve(FROZEN));
                        long deadline = System.nanoTime() + TIMEOUT.toNanos();
                        while (!Files.exists(signals.resolve(WAKE)) && System.nanoTime() < deadline) {
                            Thread.sleep(20); // frozen: polls for the test's signal
                        }
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }
            });
            try {
                relay.start();
                relay.awaitTermination(TIMEOUT.multipliedBy(5));
                relay.failure().ifPresent(f -> System.out.println("Relay failed: " + f.getMessage()));
            } finally {
                relay.close();
            }
            System.exit(relay.failure().isPresent() ? 1 : 0);
        }
    }

    /** A relay process: started from OUTBOX_RELAY_* variables, it runs until it is halted at its fault point or stops. */
    public static final class ChildRelay {
        public static void main(String[] args) throws Exception {
            try (Relay relay = Relay.create(RelayConfig.of(RelayConfig.fromEnvironment(System.getenv())))) {
                relay.start();
                relay.awaitTermination(TIMEOUT.multipliedBy(5));
            }
        }
    }
}
