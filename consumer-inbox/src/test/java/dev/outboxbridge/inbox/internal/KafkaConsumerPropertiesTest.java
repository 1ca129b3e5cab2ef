package dev.outboxbridge.inbox.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.junit.jupiter.api.Test;

/** The inbox reads only committed records unless told otherwise (a relay may publish in Kafka transactions). */
class KafkaConsumerPropertiesTest {

    @Test
    void readsCommittedRecordsByDefault() {
        Map<String, Object> resolved = KafkaConsumerProperties.resolve("billing", Map.of("bootstrap.servers", "localhost:9092"));
        assertThat(resolved).containsEntry(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    }

    @Test
    void keepsAnExplicitReadUncommitted() {
        Map<String, Object> user = new HashMap<>();
        user.put("bootstrap.servers", "localhost:9092");
        user.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
        assertThat(KafkaConsumerProperties.resolve("billing", user))
                .containsEntry(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
    }
}
