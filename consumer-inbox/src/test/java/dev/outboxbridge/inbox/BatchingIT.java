package dev.outboxbridge.inbox;

import static dev.outboxbridge.inbox.InboxConsumerIT.WAIT;
import static dev.outboxbridge.inbox.InboxConsumerIT.applyEffect;
import static dev.outboxbridge.inbox.InboxConsumerIT.assertAppliedInAggregateOrder;
import static dev.outboxbridge.inbox.InboxConsumerIT.committed;
import static dev.outboxbridge.inbox.InboxConsumerIT.createSideEffectTable;
import static dev.outboxbridge.inbox.InboxConsumerIT.endOffsets;
import static dev.outboxbridge.inbox.InboxConsumerIT.inbox;
import static dev.outboxbridge.inbox.InboxConsumerIT.produce;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.inbox.InboxConsumerIT.Event;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;
import javax.sql.DataSource;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.LoggerFactory;

/** A poll batch is applied in few transactions, and a failing record does not cost its neighbours anything. */
@ExtendWith(OutboxBridgeExtension.class)
class BatchingIT {

    private static final org.slf4j.Logger LOG = LoggerFactory.getLogger(BatchingIT.class);

    @Test
    void failingRecordInABatchDoesNotRollBackItsNeighbours(TestDatabase db, TestKafka kafka) throws Exception {
        Map<UUID, AtomicInteger> runs = failingRecordInABatch(db, kafka, false);
        // optimistic batches: the poison's failure rolled its batch back; the events before it ran again (their
        // first run was rolled back with it), the events after it once
        assertThat(runs.values()).allSatisfy(n -> assertThat(n.get()).isBetween(1, 2));
        assertThat(runs.values().stream().filter(n -> n.get() == 2).count())
                .as("handlers run again after the poison rolled their batch back (the events before it)").isLessThanOrEqualTo(30);
    }

    @Test
    void withASavepointPerHandlerAFailingRecordCostsItsNeighboursNoRedo(TestDatabase db, TestKafka kafka)
            throws Exception {
        Map<UUID, AtomicInteger> runs = failingRecordInABatch(db, kafka, true);
        assertThat(runs.values()).allSatisfy(n -> assertThat(n.get()).isEqualTo(1)); // every handler ran once
    }

