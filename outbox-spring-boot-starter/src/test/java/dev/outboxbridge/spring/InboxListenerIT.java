package dev.outboxbridge.spring;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.datasource.DataSourceUtils;
import org.springframework.transaction.annotation.Transactional;
import org.springframework.transaction.support.TransactionSynchronizationManager;

/**
 * {@link InboxListener} methods in a real Spring Boot application on the testkit's PostgreSQL and Kafka: two
 * consumers declared by annotations only (names and topics from placeholders) read the same topic of mixed event
 * types; each event reaches the method of its type inside the inbox transaction (through the bean's
 * {@code @Transactional} proxy, on the inbox connection); an event type without a method is skipped and counted by
 * the default consumer and dead-lettered by the one with {@code unknown-event-types=dead-letter}.
 */
@ExtendWith(OutboxBridgeExtension.class)
class InboxListenerIT {

    private static final Duration WAIT = Duration.ofSeconds(90);

    @Test
    void eventsReachTheListenerOfTheirTypeAndUnknownTypesAreSkippedOrDeadLettered(TestDatabase db, TestKafka kafka)
            throws Exception {
        String orders = kafka.topic("orders");
        String billing = kafka.topic("billing");
        String strict = kafka.topic("strict");
        kafka.createTopic(orders, 2);
        kafka.createTopic(billing + ".dlt", 1);
        kafka.createTopic(strict + ".dlt", 1);
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE invoice (order_id text PRIMARY KEY)");
            st.execute("CREATE TABLE cancellation (order_id text PRIMARY KEY)");
            st.execute("CREATE TABLE strict_seen (order_id text PRIMARY KEY)");
        }
        Map<String, Object> properties = TestApplications.database(db);
        properties.put("spring.kafka.bootstrap-servers", kafka.bootstrapServers());
        properties.put("test.orders", orders);
        properties.put("test.billing", billing);
        properties.put("test.strict", strict);
        properties.put("outbox.inbox.consumers[" + strict + "].unknown-event-types", "dead-letter");

        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(kafka.producerProperties())) {
            for (int i = 0; i < 3; i++) {
                send(producer, orders, "o-" + i, "OrderPlaced");
            }
            send(producer, orders, "o-3", "OrderCancelled");
            send(producer, orders, "o-4", "OrderShipped");
            producer.flush();
        }

        try (ConfigurableApplicationContext app = TestApplications.run(ListenerApp.class, properties)) {
            SpringInboxConsumers consumers = app.getBean(SpringInboxConsumers.class);
            assertThat(consumers.names()).containsExactlyInAnyOrder(billing, strict);
            InboxConsumer billingConsumer = consumers.consumer(billing).orElseThrow();
            InboxConsumer strictConsumer = consumers.consumer(strict).orElseThrow();
            InboxListeners listeners = app.getBean(InboxListeners.class);

            await().atMost(WAIT).until(() -> billingConsumer.stats().processed() == 5
                    && strictConsumer.stats().processed() == 3 && strictConsumer.stats().deadLettered() == 2);

            assertThat(db.count("SELECT count(*) FROM invoice")).isEqualTo(3);
            assertThat(db.count("SELECT count(*) FROM cancellation WHERE order_id = 'o-3'")).isEqualTo(1);
            assertThat(listeners.skipped(billing)).as("OrderShipped has no listener of billing").isEqualTo(1);
            assertThat(billingConsumer.stats().deadLettered()).isZero();
            assertThat(db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = ? AND status = 'APPLIED'",
                    billing)).as("the skipped event is recorded too: a redelivery skips it as a duplicate").isEqualTo(5);
            assertThat(app.getBean(BillingListeners.class).observations()).hasSize(1).allSatisfy(o -> assertThat(o)
                    .as("@Transactional listener ran through its proxy, on the inbox connection").isEqualTo("ok"));

            assertThat(db.count("SELECT count(*) FROM strict_seen")).isEqualTo(3);
            assertThat(listeners.skipped(strict)).isZero();
            assertThat(db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = ? AND status = "
                    + "'DEAD_LETTERED'", strict)).isEqualTo(2);
            assertThat(kafka.readAll(strict + ".dlt", 2, WAIT)).hasSize(2);
        }
    }

    private static void send(KafkaProducer<byte[], byte[]> producer, String topic, String key, String type)
            throws Exception {
        ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(topic, key.getBytes(UTF_8), "{}".getBytes(UTF_8));
        record.headers().add(InboxEvent.ID_HEADER, UUID.randomUUID().toString().getBytes(UTF_8));
        record.headers().add(InboxEvent.EVENT_TYPE_HEADER, type.getBytes(UTF_8));
        producer.send(record).get();
    }

    static class BillingListeners {
        final JdbcTemplate jdbc;
        final DataSource dataSource;
        final Queue<String> observations = new ConcurrentLinkedQueue<>();

        BillingListeners(JdbcTemplate jdbc, DataSource dataSource) {
            this.jdbc = jdbc;
            this.dataSource = dataSource;
        }

        /** Through the proxy (the bean is a @Transactional proxy whose own fields are empty). */
        public Queue<String> observations() {
            return observations;
        }

        @InboxListener(consumer = "${test.billing}", eventType = "OrderPlaced", topics = "${test.orders}")
        public void placed(InboxEvent event) {
            jdbc.update("INSERT INTO invoice (order_id) VALUES (?)", event.key());
        }

        @Transactional
        @InboxListener(consumer = "${test.billing}", eventType = "OrderCancelled")
        public void cancelled(InboxEvent event, Connection transaction) throws Exception {
            Connection bound = DataSourceUtils.getConnection(dataSource);
            observations.add(TransactionSynchronizationManager.isActualTransactionActive() && bound == transaction
                    && !transaction.getAutoCommit() ? "ok" : "not in the inbox transaction");
            DataSourceUtils.releaseConnection(bound, dataSource);
            jdbc.update("INSERT INTO cancellation (order_id) VALUES (?)", event.key());
        }
    }

    static class StrictListeners {
        final JdbcTemplate jdbc;

        StrictListeners(JdbcTemplate jdbc) {
            this.jdbc = jdbc;
        }

        @InboxListener(consumer = "${test.strict}", eventType = "OrderPlaced", topics = "${test.orders}")
        public void placed(InboxEvent event) {
            jdbc.update("INSERT INTO strict_seen (order_id) VALUES (?)", event.key());
        }
    }

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class ListenerApp {

        @Bean
        BillingListeners billingListeners(JdbcTemplate jdbc, DataSource dataSource) {
            return new BillingListeners(jdbc, dataSource);
        }

        @Bean
        StrictListeners strictListeners(JdbcTemplate jdbc) {
            return new StrictListeners(jdbc);
        }
    }
}
