package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** A record Kafka refuses for good: fail-stop by default, or a dead-letter topic. */
@ExtendWith(OutboxBridgeExtension.class)
class RelayDeadLetterIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(90);

    @TempDir
    Path dir;

    private static void maxMessageBytes(TestKafka kafka, String topic, int bytes) throws Exception {
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
            admin.incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.TOPIC, topic),
                    List.of(new AlterConfigOp(new ConfigEntry("max.message.bytes", String.valueOf(bytes)), AlterConfigOp.OpType.SET))))
                    .all().get();
        }
    }

    private static List<UUID> writeSmallBigSmall(TestDatabase db, TestKafka kafka) throws Exception {
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            List<UUID> ids = outbox.appendAll(c, List.of(OutboxEvent.of("order", "o-1", "A", "before"),
                    OutboxEvent.of("order", "o-1", "A", "x".repeat(20_000)), OutboxEvent.of("order", "o-1", "A", "after")));
            c.commit();
            return ids;
        }
    }

    private static List<String> values(List<ConsumerRecord<byte[], byte[]>> records) {
        return records.stream().map(r -> r.value() == null ? null : new String(r.value(), StandardCharsets.UTF_8))
                .map(v -> v != null && v.length() > 20 ? "big" : v).toList();
    }

    @Test
    void oversizedRecordStopsPublishingWithoutLossOrReordering(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 1);
        maxMessageBytes(kafka, topic, 4096);
        Map<String, String> settings = RelayIT.relaySettings(db, kafka, dir);
        // the stream's fail-stop: rows written while a standby's start() returns would otherwise be read by the first-start
        // snapshot, and a snapshot stopped by the failure is taken again after the fix (the first row published twice)
        settings.put(RelayConfig.FIRST_START_SNAPSHOT, "false");
        RelayConfig config = RelayConfig.of(settings);
        List<UUID> ids;
        try (Relay relay = Relay.create(config)) {
            relay.start();
            ids = writeSmallBigSmall(db, kafka);
            assertThat(relay.awaitTermination(TIMEOUT)).isTrue();
            assertThat(relay.state()).isEqualTo(Relay.State.FAILED);
            assertThat(relay.failure()).get().extracting(Throwable::getMessage).asString()
                    .contains(ids.get(1).toString()).contains("max.message.bytes").contains("dead.letter.topic");
        }
        assertThat(values(kafka.readAll(topic, 1, Duration.ofSeconds(3)))).containsExactly("before");
        maxMessageBytes(kafka, topic, 1_000_000); // the operator's fix
        try (Relay relay = Relay.create(config)) {
            relay.start();
            assertThat(values(kafka.readAll(topic, 3, TIMEOUT))).containsExactly("before", "big", "after");
        }
    }

    @Test
    void oversizedRecordGoesToTheDeadLetterTopicWithTheReasonAndTheRelayGoesOn(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        String dlq = kafka.prefix() + "outbox.dead-letter";
        kafka.createTopic(topic, 1);
        kafka.createTopic(dlq, 1);
        maxMessageBytes(kafka, topic, 4096);
        Map<String, String> m = RelayIT.relaySettings(db, kafka, dir);
        m.put(RelayConfig.DEAD_LETTER_TOPIC, dlq);
        try (Relay relay = Relay.create(RelayConfig.of(m))) {
            relay.start();
            List<UUID> ids = writeSmallBigSmall(db, kafka);
            assertThat(values(kafka.readAll(topic, 2, TIMEOUT))).containsExactly("before", "after");
            List<ConsumerRecord<byte[], byte[]>> dead = kafka.readAll(dlq, 1, TIMEOUT);
            assertThat(dead).hasSize(1);
            ConsumerRecord<byte[], byte[]> r = dead.get(0);
            assertThat(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8)).isEqualTo(ids.get(1).toString());
            assertThat(new String(r.headers().lastHeader("outbox.dlq.reason").value(), StandardCharsets.UTF_8)).contains("RecordTooLarge");
            assertThat(new String(r.headers().lastHeader("outbox.dlq.topic").value(), StandardCharsets.UTF_8)).isEqualTo(topic);
            assertThat(new String(r.key(), StandardCharsets.UTF_8)).isEqualTo("o-1");
            await().atMost(TIMEOUT).until(() -> relay.publishedCount() == 2);
            assertThat(relay.state()).isEqualTo(Relay.State.RUNNING);
        }
    }
}
