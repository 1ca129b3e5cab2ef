package dev.outboxbridge.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.outboxbridge.demo.Workload.Kind;
import dev.outboxbridge.demo.Workload.WrittenEvent;
import dev.outboxbridge.inbox.DeadLetterHeaders;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The checker's rules for poison and oversized events, on histories written by hand into real topics
 * and a real effects table: a correct history passes (an aggregate's oversized version is a gap the
 * topic may have), and each misplaced event is reported under the guarantee it breaks.
 */
@ExtendWith(OutboxBridgeExtension.class)
class HistoryCheckerIT {

    private static WrittenEvent event(String order, int version, Kind kind) {
        return new WrittenEvent(UUID.randomUUID(), order, version, 10L * version, kind);
    }

    private record Topics(String topic, String relayDeadLetters, String consumerDeadLetters) {
    }

    private static Topics topics(TestKafka kafka) {
        Topics t = new Topics(kafka.topic("outbox.event.order"), kafka.topic("relay.dlt"), kafka.topic("billing.dlt"));
        kafka.createTopic(t.topic(), 1);
        kafka.createTopic(t.relayDeadLetters(), 1);
        kafka.createTopic(t.consumerDeadLetters(), 1);
        return t;
    }

    /** As the relay publishes an event. */
    private static ProducerRecord<byte[], byte[]> published(String topic, WrittenEvent e) {
        RecordHeaders headers = new RecordHeaders();
        headers.add("id", e.id().toString().getBytes(StandardCharsets.UTF_8));
        headers.add("eventType", Workload.EVENT_TYPE.getBytes(StandardCharsets.UTF_8));
        return new ProducerRecord<>(topic, null, e.orderId().getBytes(StandardCharsets.UTF_8),
                Workload.payload(e.kind(), e.orderId(), e.version(), e.amount()).getBytes(StandardCharsets.UTF_8), headers);
    }

    /** As the relay dead-letters an event too large for {@code intended}: no payload, the reason and the intended topic. */
    private static ProducerRecord<byte[], byte[]> divertedByRelay(Topics t, WrittenEvent e) {
        ProducerRecord<byte[], byte[]> r = published(t.relayDeadLetters(), e);
        r.headers().add(HistoryChecker.RELAY_DLQ_REASON, "RecordTooLargeException: larger than max.message.bytes".getBytes(StandardCharsets.UTF_8));
        r.headers().add(HistoryChecker.RELAY_DLQ_TOPIC, t.topic().getBytes(StandardCharsets.UTF_8));
        return new ProducerRecord<>(r.topic(), null, r.key(), null, r.headers());
    }

    /** As the inbox consumer dead-letters an event. */
    private static ProducerRecord<byte[], byte[]> deadLetteredByConsumer(Topics t, WrittenEvent e, String reason) {
        ProducerRecord<byte[], byte[]> r = published(t.consumerDeadLetters(), e);
        r.headers().add(DeadLetterHeaders.EVENT_ID, e.id().toString().getBytes(StandardCharsets.UTF_8));
        r.headers().add(DeadLetterHeaders.REASON, reason.getBytes(StandardCharsets.UTF_8));
        r.headers().add(DeadLetterHeaders.ATTEMPTS, "1".getBytes(StandardCharsets.UTF_8));
        return r;
    }

