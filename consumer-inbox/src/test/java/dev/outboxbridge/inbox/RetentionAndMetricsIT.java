package dev.outboxbridge.inbox;

import static dev.outboxbridge.inbox.InboxConsumerIT.WAIT;
import static dev.outboxbridge.inbox.InboxConsumerIT.applyEffect;
import static dev.outboxbridge.inbox.InboxConsumerIT.createSideEffectTable;
import static dev.outboxbridge.inbox.InboxConsumerIT.events;
import static dev.outboxbridge.inbox.InboxConsumerIT.inbox;
import static dev.outboxbridge.inbox.InboxConsumerIT.produce;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.inbox.InboxConsumerIT.Event;
import dev.outboxbridge.inbox.InboxConsumerIT.ManualClock;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Inbox retention with an injected clock, and the Micrometer metrics. */
@ExtendWith(OutboxBridgeExtension.class)
class RetentionAndMetricsIT {

    @Test
    void inboxRowsOlderThanTheRetentionAreRemovedInBatchesByTheInjectedClock(TestDatabase db, TestKafka kafka)
            throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 1);
        String name = kafka.topic("billing");
        ManualClock clock = new ManualClock();
        Instant start = clock.instant();
        // another consumer's old row is not this consumer's to remove
        try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement("INSERT INTO inbox_event"
                + " (consumer_name, event_id, topic, kafka_partition, kafka_offset, processed_at) VALUES (?, ?, ?, 0, 0, ?)")) {
            ps.setString(1, "someone-else");
            ps.setObject(2, UUID.randomUUID());
            ps.setString(3, topic);
            ps.setTimestamp(4, Timestamp.from(start.minus(Duration.ofDays(365))));
            ps.executeUpdate();
        }
        List<Event> old = events("order-1", 30);
        List<Event> recent = new ArrayList<>();
        for (int i = 30; i < 40; i++) {
            recent.add(new Event(UUID.randomUUID(), "order-1", i));
        }

        try (InboxConsumer inbox = inbox(db, kafka, name, topic, InboxConsumerIT::applyEffect).clock(clock)
                .retention(Duration.ofDays(1)).cleanupInterval(Duration.ofMinutes(1)).cleanupBatchSize(7).build()) {
            inbox.start();
            produce(kafka, topic, old);
            await().atMost(WAIT).until(() -> inbox.stats().processed() == 30);
            clock.advance(Duration.ofHours(12));
            produce(kafka, topic, recent);
            await().atMost(WAIT).until(() -> inbox.stats().processed() == 40);
            assertThat(db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = ?", name)).isEqualTo(40);

            clock.advance(Duration.ofHours(13)); // the first 30 are now 25 h old, the last 10 are 13 h old
            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = ?",
                    name) == 10);
            assertThat(db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = ? AND processed_at = ?", name,
                    Timestamp.from(start.plus(Duration.ofHours(12))))).isEqualTo(10);
        }
        assertThat(db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = 'someone-else'")).isEqualTo(1);
        assertThat(db.count("SELECT count(*) FROM side_effect")).isEqualTo(40);
    }

    @Test
    void metricsCountWhatHappensAndMeasureLatency(TestDatabase db, TestKafka kafka) throws Exception {
        createSideEffectTable(db);
        String topic = kafka.topic("order");
        kafka.createTopic(topic, 2);
        List<Event> events = new ArrayList<>(events("order-1", 10));
        events.addAll(events("order-2", 5));
        events.add(events.get(3)); // redelivered
        Event poison = events.get(11); // order-2 #1: order-2 #2..#4 wait behind it
        produce(kafka, topic, events);
        InboxHandler handler = (event, tx) -> {
            if (event.id().equals(poison.id())) {
                throw FatalEventException.unknownEventType(event);
            }
            applyEffect(event, tx);
        };
        MeterRegistry registry = new SimpleMeterRegistry();
        String name = kafka.topic("billing");
        Tags tags = Tags.of("consumer", name);

        try (InboxConsumer inbox = inbox(db, kafka, name, topic, handler).meterRegistry(registry).build()) {
            inbox.start();
            await().atMost(WAIT).until(() -> registry.get("outbox.inbox.processed").tags(tags).functionCounter()
                    .count() == 11 && registry.get("outbox.inbox.parked.keys").tags(tags).gauge().value() == 1);
            assertThat(registry.get("outbox.inbox.duplicates").tags(tags).functionCounter().count()).isEqualTo(1);
            assertThat(registry.get("outbox.inbox.dead.lettered").tags(tags).functionCounter().count()).isEqualTo(1);
            assertThat(registry.get("outbox.inbox.failures").tags(tags).functionCounter().count()).isEqualTo(1);
            assertThat(registry.get("outbox.inbox.parked.events").tags(tags).functionCounter().count()).isEqualTo(4);
            assertThat(registry.get("outbox.inbox.retries").tags(tags).functionCounter().count()).isZero();
            // every handler run: 11 applied + the poison's; order-2 #0 runs a second time when it shared the poison's batch
            // (an optimistic batch is rolled back and the events before the failing one are applied again)
            assertThat(registry.get("outbox.inbox.handler.latency").tags(tags).timer().count()).isBetween(12L, 13L);
            assertThat(registry.get("outbox.inbox.end.to.end.latency").tags(tags).timer().count()).isEqualTo(11);
            await().atMost(WAIT).until(() -> registry.get("outbox.inbox.lag").tags(tags).gauge().value() == 0);
        }
        assertThat(registry.find("outbox.inbox.processed").tags(tags).meters()).isEmpty(); // removed on close
    }
}
