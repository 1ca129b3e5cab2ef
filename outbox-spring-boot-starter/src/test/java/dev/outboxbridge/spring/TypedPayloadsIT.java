package dev.outboxbridge.spring;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.inbox.DeadLetterHeaders;
import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelaySettings;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import dev.outboxbridge.testkit.TopicReader;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.jackson.autoconfigure.JacksonAutoConfiguration;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.transaction.PlatformTransactionManager;
import org.springframework.transaction.annotation.Transactional;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Typed payloads end to end in real Spring Boot applications on the testkit's PostgreSQL and Kafka, with the relay
 * embedded: an object appended by a {@code @Transactional} service arrives, equal, at a typed {@code @InboxListener}
 * with its {@code content-type} (and, when enabled, the CloudEvents headers) on the Kafka record; payloads that
 * cannot be read are dead-lettered with the reason, and their key waits, in order, until redriven; without Jackson
 * the byte API still appends.
 */
@ExtendWith(OutboxBridgeExtension.class)
class TypedPayloadsIT {

    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final Instant NOW = Instant.parse("2026-12-04T21:30:15.250Z");

    record OrderPlaced(String orderId, BigDecimal total, List<String> lines, Instant placedAt) {
    }

    @Test
    void aTypedAppendArrivesEqualAtTheTypedListenerWithContentTypeAndCloudEventsHeadersOnTheRecord(TestDatabase db,
            TestKafka kafka) throws Exception {
        String prefix = kafka.prefix() + "outbox.event.";
        String orders = prefix + "order";
        String consumer = kafka.topic("billing");
        kafka.createTopic(orders, 1);
        kafka.createTopic(consumer + ".dlt", 1);
        createTables(db);
        Map<String, Object> properties = properties(db, kafka, prefix, orders, consumer);
        properties.put("outbox.cloudevents.enabled", "true");
        properties.put("outbox.cloudevents.source", "https://shop.example.com/orders");

        List<OrderPlaced> placed = List.of(
                new OrderPlaced("o-1", new BigDecimal("12.50"), List.of("book", "pen"), NOW.minusSeconds(60)),
                new OrderPlaced("o-2", new BigDecimal("3.00"), List.of(), NOW.minusSeconds(30)),
                new OrderPlaced("o-3", new BigDecimal("99.99"), List.of("lamp"), NOW));
        try (Relay relay = Relay.create(RelayConfig.of(RelaySettings.of(db, kafka, prefix)));
                ConfigurableApplicationContext app = TestApplications.run(TypedApp.class, properties)) {
            relay.start();
            Orders service = app.getBean(Orders.class);
            List<UUID> ids = new ArrayList<>();
            for (OrderPlaced order : placed) {
                ids.add(service.place(order));
            }
            Billing billing = app.getBean(Billing.class);
            await().atMost(WAIT).until(() -> billing.received.size() == placed.size());

            assertThat(billing.received).as("the objects appended, read by the typed listener").containsExactlyElementsOf(placed);
            assertThat(billing.events).extracting(InboxEvent::id).containsExactlyElementsOf(ids);
            assertThat(billing.events).allSatisfy(e -> assertThat(e.headers()).containsEntry("content-type",
                    "application/json"));
            assertThat(db.count("SELECT count(*) FROM invoice")).isEqualTo(placed.size());

            List<ConsumerRecord<byte[], byte[]>> records = TopicReader.readAtLeast(
                    TopicReader.committedReader(kafka.bootstrapServers()), orders, placed.size(), WAIT);
            assertThat(records).hasSize(placed.size());
            for (int i = 0; i < records.size(); i++) {
                ConsumerRecord<byte[], byte[]> record = records.get(i);
                String id = ids.get(i).toString();
                assertThat(header(record, "id")).isEqualTo(id);
                assertThat(header(record, "content-type")).isEqualTo("application/json");
                assertThat(header(record, "ce_specversion")).isEqualTo("1.0");
                assertThat(header(record, "ce_id")).as("ce_id is the event id").isEqualTo(id);
                assertThat(header(record, "ce_type")).isEqualTo("OrderPlaced");
                assertThat(header(record, "ce_source")).isEqualTo("https://shop.example.com/orders");
                assertThat(header(record, "ce_time")).as("from the application's Clock").isEqualTo(
                        "2026-12-04T21:30:15.250Z");
                assertThat(new String(record.value(), UTF_8)).contains("\"orderId\":\"" + placed.get(i).orderId()
                        + "\"");
            }
        }
    }

