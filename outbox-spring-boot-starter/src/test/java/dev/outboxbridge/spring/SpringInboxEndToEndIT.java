package dev.outboxbridge.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelaySettings;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import javax.sql.DataSource;
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
 * The whole path in real Spring Boot applications on the testkit's PostgreSQL (wal_level=logical) and
 * Kafka: a {@code @Transactional} service writes an order with {@code JdbcTemplate} and appends its
 * event; the embedded relay publishes it; the inbox consumer run by the application context applies it
 * in a Spring-managed transaction, where {@code JdbcTemplate} and a {@code @Transactional} service join
 * the inbox transaction, and so does an outbox append (the next hop). A failing attempt rolls their writes
 * back with the inbox row; a poison event
 * is dead-lettered with nothing of it written; a replay under a new group applies nothing twice; the
 * context's close stops the consumer gracefully.
 */
@ExtendWith(OutboxBridgeExtension.class)
class SpringInboxEndToEndIT {

    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final int ORDERS = 20;

    @Test
    void orderEventsArePublishedAndAppliedOnceInsideSpringManagedInboxTransactions(TestDatabase db, TestKafka kafka)
            throws Exception {
        String prefix = kafka.prefix() + "outbox.event.";
        String orders = prefix + "order";
        String consumer = kafka.topic("billing");
        String deadLetters = consumer + ".dlt";
        String invoices = prefix + "invoice";
        kafka.createTopic(orders, 3);
        kafka.createTopic(invoices, 3);
        kafka.createTopic(deadLetters, 1);
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE orders (id text PRIMARY KEY)");
            st.execute("CREATE TABLE invoice (order_id text PRIMARY KEY)");
            st.execute("CREATE TABLE ledger (order_id text NOT NULL)");
        }
        Map<String, Object> properties = TestApplications.database(db);
        properties.put("spring.kafka.bootstrap-servers", kafka.bootstrapServers());
        properties.put("outbox.topic-prefix", prefix);
        String consumerKey = "outbox.inbox.consumers[" + consumer + "]";
        properties.put(consumerKey + ".topics", orders);
        properties.put(consumerKey + ".handler", "billingHandler");
        properties.put(consumerKey + ".max-attempts", "3");
        properties.put(consumerKey + ".retry-backoff-initial", "50ms");
        properties.put(consumerKey + ".retry-backoff-max", "200ms");
        properties.put(consumerKey + ".parked-key-check-interval", "100ms");

