package dev.outboxbridge.inbox;

import static dev.outboxbridge.inbox.InboxConsumerIT.WAIT;
import static dev.outboxbridge.inbox.InboxConsumerIT.applyEffect;
import static dev.outboxbridge.inbox.InboxConsumerIT.assertAppliedInAggregateOrder;
import static dev.outboxbridge.inbox.InboxConsumerIT.committed;
import static dev.outboxbridge.inbox.InboxConsumerIT.createSideEffectTable;
import static dev.outboxbridge.inbox.InboxConsumerIT.endOffsets;
import static dev.outboxbridge.inbox.InboxConsumerIT.events;
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
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Group membership changes, crashes between the database commit and the offset commit, slow handlers. */
@ExtendWith(OutboxBridgeExtension.class)
class RebalanceIT {

    @Test
    void consumerKilledAfterDbCommitBeforeOffsetCommitAppliesOnce(TestDatabase db, TestKafka kafka) throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 1);
        List<Event> events = events("order-1", 50);
        String name = kafka.topic("billing");
        CrashingDataSource crashing = new CrashingDataSource(db.dataSource());

        InboxConsumer first = inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect).dataSource(crashing).build();
        try (first) {
            first.start();
            produce(kafka, topic, events.subList(0, 20));
            await().atMost(WAIT).until(() -> first.stats().processed() == 20);
            await().atMost(WAIT).until(() -> committed(kafka, name).getOrDefault(new org.apache.kafka.common.TopicPartition(topic, 0), 0L) == 20L);
            crashing.crashAfterNextCommit.set(true); // the process dies right after its next database commit
            produce(kafka, topic, events.subList(20, 50));
            await().atMost(WAIT).until(() -> first.state() == InboxConsumer.State.FAILED);
        }
        assertThat(first.failure()).get().isInstanceOf(SimulatedCrash.class);
        long appliedBeforeCrash = db.count("SELECT count(*) FROM side_effect");
        assertThat(appliedBeforeCrash).isGreaterThan(20);
        // the crashed run's offsets were never committed
        assertThat(committed(kafka, name)).containsEntry(new org.apache.kafka.common.TopicPartition(topic, 0), 20L);

        try (InboxConsumer second = inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect).build()) {
            second.start();
            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM side_effect") == 50
                    && committed(kafka, name).equals(endOffsets(kafka, topic, 1)));
            assertThat(second.stats().duplicates()).isEqualTo(appliedBeforeCrash - 20); // redelivered, skipped
            assertThat(second.stats().processed()).isEqualTo(50 - appliedBeforeCrash);
            assertThat(second.stats().failures()).isZero();
        }
        assertAppliedInAggregateOrder(db);
    }

    @Test
    void threeConsumersJoiningLeavingAndCrashingApplyEveryEventOnce(TestDatabase db, TestKafka kafka) throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 6);
        String name = kafka.topic("billing");
        List<List<Event>> chunks = new ArrayList<>();
        for (int chunk = 0; chunk < 5; chunk++) {
            List<Event> events = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                events.add(Event.of("order-" + (i % 40), chunk * 5 + i / 40));
            }
            chunks.add(events);
        }
        CrashingDataSource crashing = new CrashingDataSource(db.dataSource());
        List<InboxConsumer> all = new ArrayList<>();
        try {
            InboxConsumer a = started(all, inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect));
            produce(kafka, topic, chunks.get(0));
            InboxConsumer b = started(all, inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect));
            InboxConsumer c = started(all, inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect)
                    .dataSource(crashing));
            produce(kafka, topic, chunks.get(1));
            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM side_effect") >= 300);

            crashing.crashAfterNextCommit.set(true); // c dies after a database commit, before its offset commit
            produce(kafka, topic, chunks.get(2));
            await().atMost(WAIT).until(() -> c.state() == InboxConsumer.State.FAILED
                    || db.count("SELECT count(*) FROM side_effect") == 600);
            a.close(); // leaves cleanly while b is alone
            produce(kafka, topic, chunks.get(3));
            InboxConsumer d = started(all, inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect));
            produce(kafka, topic, chunks.get(4));

            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM side_effect") == 1000);
            await().atMost(WAIT).until(() -> committed(kafka, name).equals(endOffsets(kafka, topic, 6)));
            assertThat(b.state()).isEqualTo(InboxConsumer.State.RUNNING);
            assertThat(d.state()).isEqualTo(InboxConsumer.State.RUNNING);
            long processed = all.stream().mapToLong(i -> i.stats().processed()).sum();
            long failures = all.stream().mapToLong(i -> i.stats().failures()).sum();
            long parked = all.stream().mapToLong(i -> i.stats().parked()).sum();
            // a second application would violate side_effect's primary key and show as a failure
            assertThat(failures).isZero();
            assertThat(parked).isZero();
            // the crashed member's last run committed in the database but died before it counted it
            assertThat(processed).isLessThanOrEqualTo(1000).isGreaterThanOrEqualTo(500);
        } finally {
            all.forEach(InboxConsumer::close);
        }
        assertThat(db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = ?", name)).isEqualTo(1000);
        assertAppliedInAggregateOrder(db);
    }

    @Test
    void slowHandlerDoesNotTriggerRebalanceStorm(TestDatabase db, TestKafka kafka) throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 1);
        List<Event> events = events("order-1", 30);
        produce(kafka, topic, events);
        Map<UUID, AtomicInteger> runs = new ConcurrentHashMap<>();
        InboxHandler slow = (event, tx) -> {
            runs.computeIfAbsent(event.id(), id -> new AtomicInteger()).incrementAndGet();
            Thread.sleep(200); // 30 events take 6 s, twice max.poll.interval.ms
            applyEffect(event, tx);
        };
        String name = kafka.topic("billing");

        try (InboxConsumer inbox = inbox(db, kafka, name, topic, slow)
                .kafkaProperties(Map.of("bootstrap.servers", kafka.bootstrapServers(),
                        "max.poll.interval.ms", 3000, "session.timeout.ms", 10000, "heartbeat.interval.ms", 1000))
                .build()) {
            inbox.start();
            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM side_effect") == 30);
            await().atMost(WAIT).until(() -> committed(kafka, name).equals(endOffsets(kafka, topic, 1)));
            assertThat(inbox.stats().duplicates()).isZero(); // no eviction: nothing was read twice
            assertThat(inbox.stats().processed()).isEqualTo(30);
            assertThat(inbox.state()).isEqualTo(InboxConsumer.State.RUNNING);
        }
        assertThat(runs.values()).hasSize(30).allSatisfy(n -> assertThat(n.get()).isEqualTo(1));
    }

    private static InboxConsumer started(List<InboxConsumer> all, InboxConsumer.Builder builder) {
        InboxConsumer consumer = builder.build();
        all.add(consumer);
        consumer.start();
        return consumer;
    }

    /** The simulated death of the process. */
    static final class SimulatedCrash extends Error {
        private static final long serialVersionUID = 1L;

        SimulatedCrash() {
            super("simulated crash right after a database commit, before the Kafka offset commit");
        }
    }

    /**
     * A real data source whose connections throw {@link SimulatedCrash} right after one real commit of
     * a transaction that wrote inbox rows, once.
     */
    static final class CrashingDataSource extends DelegatingDataSource {
        final AtomicBoolean crashAfterNextCommit = new AtomicBoolean();

        CrashingDataSource(DataSource delegate) {
            super(delegate);
        }

        @Override
        public Connection getConnection() throws SQLException {
            Connection real = delegate.getConnection();
            AtomicBoolean wroteInbox = new AtomicBoolean();
            return (Connection) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {Connection.class},
                    (proxy, method, args) -> {
                        if (method.getName().equals("prepareStatement") && args[0].toString().startsWith("INSERT INTO")
                                && args[0].toString().contains("inbox_event")) {
                            wroteInbox.set(true);
                        }
                        Object result;
                        try {
                            result = method.invoke(real, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                        if (method.getName().equals("commit") && wroteInbox.get()
                                && crashAfterNextCommit.compareAndSet(true, false)) {
                            throw new SimulatedCrash();
                        }
                        return result;
                    });
        }
    }
}
