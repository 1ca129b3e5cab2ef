package dev.outboxbridge.inbox;

import static dev.outboxbridge.inbox.InboxConsumerIT.WAIT;
import static dev.outboxbridge.inbox.InboxConsumerIT.applyEffect;
import static dev.outboxbridge.inbox.InboxConsumerIT.assertAppliedInAggregateOrder;
import static dev.outboxbridge.inbox.InboxConsumerIT.committed;
import static dev.outboxbridge.inbox.InboxConsumerIT.createSideEffectTable;
import static dev.outboxbridge.inbox.InboxConsumerIT.endOffsets;
import static dev.outboxbridge.inbox.InboxConsumerIT.header;
import static dev.outboxbridge.inbox.InboxConsumerIT.inbox;
import static dev.outboxbridge.inbox.InboxConsumerIT.produce;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.inbox.InboxConsumerIT.Event;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Batches under a {@link TransactionRunner} that {@linkplain TransactionRunner#supportsSavepoints() supports no
 * savepoints} (as a JPA transaction), here plain JDBC whose connections refuse every savepoint: a failing event rolls
 * the batch back, the events before it are applied again and commit once, the failing one is parked, retried or
 * dead-lettered as with savepoints, and a constraint the database checks only at commit is blamed on its event, not
 * on the batch.
 */
@ExtendWith(OutboxBridgeExtension.class)
class BatchingWithoutSavepointsIT {

    /** Plain JDBC transactions that declare no savepoints. */
    static final TransactionRunner NO_SAVEPOINTS = new TransactionRunner() {
        @Override
        public <T> T inTransaction(DataSource dataSource, Work<T> work) throws Exception {
            return TransactionRunner.jdbc().inTransaction(dataSource, work);
        }

        @Override
        public boolean supportsSavepoints() {
            return false;
        }
    };

