package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.db.OutboxBridgeMigrations;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxCleanup;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Each retention mode of the outbox table (docs/outbox-retention.md) keeps publishing every event, in order per
 * aggregate, through the real relay, and shrinks the table: delete in the appending transaction, the cleanup job on
 * the plain table, and the time-partitioned table whose old partitions the job drops.
 */
@ExtendWith(OutboxBridgeExtension.class)
class OutboxRetentionIT {

    private static final int EVENTS = 300;
    private static final int AGGREGATES = 7;
    private static final Duration READ_TIMEOUT = Duration.ofSeconds(90);

    @Test
    void deleteInTransactionPublishesEveryEventAndLeavesNoRowInTheTable(TestDatabase db, TestKafka kafka) throws Exception {
        String topicPrefix = kafka.prefix() + "outbox.event.";
        kafka.createTopic(topicPrefix + "order", 3);
        Map<String, String> settings = RelaySettings.of(db, kafka, topicPrefix);
        try (Relay relay = Relay.create(RelayConfig.of(settings))) {
            relay.start();
            // the slot must exist before the first append: with this mode a row committed earlier is gone for good (with
            // ha.enabled, start() returns before the leader's engine created the slot for its first-start snapshot)
            awaitSlot(db, settings);
            Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(topicPrefix).deleteInTransaction(true).build());
            writeEvents(db, outbox);

            assertPublishedInOrder(kafka.readAll(topicPrefix + "order", EVENTS, READ_TIMEOUT));
        }
        assertThat(db.count("SELECT count(*) FROM outbox_event")).as("live rows").isZero();
    }

    @Test
    void cleanupJobDeletesRowsOlderThanTheRetentionInBatchesAndSkipsRowsLockedByOthers(TestDatabase db, TestKafka kafka)
            throws Exception {
        String topicPrefix = kafka.prefix() + "outbox.event.";
        kafka.createTopic(topicPrefix + "order", 3);
        Map<String, String> settings = RelaySettings.of(db, kafka, topicPrefix);
        createSlotThenStop(db, settings);
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(topicPrefix).build());
        writeEvents(db, outbox);
        assertThat(db.count("SELECT count(*) FROM outbox_event")).isEqualTo(EVENTS);
        Instant newest = Instant.ofEpochMilli(db.count("SELECT (extract(epoch FROM max(created_at)) * 1000)::bigint FROM outbox_event"));

        // within the retention: nothing goes
        try (OutboxCleanup young = cleanup(db, newest.plus(Duration.ofMinutes(59)), Duration.ofHours(1))) {
            assertThat(young.runOnce().deletedRows()).isZero();
        }
        // past it: everything goes in batches of 40, except the row another transaction holds, which is skipped, not waited for
        try (Connection holder = db.connect();
                OutboxCleanup old = cleanup(db, newest.plus(Duration.ofMinutes(61)), Duration.ofHours(1))) {
            holder.setAutoCommit(false);
            try (Statement s = holder.createStatement()) {
                s.executeQuery("SELECT id FROM outbox_event ORDER BY created_at LIMIT 1 FOR UPDATE").close();
            }
            OutboxCleanup.Result result = old.runOnce();
            assertThat(result.deletedRows()).isEqualTo(EVENTS - 1);
            assertThat(db.count("SELECT count(*) FROM outbox_event")).isEqualTo(1);
            holder.rollback();

            assertThat(old.runOnce().deletedRows()).isEqualTo(1);
            assertThat(old.totals().deletedRows()).isEqualTo(EVENTS);
        }
        assertThat(db.count("SELECT count(*) FROM outbox_event")).isZero();

        // the rows were deleted before the relay read them: it publishes from the WAL, which the slot kept
        try (Relay relay = Relay.create(RelayConfig.of(settings))) {
            relay.start();
            assertPublishedInOrder(kafka.readAll(topicPrefix + "order", EVENTS, READ_TIMEOUT));
        }
    }

    @Test
    void partitionedTablePublishesThroughItsRootAndTheJobDropsOldPartitionsAndCreatesNewOnes(PostgresServer postgres,
            TestKafka kafka) throws Exception {
        try (TestDatabase db = postgres.createDatabase("partitioned")) {
            OutboxBridgeMigrations.outboxPartitioned(db.dataSource()).migrate();
            String topicPrefix = kafka.prefix() + "outbox.event.";
            kafka.createTopic(topicPrefix + "order", 3);
            Map<String, String> settings = RelaySettings.of(db, kafka, topicPrefix);
            createSlotThenStop(db, settings);
            Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(topicPrefix).build());
            writeEvents(db, outbox);
            assertThat(db.count("SELECT count(*) FROM pg_publication WHERE pubname = ? AND pubviaroot",
                    settings.get(RelayConfig.PUBLICATION_NAME))).isEqualTo(1);
            assertThat(db.count("SELECT count(*) FROM outbox_event")).isEqualTo(EVENTS);
            long partitionsBefore = partitions(db);

            // ten days later with a two-day retention: every partition up to eight days ago goes, the next days come
            Instant later = Instant.now().plus(Duration.ofDays(10));
            try (OutboxCleanup job = cleanup(db, later, Duration.ofDays(2))) {
                OutboxCleanup.Result result = job.runOnce();
                assertThat(result.droppedPartitions()).as("dropped").isGreaterThanOrEqualTo(1);
                assertThat(result.createdPartitions()).as("created ahead").isEqualTo(1 + OutboxCleanup.Builder.DEFAULT_PARTITIONS_AHEAD);
                assertThat(partitions(db)).isEqualTo(partitionsBefore - result.droppedPartitions() + result.createdPartitions());
                assertThat(job.runOnce()).as("a second run has nothing to do").isEqualTo(new OutboxCleanup.Result(0, 0, 0));
            }
            assertThat(db.count("SELECT count(*) FROM outbox_event")).isZero();
            assertThat(db.count("SELECT count(*) FROM pg_stat_user_tables WHERE relname LIKE 'outbox_event_p%' AND n_dead_tup > 0"))
                    .as("partitions with dead tuples").isZero();

            // the partitions holding the rows were dropped before the relay decoded them: same topic, key and headers as
            // with the plain table, since the publication publishes through the root
            try (Relay relay = Relay.create(RelayConfig.of(settings))) {
                relay.start();
                assertPublishedInOrder(kafka.readAll(topicPrefix + "order", EVENTS, READ_TIMEOUT));
            }
        }
    }

    /** Starts the relay once, so its publication and slot exist and later inserts are kept in the WAL, then stops it. */
    private static void createSlotThenStop(TestDatabase db, Map<String, String> settings) {
        try (Relay relay = Relay.create(RelayConfig.of(settings))) {
            relay.start();
            awaitSlot(db, settings);
        }
    }

    /** Waits until the relay's slot exists: on a first start the leader's engine creates it (after the lease, with HA). */
    private static void awaitSlot(TestDatabase db, Map<String, String> settings) {
        await().atMost(READ_TIMEOUT).until(() -> db.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?",
                settings.get(RelayConfig.SLOT_NAME)) == 1);
    }

    private static OutboxCleanup cleanup(TestDatabase db, Instant now, Duration retention) {
        return OutboxCleanup.builder(db.dataSource())
                .retention(retention)
                .batchSize(40)
                .clock(Clock.fixed(now, ZoneOffset.UTC))
                .build();
    }

    private static long partitions(TestDatabase db) throws SQLException {
        return db.count("SELECT count(*) FROM pg_inherits WHERE inhparent = 'outbox_event'::regclass");
    }

    /** {@link #EVENTS} events over {@link #AGGREGATES} aggregates, payload = sequence number, in transactions of 1 to 4. */
    private static void writeEvents(TestDatabase db, Outbox outbox) throws SQLException {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            int seq = 0;
            while (seq < EVENTS) {
                int size = Math.min(1 + seq % 4, EVENTS - seq);
                List<OutboxEvent> tx = new ArrayList<>();
                for (int i = 0; i < size; i++, seq++) {
                    tx.add(OutboxEvent.of("order", "o-" + seq % AGGREGATES, "OrderChanged", String.valueOf(seq)));
                }
                if (tx.size() == 1) {
                    outbox.append(c, tx.get(0));
                } else {
                    outbox.appendAll(c, tx);
                }
                c.commit();
            }
        }
    }

    /** Every sequence number exactly once, ascending per key. */
    private static void assertPublishedInOrder(List<ConsumerRecord<byte[], byte[]>> records) {
        assertThat(records).hasSize(EVENTS);
        Map<String, Integer> lastPerKey = new HashMap<>();
        boolean[] seen = new boolean[EVENTS];
        for (ConsumerRecord<byte[], byte[]> r : records) {
            String key = new String(r.key(), StandardCharsets.UTF_8);
            int seq = Integer.parseInt(new String(r.value(), StandardCharsets.UTF_8));
            assertThat(key).isEqualTo("o-" + seq % AGGREGATES);
            assertThat(seen[seq]).as("event %d seen twice", seq).isFalse();
            seen[seq] = true;
            Integer last = lastPerKey.put(key, seq);
            assertThat(last == null || last < seq).as("order of %s: %s then %s", key, last, seq).isTrue();
        }
    }
}