        try (Relay relay = Relay.create(RelayConfig.of(RelaySettings.of(db, kafka, prefix)))) {
            relay.start();
            InboxConsumer running;
            try (ConfigurableApplicationContext app = TestApplications.run(BillingApp.class, properties)) {
                SpringInboxConsumers consumers = app.getBean(SpringInboxConsumers.class);
                assertThat(consumers.isRunning()).isTrue();
                running = consumers.consumer(consumer).orElseThrow();
                assertThat(running.state()).isEqualTo(InboxConsumer.State.RUNNING);

                Orders service = app.getBean(Orders.class);
                for (int i = 0; i < ORDERS; i++) {
                    service.place("o-" + i, false);
                }
                service.place("flaky-1", false);
                service.place("poison-1", false);
                assertThatThrownBy(() -> service.place("rejected-1", true)).hasMessageContaining("rejected");

                await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM invoice") == ORDERS + 1
                        && running.stats().deadLettered() == 1);

                Billing billing = app.getBean(Billing.class);
                assertThat(billing.observations).isNotEmpty().allSatisfy(o -> assertThat(o)
                        .as("handler ran in a Spring-managed transaction on the inbox connection").isEqualTo("ok"));
                assertThat(billing.attempts.get("flaky-1")).isEqualTo(2);
                assertThat(billing.attempts.get("poison-1")).isEqualTo(1);
                assertThat(billing.attempts).doesNotContainKey("rejected-1");
                // the first attempt of flaky-1 wrote an invoice and a ledger row (through a @Transactional service),
                // and both rolled back with its inbox row: the second attempt could insert the invoice again
                assertThat(db.count("SELECT count(*) FROM ledger WHERE order_id = 'flaky-1'")).isEqualTo(1);
                assertThat(db.count("SELECT count(*) FROM invoice WHERE order_id = 'flaky-1'")).isEqualTo(1);
                assertThat(db.count("SELECT count(*) FROM invoice WHERE order_id = 'poison-1'")).isZero();
                assertThat(db.count("SELECT count(*) FROM ledger WHERE order_id = 'poison-1'")).isZero();
                assertThat(db.count("SELECT count(*) FROM ledger")).isEqualTo(ORDERS + 1);
                assertThat(db.count("SELECT count(*) FROM outbox_event WHERE aggregatetype = 'invoice'"))
                        .as("one invoice event per applied order, none of a rolled-back attempt").isEqualTo(ORDERS + 1);
                assertThat(db.count("SELECT count(*) FROM outbox_event WHERE aggregatetype = 'invoice' AND aggregateid "
                        + "= 'flaky-1' AND convert_from(payload, 'UTF8') = '{\"attempt\":2}'")).isEqualTo(1);
                assertThat(db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = ? AND status = 'APPLIED'",
                        consumer)).isEqualTo(ORDERS + 1);
                assertThat(db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = ? AND status = "
                        + "'DEAD_LETTERED'", consumer)).isEqualTo(1);
                assertThat(db.count("SELECT count(*) FROM outbox_event WHERE aggregateid = 'rejected-1'")).isZero();
                assertThat(kafka.readAll(deadLetters, 1, WAIT)).hasSize(1);
                assertThat(kafka.readAll(invoices, ORDERS + 1, WAIT)).as("the next hop, published by the relay")
                        .hasSize(ORDERS + 1);

                MeterRegistry registry = app.getBean(MeterRegistry.class);
                await().atMost(WAIT).until(() -> registry.find("outbox.inbox.processed").tag("consumer", consumer)
                        .functionCounter() != null);
                assertThat(registry.find("outbox.inbox.processed").tag("consumer", consumer).functionCounter().count())
                        .isEqualTo(ORDERS + 1);
            }
            // the context's close stopped the consumer (batch in flight finished, offsets committed)
            assertThat(running.state()).isEqualTo(InboxConsumer.State.STOPPED);

            // a replay of the topic under a new group, with the per-consumer Kafka override: nothing applied twice
            properties.put(consumerKey + ".kafka.group.id", consumer + "-replay");
            try (ConfigurableApplicationContext replay = TestApplications.run(BillingApp.class, properties)) {
                InboxConsumer again = replay.getBean(SpringInboxConsumers.class).consumer(consumer).orElseThrow();
                await().atMost(WAIT).until(() -> again.stats().duplicates() == ORDERS + 2);
                assertThat(again.stats().processed()).isZero();
                assertThat(replay.getBean(Billing.class).attempts).isEmpty();
            }
            assertThat(db.count("SELECT count(*) FROM invoice")).isEqualTo(ORDERS + 1);
            assertThat(db.count("SELECT count(*) FROM ledger")).isEqualTo(ORDERS + 1);
        }
    }

    @Test
    void closingTheContextFinishesTheEventInFlightAndTheNextStartAppliesTheRestOnce(TestDatabase db, TestKafka kafka)
            throws Exception {
        String prefix = kafka.prefix() + "outbox.event.";
        String orders = prefix + "order";
        String consumer = kafka.topic("billing");
        kafka.createTopic(orders, 1);
        kafka.createTopic(consumer + ".dlt", 1);
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE orders (id text PRIMARY KEY)");
            st.execute("CREATE TABLE invoice (event_id uuid PRIMARY KEY, line text NOT NULL)");
        }
        Map<String, Object> properties = TestApplications.database(db);
        properties.put("spring.kafka.bootstrap-servers", kafka.bootstrapServers());
        properties.put("outbox.topic-prefix", prefix);
        // this consumer is declared by an InboxConsumerRegistration bean (see SlowBillingApp), not in properties
        properties.put("test.consumer", consumer);
        properties.put("test.topic", orders);
        int lines = 5;
        try (Relay relay = Relay.create(RelayConfig.of(RelaySettings.of(db, kafka, prefix)))) {
            relay.start();
            properties.put("test.hold-first-line", "true");
            ConfigurableApplicationContext app = TestApplications.run(SlowBillingApp.class, properties);
            InboxConsumer first;
            try {
                first = app.getBean(SpringInboxConsumers.class).consumer(consumer).orElseThrow();
                // one order of five lines, one transaction: the first line's handler is held until the stop begins
                app.getBean(Orders.class).placeWithLines("o-1", lines);
                await().atMost(WAIT).until(() -> app.getBean(SlowBilling.class).holding);
            } finally {
                app.close(); // SmartLifecycle.stop: closes the consumer while its handler is in flight
            }
            assertThat(first.state()).isEqualTo(InboxConsumer.State.STOPPED);
            assertThat(db.count("SELECT count(*) FROM invoice WHERE line = 'line-0'"))
                    .as("the event in flight finished and committed").isEqualTo(1);
            long appliedBeforeStop = db.count("SELECT count(*) FROM invoice");
            assertThat(db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = ?", consumer))
                    .as("inbox rows only for the events whose effects committed").isEqualTo(appliedBeforeStop);

            properties.put("test.hold-first-line", "false");
            try (ConfigurableApplicationContext again = TestApplications.run(SlowBillingApp.class, properties)) {
                await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM invoice") == lines);
                InboxConsumer second = again.getBean(SpringInboxConsumers.class).consumer(consumer).orElseThrow();
                assertThat(second.stats().processed()).isEqualTo(lines - appliedBeforeStop);
            }
            assertThat(db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = ?", consumer)).isEqualTo(lines);
        }
    }

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class BillingApp {
        @Bean
        Orders orders(JdbcTemplate jdbc, SpringOutbox outbox) {
            return new Orders(jdbc, outbox);
        }

        @Bean
        Ledger ledger(JdbcTemplate jdbc) {
            return new Ledger(jdbc);
        }

        @Bean
        Billing billing(JdbcTemplate jdbc, Ledger ledger, DataSource dataSource, SpringOutbox outbox) {
            return new Billing(jdbc, ledger, dataSource, outbox);
        }

        @Bean
        InboxHandler billingHandler(Billing billing) {
            return billing::apply;
        }

        @Bean
        SimpleMeterRegistry meterRegistry() {
            return new SimpleMeterRegistry();
        }
    }

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class SlowBillingApp {
        @Bean
        Orders orders(JdbcTemplate jdbc, SpringOutbox outbox) {
            return new Orders(jdbc, outbox);
        }

        @Bean
        SlowBilling slowBilling(JdbcTemplate jdbc, org.springframework.beans.factory.ObjectProvider<SpringInboxConsumers>
                consumers, org.springframework.core.env.Environment environment) {
            return new SlowBilling(jdbc, consumers, environment.getProperty("test.hold-first-line", Boolean.class, false));
        }

        @Bean
        InboxConsumerRegistration slowBillingConsumer(SlowBilling billing, org.springframework.core.env.Environment env) {
            return InboxConsumerRegistration.of(env.getRequiredProperty("test.consumer"),
                    java.util.List.of(env.getRequiredProperty("test.topic")), billing::apply);
        }
    }

    /** Holds the handler of line 0 until the consumer is stopping, then writes and returns. */
    static class SlowBilling {
        volatile boolean holding;
        private final JdbcTemplate jdbc;
        private final org.springframework.beans.factory.ObjectProvider<SpringInboxConsumers> consumers;
        private final boolean hold;

        SlowBilling(JdbcTemplate jdbc, org.springframework.beans.factory.ObjectProvider<SpringInboxConsumers> consumers,
                boolean hold) {
            this.jdbc = jdbc;
            this.consumers = consumers;
            this.hold = hold;
        }

        void apply(dev.outboxbridge.inbox.InboxEvent event, Connection transaction) {
            String line = new String(event.payload(), java.nio.charset.StandardCharsets.UTF_8);
            if (hold && line.equals("line-0")) {
                holding = true;
                await().atMost(WAIT).until(() -> consumers.getObject().consumers().values().stream()
                        .allMatch(c -> c.state() == InboxConsumer.State.STOPPING));
            }
            jdbc.update("INSERT INTO invoice (event_id, line) VALUES (?, ?)", event.id(), line);
        }
    }

    /** The producing side: JdbcTemplate and the outbox in one @Transactional method. */
    static class Orders {
        private final JdbcTemplate jdbc;
        private final SpringOutbox outbox;

        Orders(JdbcTemplate jdbc, SpringOutbox outbox) {
            this.jdbc = jdbc;
            this.outbox = outbox;
        }

        @Transactional
        public void place(String id, boolean reject) {
            jdbc.update("INSERT INTO orders (id) VALUES (?)", id);
            outbox.append(OutboxEvent.of("order", id, "OrderPlaced", "{\"id\":\"" + id + "\"}"));
            if (reject) {
                throw new IllegalStateException("order " + id + " rejected");
            }
        }

        @Transactional
        public void placeWithLines(String id, int lines) {
            jdbc.update("INSERT INTO orders (id) VALUES (?)", id);
            java.util.List<OutboxEvent> events = new java.util.ArrayList<>();
            for (int i = 0; i < lines; i++) {
                events.add(OutboxEvent.of("order", id, "OrderLineAdded", "line-" + i));
            }
            outbox.appendAll(events);
        }
    }

    /** A @Transactional service the handler calls: it joins the inbox transaction (REQUIRED). */
    static class Ledger {
        private final JdbcTemplate jdbc;

        Ledger(JdbcTemplate jdbc) {
            this.jdbc = jdbc;
        }

        @Transactional
        public void record(String orderId, boolean fail) {
            jdbc.update("INSERT INTO ledger (order_id) VALUES (?)", orderId);
            if (fail) {
                throw new IllegalStateException("ledger unavailable for " + orderId);
            }
        }
    }

    /** The consuming side: the handler writes with JdbcTemplate and calls a @Transactional service. */
    static class Billing {
        final Map<String, Integer> attempts = new ConcurrentHashMap<>();
        final Queue<String> observations = new ConcurrentLinkedQueue<>();
        private final JdbcTemplate jdbc;
        private final Ledger ledger;
        private final DataSource dataSource;
        private final SpringOutbox outbox;

        Billing(JdbcTemplate jdbc, Ledger ledger, DataSource dataSource, SpringOutbox outbox) {
            this.jdbc = jdbc;
            this.ledger = ledger;
            this.dataSource = dataSource;
            this.outbox = outbox;
        }

        void apply(dev.outboxbridge.inbox.InboxEvent event, Connection transaction) {
            boolean inSpringTransaction = TransactionSynchronizationManager.isActualTransactionActive();
            Connection springConnection = DataSourceUtils.getConnection(dataSource);
            DataSourceUtils.releaseConnection(springConnection, dataSource);
            observations.add(inSpringTransaction && springConnection == transaction ? "ok"
                    : "active=" + inSpringTransaction + ", same connection=" + (springConnection == transaction));
            String order = event.key();
            int attempt = attempts.merge(order, 1, Integer::sum);
            jdbc.update("INSERT INTO invoice (order_id) VALUES (?)", order);
            // the next hop: an event appended in the inbox transaction commits (or not) with it
            outbox.append(OutboxEvent.of("invoice", order, "InvoiceIssued", "{\"attempt\":" + attempt + "}"));
            ledger.record(order, order.startsWith("flaky") && attempt == 1);
            if (order.startsWith("poison")) {
                throw new FatalEventException("cannot bill " + order);
            }
        }
    }
}
