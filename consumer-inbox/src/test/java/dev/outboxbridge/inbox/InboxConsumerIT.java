package dev.outboxbridge.inbox;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.db.SchemaMismatchException;
import dev.outboxbridge.inbox.jooq.JooqInbox;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.jooq.SQLDialect;
import org.jooq.impl.DSL;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The inbox consumer against a real PostgreSQL and a real Kafka broker (from the testkit). Every
 * test produces records as the relay would (key = aggregate id, value = payload, headers
 * {@code id}, {@code eventType}, {@code aggregateType}) and checks the side effects in the
 * database: each event applied exactly once, offsets committed only for applied events.
 */
@ExtendWith(OutboxBridgeExtension.class)
class InboxConsumerIT {

    static final Duration WAIT = Duration.ofSeconds(60);

    // ---- X: effect once --------------------------------------------------------------------

    @Test
    void everyEventOfManyAggregatesIsAppliedOnceInAggregateOrder(TestDatabase db, TestKafka kafka) throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 3);
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            events.add(Event.of("order-" + (i % 20), i / 20));
        }
        produce(kafka, topic, events);
        String name = kafka.topic("billing");

        try (InboxConsumer inbox = inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect).build()) {
            inbox.start();
            assertThat(inbox.state()).isEqualTo(InboxConsumer.State.RUNNING);
            assertThat(threadNamed("outbox-inbox-" + name)).isTrue();

            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM side_effect") == 500);
            await().atMost(WAIT).until(() -> committed(kafka, name).equals(endOffsets(kafka, topic, 3)));
            InboxStats stats = inbox.stats();
            assertThat(stats.processed()).isEqualTo(500);
            assertThat(stats.duplicates()).isZero();
            assertThat(stats.failures()).isZero();
            await().atMost(WAIT).until(() -> inbox.stats().lastCommittedOffsets().equals(endOffsets(kafka, topic, 3)));
        }
        assertThat(db.count("SELECT count(DISTINCT event_id) FROM side_effect")).isEqualTo(500);
        assertThat(db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = ?", name)).isEqualTo(500);
        assertThat(db.count("SELECT count(*) FROM inbox_event i JOIN side_effect s USING (event_id)"
                + " WHERE i.kafka_partition = s.kafka_partition AND i.kafka_offset = s.kafka_offset")).isEqualTo(500);
        assertAppliedInAggregateOrder(db);
    }

    @Test
    void duplicateDeliveryAppliesEffectOnce(TestDatabase db, TestKafka kafka) throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 1);
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            events.add(Event.of("order-1", i));
        }
        events.add(events.get(3)); // the relay re-publishes an event after a crash
        produce(kafka, topic, events);
        String name = kafka.topic("billing");

        try (InboxConsumer inbox = inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect).build()) {
            inbox.start();
            await().atMost(WAIT).until(() -> inbox.stats().processed() + inbox.stats().duplicates() == 11);
            assertThat(inbox.stats().processed()).isEqualTo(10);
            assertThat(inbox.stats().duplicates()).isEqualTo(1);
        }

        // the same consumer under a new group re-reads everything from the beginning
        Map<String, Object> newGroup = Map.of("bootstrap.servers", kafka.bootstrapServers(),
                "group.id", kafka.topic("billing-replay"));
        try (InboxConsumer replay = inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect)
                .kafkaProperties(newGroup).build()) {
            replay.start();
            await().atMost(WAIT).until(() -> replay.stats().duplicates() == 11);
            assertThat(replay.stats().processed()).isZero();
            assertThat(replay.stats().failures()).isZero();
        }
        assertThat(db.count("SELECT count(*) FROM side_effect")).isEqualTo(10);
        assertThat(db.count("SELECT count(*) FROM side_effect WHERE event_id = ?", events.get(3).id)).isEqualTo(1);
    }

    @Test
    void rebalanceBetweenTwoInstancesAppliesEveryEventOnce(TestDatabase db, TestKafka kafka) throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 6);
        String name = kafka.topic("billing");
        List<List<Event>> chunks = new ArrayList<>();
        for (int chunk = 0; chunk < 3; chunk++) {
            List<Event> events = new ArrayList<>();
            for (int i = 0; i < 120; i++) {
                events.add(Event.of("order-" + (i % 12), chunk * 10 + i / 12));
            }
            chunks.add(events);
        }

        try (InboxConsumer first = inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect).build();
                InboxConsumer second = inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect).build()) {
            first.start();
            produce(kafka, topic, chunks.get(0));
            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM side_effect") == 120);

            second.start(); // partitions move to the second instance: the first commits them on revocation
            produce(kafka, topic, chunks.get(1));
            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM side_effect") == 240);

            first.close(); // the second instance takes every partition
            produce(kafka, topic, chunks.get(2));
            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM side_effect") == 360);
            await().atMost(WAIT).until(() -> committed(kafka, name).equals(endOffsets(kafka, topic, 6)));

            assertThat(first.stats().processed() + second.stats().processed()).isEqualTo(360);
            assertThat(first.stats().failures() + second.stats().failures()).isZero();
            assertThat(second.stats().processed()).isPositive();
        }
        assertAppliedInAggregateOrder(db);
    }

    @Test
    void topicPatternSubscribesToEveryMatchingTopic(TestDatabase db, TestKafka kafka) throws Exception {
        createSideEffectTable(db);
        String orders = kafka.topic("outbox.event.order");
        String payments = kafka.topic("outbox.event.payment");
        kafka.createTopic(orders, 1);
        kafka.createTopic(payments, 2);
        kafka.createTopic(kafka.topic("unrelated"), 1);
        produce(kafka, orders, events("order-1", 10));
        produce(kafka, payments, events("payment-1", 10));
        produce(kafka, kafka.topic("unrelated"), events("other-1", 10));
        String name = kafka.topic("billing");

        try (InboxConsumer inbox = inbox(db, kafka, name, orders, InboxConsumerIT::applyEffect)
                .topics(null).topicPattern(java.util.regex.Pattern.compile(
                        java.util.regex.Pattern.quote(kafka.topic("outbox.event.")) + ".*"))
                .build()) {
            inbox.start();
            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM side_effect") == 20);
        }
        assertThat(db.count("SELECT count(*) FROM side_effect WHERE aggregate_id = 'other-1'")).isZero();
    }

    // ---- retries ---------------------------------------------------------------------------

    @Test
    void failingHandlerIsRetriedWithBackoffWhileOtherPartitionsKeepFlowing(TestDatabase db, TestKafka kafka)
            throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 3);
        List<Event> failing = events("order-0", 5);
        List<Event> others = new ArrayList<>(events("order-1", 5));
        others.addAll(events("order-2", 5));
        Event flaky = failing.get(2);
        produce(kafka, topic, 0, failing);
        produce(kafka, topic, 1, others.subList(0, 5));
        produce(kafka, topic, 2, others.subList(5, 10));
        AtomicInteger flakyAttempts = new AtomicInteger();
        InboxHandler handler = (event, tx) -> {
            applyEffect(event, tx); // rolled back when the attempt fails
            if (event.id().equals(flaky.id) && flakyAttempts.incrementAndGet() <= 2) {
                throw new IllegalStateException("downstream unavailable (attempt " + flakyAttempts.get() + ")");
            }
        };
        // a frozen clock keeps the paused partition waiting until the test moves time on
        ManualClock clock = new ManualClock();
        String name = kafka.topic("billing");

        try (InboxConsumer inbox = inbox(db, kafka, name, topic, handler)
                .retryBackoff(Duration.ofMinutes(1), Duration.ofMinutes(10)).clock(clock).build()) {
            inbox.start();

            // first attempt failed; partition 0 waits, partitions 1 and 2 are applied meanwhile
            await().atMost(WAIT).until(() -> inbox.stats().failures() == 1
                    && effectsOf(db, others) == 10 && effectsOf(db, failing.subList(0, 2)) == 2);
            assertThat(effectsOf(db, failing.subList(2, 5))).isZero();

            clock.advance(Duration.ofMinutes(2));
            await().atMost(WAIT).until(() -> inbox.stats().failures() == 2);
            assertThat(effectsOf(db, failing.subList(2, 5))).isZero();

            clock.advance(Duration.ofMinutes(5));
            await().atMost(WAIT).until(() -> effectsOf(db, failing) == 5);
            assertThat(flakyAttempts.get()).isEqualTo(3);
            assertThat(inbox.stats().failures()).isEqualTo(2);
            assertThat(inbox.stats().processed()).isEqualTo(15);
            await().atMost(WAIT).until(() -> committed(kafka, name).get(new TopicPartition(topic, 0)) == 5L);
            assertThat(inbox.state()).isEqualTo(InboxConsumer.State.RUNNING);
        }
        assertThat(db.count("SELECT count(*) FROM side_effect WHERE event_id = ?", flaky.id)).isEqualTo(1);
        assertAppliedInAggregateOrder(db);
    }

    @Test
    void databaseOutageIsRetriedAndEveryEventAppliedOnce(TestDatabase db, TestKafka kafka) throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 2);
        FlakyDataSource dataSource = new FlakyDataSource(db.dataSource());
        String name = kafka.topic("billing");

        try (InboxConsumer inbox = inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect)
                .dataSource(dataSource).build()) {
            inbox.start();
            dataSource.down.set(true);
            produce(kafka, topic, events("order-1", 20));
            await().atMost(WAIT).until(() -> inbox.stats().failures() >= 3);
            assertThat(db.count("SELECT count(*) FROM side_effect")).isZero();
            assertThat(committed(kafka, name)).isEmpty();

            dataSource.down.set(false);
            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM side_effect") == 20);
            assertThat(inbox.stats().processed()).isEqualTo(20);
            assertThat(inbox.state()).isEqualTo(InboxConsumer.State.RUNNING);
        }
        assertAppliedInAggregateOrder(db);
    }

    // ---- records the inbox cannot dedupe ----------------------------------------------------

    @Test
    void badRecordsGoToTheDeadLetterTopicWithTheReasonAndTheRestFlows(TestDatabase db, TestKafka kafka)
            throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 1);
        produce(kafka, topic, events("order-1", 5));
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(InboxConsumerIT.producerProperties(kafka))) {
            RecordHeaders noId = new RecordHeaders();
            noId.add("eventType", "OrderPlaced".getBytes(UTF_8));
            producer.send(new ProducerRecord<>(topic, 0, "order-1".getBytes(UTF_8), "5".getBytes(UTF_8), noId))
                    .get(30, TimeUnit.SECONDS);
            RecordHeaders badId = new RecordHeaders();
            badId.add("id", "not-a-uuid".getBytes(UTF_8));
            producer.send(new ProducerRecord<>(topic, 0, "order-1".getBytes(UTF_8), "6".getBytes(UTF_8), badId))
                    .get(30, TimeUnit.SECONDS);
            RecordHeaders tombstone = new RecordHeaders();
            tombstone.add("id", UUID.randomUUID().toString().getBytes(UTF_8));
            producer.send(new ProducerRecord<>(topic, 0, "order-1".getBytes(UTF_8), null, tombstone))
                    .get(30, TimeUnit.SECONDS);
        }
        List<Event> after = events("order-2", 3);
        produce(kafka, topic, after);
        String name = kafka.topic("billing");

        try (InboxConsumer inbox = inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect).build()) {
            inbox.start();
            await().atMost(WAIT).until(() -> committed(kafka, name).getOrDefault(new TopicPartition(topic, 0), 0L) == 11L);
            assertThat(inbox.state()).isEqualTo(InboxConsumer.State.RUNNING);
            assertThat(inbox.stats().processed()).isEqualTo(8);
            assertThat(inbox.stats().deadLettered()).isEqualTo(3);
        }
        List<ConsumerRecord<byte[], byte[]>> dead = kafka.readAll(name + ".dlt", 3, WAIT);
        assertThat(dead).hasSize(3);
        assertThat(dead).extracting(r -> header(r, DeadLetterHeaders.ORIGINAL_OFFSET)).containsExactly("5", "6", "7");
        assertThat(dead).allSatisfy(r -> {
            assertThat(header(r, DeadLetterHeaders.ORIGINAL_TOPIC)).isEqualTo(topic);
            assertThat(header(r, DeadLetterHeaders.ORIGINAL_PARTITION)).isEqualTo("0");
            assertThat(header(r, DeadLetterHeaders.REASON)).isEqualTo(DeadLetterHeaders.REASON_BAD_RECORD);
            assertThat(header(r, DeadLetterHeaders.EXCEPTION_CLASS))
                    .isEqualTo(UnprocessableRecordException.class.getName());
            assertThat(header(r, DeadLetterHeaders.ATTEMPTS)).isEqualTo("0");
        });
        assertThat(header(dead.get(0), DeadLetterHeaders.EXCEPTION_MESSAGE)).contains("header 'id'", "missing");
        assertThat(header(dead.get(1), DeadLetterHeaders.EXCEPTION_MESSAGE)).contains("not-a-uuid");
        assertThat(header(dead.get(2), DeadLetterHeaders.EXCEPTION_MESSAGE)).contains("tombstone");
        assertThat(new String(dead.get(0).value(), UTF_8)).isEqualTo("5");
        assertThat(dead.get(2).value()).isNull();
        assertThat(db.count("SELECT count(*) FROM side_effect")).isEqualTo(8);
        assertThat(effectsOf(db, after)).isEqualTo(3);
    }

    // ---- lifecycle ----------------------------------------------------------------------------

    @Test
    void closeLetsTheRecordInFlightFinishAndCommitsWhatWasApplied(TestDatabase db, TestKafka kafka) throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 1);
        List<Event> events = events("order-1", 100);
        produce(kafka, topic, events);
        CountDownLatch inFlight = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        InboxHandler handler = (event, tx) -> {
            applyEffect(event, tx);
            if (event.id().equals(events.get(50).id)) {
                inFlight.countDown();
                release.await();
            }
        };
        String name = kafka.topic("billing");

        InboxConsumer inbox = inbox(db, kafka, name, topic, handler).closeTimeout(WAIT).build();
        inbox.start();
        assertThat(inFlight.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        Future<?> closing = CompletableFuture.runAsync(inbox::close);
        await().atMost(WAIT).until(() -> inbox.state() == InboxConsumer.State.STOPPING);
        assertThat(closing).isNotDone();
        release.countDown();

        closing.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertThat(inbox.state()).isEqualTo(InboxConsumer.State.STOPPED);
        assertThat(inbox.failure()).isEmpty();
        assertThat(threadNamed("outbox-inbox-" + name)).isFalse();
        assertThat(db.count("SELECT count(*) FROM side_effect")).isEqualTo(51);
        assertThat(committed(kafka, name)).containsEntry(new TopicPartition(topic, 0), 51L);
        assertThat(inbox.stats().lastCommittedOffsets()).containsEntry(new TopicPartition(topic, 0), 51L);
        inbox.close(); // idempotent
        assertThatThrownBy(inbox::start).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("not in expected state NEW, current state is STOPPED");

        // a new instance continues exactly where the first one committed
        try (InboxConsumer next = inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect).build()) {
            next.start();
            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM side_effect") == 100);
            assertThat(next.stats().processed()).isEqualTo(49);
            assertThat(next.stats().duplicates()).isZero();
        }
    }

    @Test
    void closeReturnsAfterItsTimeoutWhenTheHandlerIsStuck(TestDatabase db, TestKafka kafka) throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 1);
        produce(kafka, topic, events("order-1", 3));
        CountDownLatch inFlight = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        InboxHandler handler = (event, tx) -> {
            applyEffect(event, tx);
            inFlight.countDown();
            release.await();
        };
        String name = kafka.topic("billing");

        InboxConsumer inbox = inbox(db, kafka, name, topic, handler).closeTimeout(Duration.ofMillis(200)).build();
        inbox.start();
        assertThat(inFlight.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        CompletableFuture.runAsync(inbox::close).get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertThat(inbox.state()).isEqualTo(InboxConsumer.State.STOPPING);

        release.countDown();
        await().atMost(WAIT).until(() -> inbox.state() == InboxConsumer.State.STOPPED);
        assertThat(db.count("SELECT count(*) FROM side_effect")).isEqualTo(1);
        assertThat(committed(kafka, name)).containsEntry(new TopicPartition(topic, 0), 1L);
    }

    @Test
    void startRefusesAMissingInboxTable(TestDatabase db, TestKafka kafka) {
        String topic = kafka.topic("order");
        InboxConsumer inbox = inbox(db, kafka, kafka.topic("billing"), topic, (e, tx) -> { })
                .inboxTable("public.no_such_inbox").build();

        assertThatThrownBy(inbox::start)
                .isInstanceOf(SchemaMismatchException.class)
                .hasMessageContaining("public.no_such_inbox")
                .hasMessageContaining("migrate()");
        assertThat(inbox.state()).isEqualTo(InboxConsumer.State.FAILED);
        assertThat(inbox.failure()).get().isInstanceOf(SchemaMismatchException.class);
        inbox.close();
        assertThatThrownBy(inbox::start)
                .hasMessageContaining("not in expected state NEW, current state is FAILED");
    }

    @Test
    void missingDeadLetterTopicDoesNotStopTheConsumerAndADeadLetterWaitsForIt(TestDatabase db, TestKafka kafka)
            throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 1);
        String missing = kafka.topic("not-yet-dlt");
        String name = kafka.topic("billing");
        produce(kafka, topic, events("order-1", 2));
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(InboxConsumerIT.producerProperties(kafka))) {
            producer.send(new ProducerRecord<>(topic, 0, "order-1".getBytes(UTF_8), "2".getBytes(UTF_8),
                    new RecordHeaders())).get(30, TimeUnit.SECONDS);
        }
        List<Event> after = events("order-2", 2);
        produce(kafka, topic, after);

        try (InboxConsumer inbox = inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect).deadLetterTopic(missing)
                .deadLetterProducerProperties(Map.of("max.block.ms", 500)).build()) {
            inbox.start();
            assertThat(inbox.state()).isEqualTo(InboxConsumer.State.RUNNING);
            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM side_effect") == 2
                    && inbox.stats().failures() >= 2);
            assertThat(committed(kafka, name)).containsEntry(new TopicPartition(topic, 0), 2L);
            assertThat(effectsOf(db, after)).isZero();

            kafka.createTopic(missing, 1);
            await().atMost(WAIT).until(() -> inbox.stats().deadLettered() == 1 && effectsOf(db, after) == 2);
            await().atMost(WAIT).until(() -> committed(kafka, name).get(new TopicPartition(topic, 0)) == 5L);
            assertThat(inbox.state()).isEqualTo(InboxConsumer.State.RUNNING);
        }
    }

    // ---- jOOQ ---------------------------------------------------------------------------------

    @Test
    void jooqHandlerWritesInTheInboxTransaction(TestDatabase db, TestKafka kafka) throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 1);
        List<Event> events = events("order-1", 10);
        produce(kafka, topic, events);
        AtomicBoolean failedOnce = new AtomicBoolean();
        InboxHandler handler = JooqInbox.handler(SQLDialect.POSTGRES, (event, dsl) -> {
            dsl.insertInto(DSL.table("side_effect"))
                    .columns(DSL.field("event_id"), DSL.field("aggregate_id"), DSL.field("event_seq"),
                            DSL.field("kafka_partition"), DSL.field("kafka_offset"))
                    .values(event.id(), event.key(), Integer.parseInt(event.payloadAsString()), event.partition(),
                            event.offset())
                    .execute();
            if (event.id().equals(events.get(4).id) && failedOnce.compareAndSet(false, true)) {
                throw new IllegalStateException("first attempt fails after the jOOQ write");
            }
        });
        String name = kafka.topic("billing");

        try (InboxConsumer inbox = inbox(db, kafka, name, topic, handler).build()) {
            inbox.start();
            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM side_effect") == 10
                    && inbox.stats().processed() == 10);
            assertThat(inbox.stats().failures()).isEqualTo(1);
        }
        assertThat(db.count("SELECT count(*) FROM side_effect WHERE event_id = ?", events.get(4).id)).isEqualTo(1);
        assertThat(db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = ?", name)).isEqualTo(10);
        assertAppliedInAggregateOrder(db);
    }

    // ---- helpers --------------------------------------------------------------------------------

    /** An event as the relay would publish it. */
    record Event(UUID id, String aggregateId, int seq) {
        static Event of(String aggregateId, int seq) {
            return new Event(UUID.randomUUID(), aggregateId, seq);
        }
    }

    static List<Event> events(String aggregateId, int count) {
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            events.add(Event.of(aggregateId, i));
        }
        return events;
    }

    static InboxConsumer.Builder inbox(TestDatabase db, TestKafka kafka, String name, String topic,
            InboxHandler handler) {
        if (!kafkaTopicExists(kafka, name + ".dlt")) {
            kafka.createTopic(name + ".dlt", 1);
        }
        return InboxConsumer.builder()
                .consumerName(name)
                .kafkaProperties(Map.of("bootstrap.servers", kafka.bootstrapServers()))
                .topics(List.of(topic))
                .dataSource(db.dataSource())
                .handler(handler)
                .retryBackoff(Duration.ofMillis(10), Duration.ofMillis(200))
                .parkedKeyCheckInterval(Duration.ofMillis(50));
    }

    /**
     * The testkit's producer settings with one request in flight: right after a topic is created, the
     * embedded broker may refuse a partition's first batch (NOT_LEADER_OR_FOLLOWER) yet accept a later
     * one as the producer's first, after which the retried first batch fails for ever with
     * OUT_OF_ORDER_SEQUENCE_NUMBER. One request in flight keeps the batches in order.
     */
    static java.util.Properties producerProperties(TestKafka kafka) {
        java.util.Properties props = kafka.producerProperties();
        props.put("max.in.flight.requests.per.connection", 1);
        return props;
    }

    static boolean kafkaTopicExists(TestKafka kafka, String topic) {
        try {
            return kafka.admin().listTopics().names().get(30, TimeUnit.SECONDS).contains(topic);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static String header(ConsumerRecord<byte[], byte[]> record, String name) {
        org.apache.kafka.common.header.Header h = record.headers().lastHeader(name);
        return h == null || h.value() == null ? null : new String(h.value(), UTF_8);
    }

    static void createSideEffectTable(TestDatabase db) throws SQLException {
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE side_effect (applied_seq bigserial, event_id uuid PRIMARY KEY,"
                    + " aggregate_id text NOT NULL, event_seq int NOT NULL, kafka_partition int NOT NULL,"
                    + " kafka_offset bigint NOT NULL)");
        }
    }

    /** The side effect: one row per event; a second application would violate the primary key. */
    static void applyEffect(InboxEvent event, Connection tx) throws SQLException {
        try (PreparedStatement ps = tx.prepareStatement("INSERT INTO side_effect"
                + " (event_id, aggregate_id, event_seq, kafka_partition, kafka_offset) VALUES (?, ?, ?, ?, ?)")) {
            ps.setObject(1, event.id());
            ps.setString(2, event.key());
            ps.setInt(3, Integer.parseInt(event.payloadAsString()));
            ps.setInt(4, event.partition());
            ps.setLong(5, event.offset());
            ps.executeUpdate();
        }
    }

    static long effectsOf(TestDatabase db, List<Event> events) throws SQLException {
        UUID[] ids = events.stream().map(Event::id).toArray(UUID[]::new);
        try (Connection c = db.connect();
                PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM side_effect WHERE event_id = ANY (?)")) {
            ps.setArray(1, c.createArrayOf("uuid", ids));
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /** Per aggregate, the events were applied in the order they were produced. */
    static void assertAppliedInAggregateOrder(TestDatabase db) throws SQLException {
        Map<String, Integer> last = new HashMap<>();
        try (Connection c = db.connect(); Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT aggregate_id, event_seq FROM side_effect ORDER BY applied_seq")) {
            while (rs.next()) {
                String aggregate = rs.getString(1);
                int seq = rs.getInt(2);
                Integer previous = last.put(aggregate, seq);
                assertThat(seq).as("event_seq of %s after %s", aggregate, previous)
                        .isEqualTo(previous == null ? 0 : previous + 1);
            }
        }
    }

    static void produce(TestKafka kafka, String topic, List<Event> events) throws Exception {
        produce(kafka, topic, null, events);
    }

    static void produce(TestKafka kafka, String topic, Integer partition, List<Event> events)
            throws Exception {
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(InboxConsumerIT.producerProperties(kafka))) {
            List<Future<RecordMetadata>> sends = new ArrayList<>();
            for (Event e : events) {
                RecordHeaders headers = new RecordHeaders();
                headers.add("id", e.id.toString().getBytes(UTF_8));
                headers.add("eventType", "OrderPlaced".getBytes(UTF_8));
                headers.add("aggregateType", "order".getBytes(UTF_8));
                headers.add("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".getBytes(UTF_8));
                sends.add(producer.send(new ProducerRecord<>(topic, partition, e.aggregateId.getBytes(UTF_8),
                        Integer.toString(e.seq).getBytes(UTF_8), headers)));
            }
            for (Future<RecordMetadata> send : sends) {
                send.get(30, TimeUnit.SECONDS);
            }
        }
    }

    /** The group's committed offsets (next offset to read) per partition. */
    static Map<TopicPartition, Long> committed(TestKafka kafka, String groupId) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> offsets = kafka.admin().listConsumerGroupOffsets(groupId)
                .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
        Map<TopicPartition, Long> result = new HashMap<>();
        offsets.forEach((tp, o) -> {
            if (o != null) {
                result.put(tp, o.offset());
            }
        });
        return result;
    }

    static Map<TopicPartition, Long> endOffsets(TestKafka kafka, String topic, int partitions)
            throws Exception {
        Map<TopicPartition, OffsetSpec> request = new HashMap<>();
        for (int p = 0; p < partitions; p++) {
            request.put(new TopicPartition(topic, p), OffsetSpec.latest());
        }
        Map<TopicPartition, Long> result = new HashMap<>();
        kafka.admin().listOffsets(request).all().get(30, TimeUnit.SECONDS)
                .forEach((tp, info) -> result.put(tp, info.offset()));
        return result;
    }

    static boolean threadNamed(String name) {
        return Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals(name) && t.isAlive());
    }

    /** A clock that stands still until the test moves it. */
    static final class ManualClock extends Clock {
        private final AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2025-01-01T00:00:00Z"));

        void advance(Duration d) {
            now.updateAndGet(t -> t.plus(d));
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now.get();
        }
    }

    /** Delegates to a real data source, but refuses connections while {@link #down} is set. */
    static final class FlakyDataSource extends DelegatingDataSource {
        final AtomicBoolean down = new AtomicBoolean();

        FlakyDataSource(DataSource delegate) {
            super(delegate);
        }

        @Override
        public Connection getConnection() throws SQLException {
            if (down.get()) {
                throw new SQLTransientConnectionException("database is down (simulated)", "08001");
            }
            return delegate.getConnection();
        }
    }
}