    private static void send(TestKafka kafka, List<ProducerRecord<byte[], byte[]>> records) throws Exception {
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(kafka.producerProperties())) {
            for (ProducerRecord<byte[], byte[]> r : records) {
                producer.send(r).get(30, TimeUnit.SECONDS);
            }
        }
    }

    private static void applied(TestDatabase billing, WrittenEvent... events) throws Exception {
        try (Connection c = billing.connect(); PreparedStatement ps = c.prepareStatement(
                "INSERT INTO " + DemoRun.EFFECTS_TABLE + " (event_id, order_id, version, amount) VALUES (?, ?, ?, ?)")) {
            for (WrittenEvent e : events) {
                ps.setObject(1, e.id());
                ps.setString(2, e.orderId());
                ps.setInt(3, e.version());
                ps.setLong(4, e.amount());
                ps.executeUpdate();
            }
        }
    }

    @Test
    void poisonInTheTopicAndTheConsumersDeadLettersAndOversizedInTheRelaysDeadLettersIsACorrectHistory(TestDatabase billing,
            TestKafka kafka) throws Exception {
        DemoRun.createBillingSchema(billing);
        Topics t = topics(kafka);
        WrittenEvent v1 = event("order-1", 1, Kind.NORMAL);
        WrittenEvent v2 = event("order-1", 2, Kind.OVERSIZED);
        WrittenEvent v3 = event("order-1", 3, Kind.POISON);
        WrittenEvent v4 = event("order-1", 4, Kind.NORMAL);
        send(kafka, List.of(published(t.topic(), v1), divertedByRelay(t, v2), published(t.topic(), v3), published(t.topic(), v4),
                deadLetteredByConsumer(t, v3, DeadLetterHeaders.REASON_HANDLER_FATAL),
                deadLetteredByConsumer(t, v3, DeadLetterHeaders.REASON_HANDLER_FATAL))); // dead letters are at least once
        applied(billing, v1, v4);

        HistoryChecker.Verdict v = HistoryChecker.check(List.of(v1, v2, v3, v4), List.of(), kafka.bootstrapServers(), t.topic(),
                t.relayDeadLetters(), t.consumerDeadLetters(), billing.dataSource(), DemoRun.EFFECTS_TABLE);

        assertThat(v.lost()).isEmpty();
        assertThat(v.phantoms()).isEmpty();
        assertThat(v.orderViolations()).as("v2 is in the relay's dead letters: v1, v3, v4 is the order's topic history").isEmpty();
        assertThat(v.effectViolations()).isEmpty();
        assertThat(v.deadLetters()).isEqualTo(new HistoryChecker.DeadLetters(1, 1, 1, 0, 1, 1, 0, 0, 1, 2));
        assertThat(v.effectsApplied()).isEqualTo(2);
    }

    @Test
    void misplacedPoisonAndOversizedEventsAreReportedUnderTheGuaranteeTheyBreak(TestDatabase billing, TestKafka kafka)
            throws Exception {
        DemoRun.createBillingSchema(billing);
        Topics t = topics(kafka);
        WrittenEvent v1 = event("order-2", 1, Kind.NORMAL);
        WrittenEvent v2 = event("order-2", 2, Kind.OVERSIZED); // in the topic instead of the relay's dead letters
        WrittenEvent v3 = event("order-2", 3, Kind.NORMAL); // dead-lettered by the relay, so missing from the topic
        WrittenEvent v4 = event("order-2", 4, Kind.POISON); // applied, and not in the consumer's dead letters
        WrittenEvent v5 = event("order-2", 5, Kind.NORMAL); // dead-lettered by the consumer instead of applied
        WrittenEvent v6 = event("order-2", 6, Kind.POISON); // dead-lettered only after retries
        WrittenEvent rolledBack = event("order-2", 7, Kind.POISON);
        send(kafka, List.of(published(t.topic(), v1), published(t.topic(), v2), divertedByRelay(t, v3), published(t.topic(), v4),
                published(t.topic(), v5), published(t.topic(), v6),
                deadLetteredByConsumer(t, v5, DeadLetterHeaders.REASON_HANDLER_FAILED),
                deadLetteredByConsumer(t, v6, DeadLetterHeaders.REASON_HANDLER_FAILED),
                deadLetteredByConsumer(t, rolledBack, DeadLetterHeaders.REASON_HANDLER_FATAL)));
        applied(billing, v1, v2, v4);

        HistoryChecker.Verdict v = HistoryChecker.check(List.of(v1, v2, v3, v4, v5, v6), List.of(rolledBack.id()),
                kafka.bootstrapServers(), t.topic(), t.relayDeadLetters(), t.consumerDeadLetters(), billing.dataSource(),
                DemoRun.EFFECTS_TABLE);

        assertThat(v.ok()).isFalse();
        assertThat(v.lost()).as("L").anyMatch(s -> s.startsWith("oversized event " + v2.id()) && s.contains("instead of the relay's"))
                .anyMatch(s -> s.startsWith("NORMAL event " + v3.id()) && s.contains("dead-lettered by the relay"))
                .anyMatch(s -> s.startsWith("event " + v3.id()));
        assertThat(v.phantoms()).as("P").singleElement().asString().contains(rolledBack.id().toString())
                .contains("rolled-back transaction");
        assertThat(v.orderViolations()).as("O: v3 belongs between v1 and v4").singleElement().asString()
                .contains("version 4 follows version 1 (expected v3)");
        assertThat(v.effectViolations()).as("X")
                .anyMatch(s -> s.startsWith("poison event " + v4.id() + " applied 1 times"))
                .anyMatch(s -> s.startsWith("poison event " + v4.id()) && s.contains("not in the consumer's dead-letter topic"))
                .anyMatch(s -> s.startsWith("NORMAL event " + v5.id()) && s.contains("dead-lettered by the consumer"))
                .anyMatch(s -> s.startsWith("poison event " + v6.id()) && s.contains("not at once as handler-fatal"))
                .anyMatch(s -> s.startsWith("oversized event " + v2.id() + " applied 1 times"))
                .anyMatch(s -> s.startsWith("event " + v3.id() + " (order-2 v3) applied 0 times"));
        assertThat(v.deadLetters()).isEqualTo(new HistoryChecker.DeadLetters(2, 2, 1, 1, 1, 0, 1, 1, 1, 3));
    }
}
