package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.relay.internal.Preflight;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** Clean stops and restarts under load: nothing lost, nothing sent twice. */
@ExtendWith(OutboxBridgeExtension.class)
class RelayShutdownIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(150);

    @TempDir
    Path dir;

    @Test
    void cleanStopUnderLoadResumesWithNoLossAndNoDuplicate(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
        RelayConfig config = RelayConfig.of(RelayIT.relaySettings(db, kafka, dir));
        new Preflight(config).run(); // publication and slot exist before the first write the relay must publish
        List<UUID> committed;
        long publishedBefore = 0;
        Load load = new Load(db, outbox, "order", 8);
        try (load) {
            for (int round = 0; round < 3; round++) {
                Relay relay = Relay.create(config);
                try (relay) {
                    relay.start();
                    await().atMost(TIMEOUT).until(() -> relay.publishedCount() >= 200);
                } // closed while the load keeps committing transactions
                assertThat(relay.state()).isEqualTo(Relay.State.STOPPED);
                publishedBefore += relay.publishedCount();
                assertThat(load.committedCount()).isPositive();
            }
            committed = load.stop();
            try (Relay last = Relay.create(config)) {
                last.start();
                long before = publishedBefore;
                await().atMost(TIMEOUT).until(() -> before + last.publishedCount() >= committed.size());
            }
        }
        List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, committed.size(), TIMEOUT);
        Map<UUID, Long> counts = records.stream()
                .map(r -> UUID.fromString(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8)))
                .collect(Collectors.groupingBy(Function.identity(), HashMap::new, Collectors.counting()));
        assertThat(counts.keySet()).as("lost").containsAll(committed);
        assertThat(counts.entrySet().stream().filter(e -> e.getValue() > 1).map(Map.Entry::getKey).toList())
                .as("duplicates after clean stops").isEmpty();
        assertThat(records).hasSize(committed.size());
    }
}