    /**
     * 60 events and one duplicate in one partition, the 31st fatal: whatever the batching, 59 effects commit once
     * each, the poison's none. Returns how often each event's handler ran.
     */
    private static Map<UUID, AtomicInteger> failingRecordInABatch(TestDatabase db, TestKafka kafka,
            boolean savepointPerHandler) throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 1);
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            events.add(Event.of("order-" + i, 0));
        }
        events.add(events.get(10)); // a duplicate inside the same batch
        produce(kafka, topic, events);
        Event poison = events.get(30);
        Map<UUID, AtomicInteger> runs = new ConcurrentHashMap<>();
        InboxHandler handler = (event, tx) -> {
            runs.computeIfAbsent(event.id(), id -> new AtomicInteger()).incrementAndGet();
            applyEffect(event, tx); // the poison's write is rolled back (with its savepoint, or its batch)
            if (event.id().equals(poison.id())) {
                throw new FatalEventException("poison");
            }
        };
        String name = kafka.topic("billing");

        try (InboxConsumer inbox = inbox(db, kafka, name, topic, handler).savepointPerHandler(savepointPerHandler)
                .build()) {
            inbox.start();
            await().atMost(WAIT).until(() -> committed(kafka, name).equals(endOffsets(kafka, topic, 1)));
            assertThat(inbox.stats().processed()).isEqualTo(59);
            assertThat(inbox.stats().duplicates()).isEqualTo(1);
            assertThat(inbox.stats().deadLettered()).isEqualTo(1);
        }
        assertThat(runs).hasSize(60);
        assertThat(runs.get(poison.id()).get()).as("a fatal event's handler runs once").isEqualTo(1);
        for (int i = 31; i < 60; i++) {
            assertThat(runs.get(events.get(i).id()).get()).as("event after the poison").isEqualTo(1);
        }
        assertThat(db.count("SELECT count(*) FROM side_effect")).isEqualTo(59);
        assertThat(db.count("SELECT count(*) FROM side_effect WHERE event_id = ?", poison.id())).isZero();
        assertThat(db.count("SELECT count(*) FROM inbox_event WHERE status = 'APPLIED'")).isEqualTo(59);
        assertThat(db.count("SELECT count(*) FROM inbox_event WHERE status = 'DEAD_LETTERED'")).isEqualTo(1);
        return runs;
    }

    @Test
    void batchesApplyManyEventsInFewTransactions(TestDatabase db, TestKafka kafka) throws Exception {
        createSideEffectTable(db);
        int count = 3000;
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 3);
        List<Event> many = manyEvents(count);
        for (int i = 0; i < count; i += 500) {
            produce(kafka, topic, many.subList(i, i + 500)); // small sends keep the test producer's retries simple
        }
        String small = kafka.topic("order-small");
        kafka.createTopic(small, 3);
        produce(kafka, small, manyEvents(count / 10));

        long batched = run(db, kafka, topic, "batched", 500, count);
        assertAppliedInAggregateOrder(db);
        try (Connection c = db.connect(); var st = c.createStatement()) {
            st.execute("TRUNCATE side_effect");
        }
        long perRecord = run(db, kafka, small, "per-record", 1, count / 10);
        assertAppliedInAggregateOrder(db);

        assertThat(batched).as("transactions for %s events in batches", count).isLessThan(count / 10);
        assertThat(perRecord).as("transactions for %s events one by one", count / 10).isGreaterThanOrEqualTo(count / 10);
    }

    private static List<Event> manyEvents(int count) {
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            events.add(Event.of("order-" + (i % 100), i / 100));
        }
        return events;
    }

    /**
     * Consumes every event of {@code topic} under a new consumer name with a connection pool; returns
     * how many connections it borrowed (one per transaction) and logs the rate after the first event.
     */
    private static long run(TestDatabase db, TestKafka kafka, String topic, String label, int maxBatchSize, int count)
            throws Exception {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(db.jdbcUrl());
        config.setUsername(db.user());
        config.setPassword(db.password());
        config.setMaximumPoolSize(4);
        config.setPoolName("batching-it-" + label);
        try (HikariDataSource pool = new HikariDataSource(config)) {
            CountingDataSource dataSource = new CountingDataSource(pool);
            String name = kafka.topic(label);
            try (InboxConsumer inbox = inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect)
                    .dataSource(dataSource).maxBatchSize(maxBatchSize).build()) {
                inbox.start();
                await().atMost(WAIT).pollInterval(java.time.Duration.ofMillis(5)).until(() -> inbox.stats().processed() > 0);
                long start = System.nanoTime();
                long first = inbox.stats().processed();
                await().atMost(WAIT).pollInterval(java.time.Duration.ofMillis(5))
                        .until(() -> inbox.stats().processed() == count);
                long millis = Math.max(1, (System.nanoTime() - start) / 1_000_000);
                LOG.info("{} (maxBatchSize {}): {} events in {} ms = {} events/s (trivial handler: one insert), {} "
                        + "transactions", label, maxBatchSize, count - first, millis, (count - first) * 1000L / millis,
                        dataSource.borrowed.get());
            }
            assertThat(db.count("SELECT count(*) FROM side_effect")).isEqualTo(count);
            return dataSource.borrowed.get();
        }
    }

    /** Counts the connections borrowed from a real data source. */
    static final class CountingDataSource extends DelegatingDataSource {
        final AtomicInteger borrowed = new AtomicInteger();

        CountingDataSource(DataSource delegate) {
            super(delegate);
        }

        @Override
        public Connection getConnection() throws SQLException {
            borrowed.incrementAndGet();
            return delegate.getConnection();
        }
    }
}
