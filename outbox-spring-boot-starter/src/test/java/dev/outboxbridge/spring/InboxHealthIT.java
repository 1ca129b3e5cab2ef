package dev.outboxbridge.spring;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.health.registry.HealthContributorRegistry;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;

/**
 * The inbox health indicator in a real Spring Boot application on the testkit's PostgreSQL and Kafka, read
 * through Boot's health registry (what the Actuator endpoint serves): UP with the counters and the parked
 * key of a running consumer, DOWN with the failure of a consumer that stopped on its own (a group without
 * committed offsets and {@code auto.offset.reset=none}), OUT_OF_SERVICE once the context stopped the
 * consumers.
 */
@ExtendWith(OutboxBridgeExtension.class)
class InboxHealthIT {

    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final int APPLIED = 5;

    @Test
    @SuppressWarnings("unchecked")
    void upWithCountsAndParkedKeysDownWithTheFailureOfAStoppedConsumerOutOfServiceAfterClose(TestDatabase db,
            TestKafka kafka) throws Exception {
        String orders = kafka.topic("orders");
        String billing = kafka.topic("billing");
        String strict = kafka.topic("strict");
        kafka.createTopic(orders, 1);
        kafka.createTopic(billing + ".dlt", 1);
        kafka.createTopic(strict + ".dlt", 1);
        Map<String, Object> properties = TestApplications.database(db);
        properties.put("spring.kafka.bootstrap-servers", kafka.bootstrapServers());
        String billingKey = "outbox.inbox.consumers[" + billing + "]";
        properties.put(billingKey + ".topics", orders);
        properties.put(billingKey + ".handler", "billingHandler");
        properties.put(billingKey + ".max-attempts", "1000");
        properties.put(billingKey + ".retry-backoff-initial", "50ms");
        properties.put(billingKey + ".retry-backoff-max", "200ms");
        properties.put(billingKey + ".parked-key-check-interval", "100ms");
        String strictKey = "outbox.inbox.consumers[" + strict + "]";
        properties.put(strictKey + ".topics", orders);
        properties.put(strictKey + ".handler", "strictHandler");
        properties.put(strictKey + ".kafka.auto.offset.reset", "none"); // a new group: the first poll throws

        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(kafka.producerProperties())) {
            for (int i = 0; i < APPLIED; i++) {
                send(producer, orders, "o-" + i);
            }
            send(producer, orders, "stuck");
            producer.flush();
        }

        HealthIndicator indicator;
        try (ConfigurableApplicationContext app = TestApplications.run(HealthApp.class, properties)) {
            SpringInboxConsumers consumers = app.getBean(SpringInboxConsumers.class);
            InboxConsumer running = consumers.consumer(billing).orElseThrow();
            InboxConsumer failing = consumers.consumer(strict).orElseThrow();
            indicator = (HealthIndicator) app.getBean(HealthContributorRegistry.class).getContributor("outboxInbox");
            assertThat(indicator).isSameAs(app.getBean(InboxHealthAutoConfiguration.BEAN_NAME));

            await().atMost(WAIT).until(() -> running.stats().processed() == APPLIED && running.stats().parkedKeys() == 1
                    && failing.state() == InboxConsumer.State.FAILED);

            Health health = indicator.health();
            assertThat(health.getStatus()).as("one consumer failed").isEqualTo(Status.DOWN);
            Map<String, Map<String, Object>> details = (Map<String, Map<String, Object>>) health.getDetails().get("consumers");
            assertThat(details.get(billing)).containsEntry("status", "UP").containsEntry("state", "RUNNING")
                    .containsEntry("processed", (long) APPLIED).containsEntry("parkedKeys", 1L)
                    .containsEntry("parkedEvents", 1L).containsEntry("deadLettered", 0L).doesNotContainKey("failure");
            assertThat((long) details.get(billing).get("failures")).isPositive();
            assertThat(details.get(strict)).containsEntry("status", "DOWN").containsEntry("state", "FAILED");
            assertThat((String) details.get(strict).get("failure")).contains("NoOffsetForPartitionException");
        }
        // the context's close stopped the running consumer: out of service; the failed one stays DOWN
        Map<String, Map<String, Object>> closed =
                (Map<String, Map<String, Object>>) indicator.health().getDetails().get("consumers");
        assertThat(closed.get(billing)).containsEntry("status", "OUT_OF_SERVICE").containsEntry("state", "STOPPED");
        assertThat(closed.get(strict)).containsEntry("status", "DOWN");
    }

    private static void send(KafkaProducer<byte[], byte[]> producer, String topic, String key) throws Exception {
        ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(topic, key.getBytes(UTF_8), "{}".getBytes(UTF_8));
        record.headers().add(InboxEvent.ID_HEADER, UUID.randomUUID().toString().getBytes(UTF_8));
        record.headers().add(InboxEvent.EVENT_TYPE_HEADER, "OrderPlaced".getBytes(UTF_8));
        producer.send(record).get();
    }

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class HealthApp {

        @Bean
        InboxHandler billingHandler() {
            return (event, tx) -> {
                if ("stuck".equals(event.key())) {
                    throw new IllegalStateException("billing refuses " + event.key());
                }
            };
        }

        @Bean
        InboxHandler strictHandler() {
            return (event, tx) -> { };
        }
    }
}