    @Test
    void aPayloadThatCannotBeReadIsDeadLetteredWithTheReasonAndTheLaterEventsOfItsKeyAreAppliedInOrderWhenRedriven(
            TestDatabase db, TestKafka kafka) throws Exception {
        String prefix = kafka.prefix() + "outbox.event.";
        String orders = prefix + "order";
        String consumer = kafka.topic("billing");
        String deadLetters = consumer + ".dlt";
        kafka.createTopic(orders, 2);
        kafka.createTopic(deadLetters, 1);
        createTables(db);
        Map<String, Object> properties = properties(db, kafka, prefix, orders, consumer);

        try (Relay relay = Relay.create(RelayConfig.of(RelaySettings.of(db, kafka, prefix)));
                ConfigurableApplicationContext app = TestApplications.run(TypedApp.class, properties)) {
            relay.start();
            Orders service = app.getBean(Orders.class);
            Billing billing = app.getBean(Billing.class);
            InboxConsumer inbox = app.getBean(SpringInboxConsumers.class).consumer(consumer).orElseThrow();

            service.place(order("o-1", "1"));
            UUID malformed = service.placeRaw("o-1", "{\"orderId\": nope", "application/json");
            service.place(order("o-1", "2"));
            service.place(order("o-1", "3"));
            UUID wrongShape = service.placeRaw("o-2", "[1, 2]", null);
            UUID unknownType = service.placeRaw("o-3", "o-3;4.00", "text/csv");
            service.place(order("o-4", "5"));

            await().atMost(WAIT).until(() -> inbox.stats().deadLettered() == 3
                    && db.count("SELECT count(*) FROM inbox_parked_event WHERE consumer_name = ? AND record_key = "
                            + "'o-1' AND event_id <> ?", consumer, malformed) == 2
                    && db.count("SELECT count(*) FROM invoice WHERE order_id = 'o-4'") == 1);

            List<ConsumerRecord<byte[], byte[]>> dead = TopicReader.readAtLeast(
                    TopicReader.committedReader(kafka.bootstrapServers()), deadLetters, 3, WAIT);
            assertThat(dead).hasSize(3);
            ConsumerRecord<byte[], byte[]> poison = deadLetter(dead, malformed);
            assertThat(header(poison, DeadLetterHeaders.REASON)).isEqualTo(DeadLetterHeaders.REASON_HANDLER_FATAL);
            assertThat(header(poison, DeadLetterHeaders.EXCEPTION_CLASS)).isEqualTo(FatalEventException.class.getName());
            assertThat(header(poison, DeadLetterHeaders.ATTEMPTS)).as("never retried").isEqualTo("1");
            assertThat(header(poison, DeadLetterHeaders.EXCEPTION_MESSAGE))
                    .contains("cannot read the payload of event " + malformed).contains("event type 'OrderPlaced'")
                    .contains("content type 'application/json'").contains(OrderPlaced.class.getName())
                    .contains("Unrecognized token 'nope'");
            assertThat(new String(poison.value(), UTF_8)).as("nothing lost: the original bytes")
                    .isEqualTo("{\"orderId\": nope");
            assertThat(header(poison, "content-type")).isEqualTo("application/json");
            assertThat(header(deadLetter(dead, wrongShape), DeadLetterHeaders.EXCEPTION_MESSAGE))
                    .contains("content type absent, read as application/json").contains("Cannot deserialize");
            assertThat(header(deadLetter(dead, unknownType), DeadLetterHeaders.EXCEPTION_MESSAGE))
                    .contains("content type 'text/csv'").contains("is not JSON");
            assertThat(db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = ? AND status = "
                    + "'DEAD_LETTERED'", consumer)).isEqualTo(3);

            // the documented behaviour of a fatal failure: the key stays parked, its later events wait in order
            assertThat(db.count("SELECT count(*) FROM inbox_parked_key WHERE consumer_name = ? AND record_key = "
                    + "'o-1' AND status = 'DEAD_LETTERED'", consumer)).isEqualTo(1);
            assertThat(lines(db, "o-1")).as("only the event before the poison").containsExactly("1");

            assertThat(inbox.redrive(orders, "o-1", InboxConsumer.RedriveMode.SKIP_DEAD_LETTERED)).isTrue();
            await().atMost(WAIT).until(() -> lines(db, "o-1").size() == 3);
            assertThat(lines(db, "o-1")).as("the later events of the key, in order").containsExactly("1", "2", "3");
            assertThat(billing.received).extracting(OrderPlaced::orderId).doesNotContain("o-2", "o-3");
            assertThat(inbox.stats().deadLettered()).isEqualTo(3);
        }
    }

    @Test
    void withoutJacksonATypedAppendIsRefusedNamingTheFixAndTheByteApiAppends(TestDatabase db) throws Exception {
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(JacksonAutoConfiguration.class,
                        PayloadCodecAutoConfiguration.class, OutboxAutoConfiguration.class))
                .withClassLoader(new FilteredClassLoader("tools.jackson"))
                .withBean(javax.sql.DataSource.class, db::dataSource)
                .withBean(PlatformTransactionManager.class, () -> new DataSourceTransactionManager(db.dataSource()))
                .run(context -> {
                    SpringOutbox outbox = context.getBean(SpringOutbox.class);
                    TransactionTemplate transaction = new TransactionTemplate(
                            context.getBean(PlatformTransactionManager.class));
                    assertThatThrownBy(() -> transaction.executeWithoutResult(status -> outbox.append("order", "o-1",
                            "OrderPlaced", order("o-1", "1")))).isInstanceOf(IllegalStateException.class)
                            .hasMessageContaining("add spring-boot-starter-json");
                    UUID id = transaction.execute(status -> outbox.append(OutboxEvent.of("order", "o-2",
                            "OrderPlaced", "{\"orderId\":\"o-2\"}")));
                    assertThat(db.count("SELECT count(*) FROM outbox_event WHERE id = ?", id)).isEqualTo(1);
                    assertThat(db.count("SELECT count(*) FROM outbox_event WHERE aggregateid = 'o-1'")).isZero();
                });
    }

    private static OrderPlaced order(String id, String line) {
        return new OrderPlaced(id, BigDecimal.ONE, List.of(line), NOW);
    }

    private static List<String> lines(TestDatabase db, String orderId) throws Exception {
        List<String> lines = new ArrayList<>();
        try (Connection c = db.connect(); java.sql.PreparedStatement ps = c.prepareStatement(
                "SELECT line FROM invoice_line WHERE order_id = ? ORDER BY seq")) {
            ps.setString(1, orderId);
            try (java.sql.ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    lines.add(rs.getString(1));
                }
            }
        }
        return lines;
    }

    private static ConsumerRecord<byte[], byte[]> deadLetter(List<ConsumerRecord<byte[], byte[]>> records, UUID id) {
        return records.stream().filter(r -> id.toString().equals(header(r, DeadLetterHeaders.EVENT_ID))).findFirst()
                .orElseThrow(() -> new AssertionError("no dead letter of event " + id));
    }

    private static String header(ConsumerRecord<byte[], byte[]> record, String name) {
        Header header = record.headers().lastHeader(name);
        return header == null ? null : new String(header.value(), UTF_8);
    }

    private static void createTables(TestDatabase db) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE orders (id text PRIMARY KEY)");
            st.execute("CREATE TABLE invoice (order_id text PRIMARY KEY)");
            st.execute("CREATE TABLE invoice_line (seq bigint GENERATED ALWAYS AS IDENTITY, order_id text NOT NULL, "
                    + "line text NOT NULL)");
        }
    }

    private static Map<String, Object> properties(TestDatabase db, TestKafka kafka, String prefix, String orders,
            String consumer) {
        Map<String, Object> properties = TestApplications.database(db);
        properties.put("spring.kafka.bootstrap-servers", kafka.bootstrapServers());
        properties.put("outbox.topic-prefix", prefix);
        properties.put("test.consumer", consumer);
        properties.put("test.topic", orders);
        properties.put("outbox.inbox.consumers[" + consumer + "].parked-key-check-interval", "100ms");
        return properties;
    }

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class TypedApp {
        @Bean
        Clock clock() {
            return Clock.fixed(NOW, ZoneOffset.UTC);
        }

        @Bean
        Orders orders(JdbcTemplate jdbc, SpringOutbox outbox) {
            return new Orders(jdbc, outbox);
        }

        @Bean
        Billing billing(JdbcTemplate jdbc) {
            return new Billing(jdbc);
        }
    }

    /** The producing side: the order row and its typed event in one transaction. */
    static class Orders {
        private final JdbcTemplate jdbc;
        private final SpringOutbox outbox;

        Orders(JdbcTemplate jdbc, SpringOutbox outbox) {
            this.jdbc = jdbc;
            this.outbox = outbox;
        }

        @Transactional
        public UUID place(OrderPlaced order) {
            jdbc.update("INSERT INTO orders (id) VALUES (?) ON CONFLICT DO NOTHING", order.orderId());
            return outbox.append("order", order.orderId(), "OrderPlaced", order);
        }

        /** An event of type OrderPlaced whose bytes the typed listener cannot read. */
        @Transactional
        public UUID placeRaw(String orderId, String payload, String contentType) {
            OutboxEvent.Builder event = OutboxEvent.builder().aggregateType("order").aggregateId(orderId)
                    .type("OrderPlaced").payload(payload);
            if (contentType != null) {
                event.header("content-type", contentType);
            }
            return outbox.append(event.build());
        }
    }

    /** The consuming side: a typed listener, in the inbox transaction. */
    static class Billing {
        final Queue<OrderPlaced> received = new ConcurrentLinkedQueue<>();
        final Queue<InboxEvent> events = new ConcurrentLinkedQueue<>();
        private final JdbcTemplate jdbc;

        Billing(JdbcTemplate jdbc) {
            this.jdbc = jdbc;
        }

        @InboxListener(consumer = "${test.consumer}", eventType = "OrderPlaced", topics = "${test.topic}")
        void placed(OrderPlaced order, InboxEvent event) {
            jdbc.update("INSERT INTO invoice (order_id) VALUES (?) ON CONFLICT DO NOTHING", order.orderId());
            for (String line : order.lines()) {
                jdbc.update("INSERT INTO invoice_line (order_id, line) VALUES (?, ?)", order.orderId(), line);
            }
            received.add(order);
            events.add(event);
        }
    }
}