    @Test
    void failingEventRollsBackTheBatchAndTheEventsBeforeItCommitOnceInOrder(TestDatabase db, TestKafka kafka)
            throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 1);
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            events.add(Event.of("order-" + (i % 10), i / 10));
        }
        Event poison = Event.of("poison", 0);
        Event flaky = Event.of("flaky", 0);
        Event flakyNext = Event.of("flaky", 1);
        events.add(20, poison);
        events.add(35, flaky);
        events.add(40, flakyNext);
        events.add(events.get(5)); // redelivered: a duplicate in the same batch
        produce(kafka, topic, events);
        Map<UUID, AtomicInteger> runs = new ConcurrentHashMap<>();
        InboxHandler handler = (event, tx) -> {
            int run = runs.computeIfAbsent(event.id(), id -> new AtomicInteger()).incrementAndGet();
            applyEffect(event, tx); // rolled back with the whole transaction when an event fails
            if (event.id().equals(poison.id())) {
                throw new FatalEventException("poison");
            }
            if (event.id().equals(flaky.id()) && run == 1) {
                throw new IllegalStateException("flaky, first attempt");
            }
        };
        String name = kafka.topic("billing");

        try (InboxConsumer inbox = inbox(db, kafka, name, topic, handler).dataSource(refusingSavepoints(db))
                .transactionRunner(NO_SAVEPOINTS).build()) {
            inbox.start();
            await().atMost(WAIT).until(() -> committed(kafka, name).equals(endOffsets(kafka, topic, 1))
                    && inbox.stats().processed() == 52);
            assertThat(inbox.stats().duplicates()).isEqualTo(1);
            assertThat(inbox.stats().deadLettered()).isEqualTo(1);
        }
        assertThat(db.count("SELECT count(*) FROM side_effect")).as("every event but the poison, once").isEqualTo(52);
        assertThat(db.count("SELECT count(*) FROM side_effect WHERE event_id = ?", poison.id())).isZero();
        assertThat(db.count("SELECT count(*) FROM inbox_event WHERE status = 'APPLIED'")).isEqualTo(52);
        assertThat(db.count("SELECT count(*) FROM inbox_event WHERE status = 'DEAD_LETTERED' AND event_id = ?",
                poison.id())).isEqualTo(1);
        assertAppliedInAggregateOrder(db); // flaky 0 before flaky 1, each order-N in its order
        assertThat(runs.get(poison.id()).get()).as("a fatal event runs once, as with savepoints").isEqualTo(1);
        assertThat(runs.get(flaky.id()).get()).as("failed once, then applied as its parked key's head").isEqualTo(2);
        assertThat(runs.values()).as("an event before a failure runs again once, in the redo")
                .allSatisfy(n -> assertThat(n.get()).isBetween(1, 2));
    }

    @Test
    void constraintCheckedAtCommitIsBlamedOnItsEventNotOnTheBatch(TestDatabase db, TestKafka kafka) throws Exception {
        createSideEffectTable(db);
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE side_ref (ref text NOT NULL, CONSTRAINT side_ref_unique UNIQUE (ref) "
                    + "DEFERRABLE INITIALLY DEFERRED)");
            st.execute("INSERT INTO side_ref (ref) VALUES ('taken')");
        }
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 1);
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            events.add(Event.of("order-" + (i % 8), i / 8));
        }
        Event clash = Event.of("clash", 0);
        Event clashNext = Event.of("clash", 1);
        events.add(23, clash);
        events.add(30, clashNext);
        produce(kafka, topic, events);
        Map<UUID, AtomicInteger> runs = new ConcurrentHashMap<>();
        InboxHandler handler = (event, tx) -> {
            runs.computeIfAbsent(event.id(), id -> new AtomicInteger()).incrementAndGet();
            applyEffect(event, tx);
            try (PreparedStatement ps = tx.prepareStatement("INSERT INTO side_ref (ref) VALUES (?)")) {
                // the handler returns; the duplicate 'taken' is refused only at COMMIT
                ps.setString(1, event.id().equals(clash.id()) ? "taken" : event.id().toString());
                ps.executeUpdate();
            }
        };
        String name = kafka.topic("billing");

        try (InboxConsumer inbox = inbox(db, kafka, name, topic, handler).dataSource(refusingSavepoints(db))
                .transactionRunner(NO_SAVEPOINTS).maxAttempts(2).build()) {
            inbox.start();
            await().atMost(WAIT).until(() -> committed(kafka, name).equals(endOffsets(kafka, topic, 1))
                    && inbox.stats().deadLettered() == 1);
            assertThat(inbox.stats().processed()).isEqualTo(40);
        }
        assertThat(db.count("SELECT count(*) FROM side_effect")).as("every event once; the clash and the event "
                + "behind it on its key not").isEqualTo(40);
        assertThat(db.count("SELECT count(*) FROM side_effect WHERE aggregate_id = 'clash'")).isZero();
        assertThat(db.count("SELECT count(*) FROM side_ref")).isEqualTo(41);
        assertThat(db.count("SELECT count(*) FROM inbox_event WHERE status = 'DEAD_LETTERED' AND event_id = ?",
                clash.id())).isEqualTo(1);
        assertThat(db.count("SELECT count(*) FROM inbox_parked_event WHERE event_id = ?", clashNext.id()))
                .as("waits behind the dead-lettered head of its key").isEqualTo(1);
        assertAppliedInAggregateOrder(db);
        List<ConsumerRecord<byte[], byte[]>> dead = kafka.readAll(name + ".dlt", 1, WAIT);
        assertThat(dead).hasSize(1);
        assertThat(header(dead.get(0), DeadLetterHeaders.EVENT_ID)).isEqualTo(clash.id().toString());
        assertThat(header(dead.get(0), DeadLetterHeaders.REASON)).isEqualTo(DeadLetterHeaders.REASON_HANDLER_FAILED);
        assertThat(header(dead.get(0), DeadLetterHeaders.ATTEMPTS)).isEqualTo("2");

        // the whole topic again under a new group: nothing applied twice, no handler runs
        runs.clear();
        try (InboxConsumer replay = inbox(db, kafka, name, topic, handler).dataSource(refusingSavepoints(db))
                .transactionRunner(NO_SAVEPOINTS).kafkaProperties(Map.of("bootstrap.servers", kafka.bootstrapServers(),
                        "group.id", kafka.topic("billing-replay"))).build()) {
            replay.start();
            await().atMost(WAIT).until(() -> committed(kafka, kafka.topic("billing-replay"))
                    .equals(endOffsets(kafka, topic, 1)));
            assertThat(replay.stats().processed()).isZero();
            assertThat(replay.stats().deadLettered()).isZero();
        }
        assertThat(runs).isEmpty();
        assertThat(db.count("SELECT count(*) FROM side_effect")).isEqualTo(40);
    }

    /** The test database through connections whose every savepoint call fails: proof that none is used. */
    static DataSource refusingSavepoints(TestDatabase db) {
        return new DelegatingDataSource(db.dataSource()) {
            @Override
            public Connection getConnection() throws SQLException {
                Connection real = delegate.getConnection();
                return (Connection) Proxy.newProxyInstance(Connection.class.getClassLoader(),
                        new Class<?>[] { Connection.class }, (proxy, method, args) -> {
                            if (method.getName().contains("Savepoint")
                                    || method.getName().equals("rollback") && args != null && args.length == 1) {
                                throw new SQLFeatureNotSupportedException("no savepoints in this test: " + method);
                            }
                            try {
                                return method.invoke(real, args);
                            } catch (InvocationTargetException e) {
                                throw e.getCause();
                            }
                        });
            }
        };
    }
}
