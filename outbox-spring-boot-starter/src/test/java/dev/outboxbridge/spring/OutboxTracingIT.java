package dev.outboxbridge.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelaySettings;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.tracing.Span;
import io.micrometer.tracing.Tracer;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.data.SpanData;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.transaction.annotation.Transactional;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * One trace from the HTTP request that wrote an order to the inbox handler that applied it, in a real Boot web
 * application (Tomcat on a random port) traced by Micrometer Tracing over OpenTelemetry, every span sampled and kept
 * by an {@link InMemorySpanExporter}; the outbox row is published by the embedded relay from PostgreSQL's WAL to the
 * testkit's Kafka, and consumed by the application's inbox consumer.
 */
@ExtendWith(OutboxBridgeExtension.class)
class OutboxTracingIT {

    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final String UPSTREAM_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static final String UPSTREAM_SPAN_ID = "00f067aa0ba902b7";
    private static final String OWN_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    @Test
    void oneTraceRunsFromTheHttpRequestThroughTheOutboxRowAndKafkaToTheHandlerThatAppliedTheOrder(TestDatabase db,
            TestKafka kafka) throws Exception {
        Setup setup = setup(db, kafka);
        try (Relay relay = Relay.create(RelayConfig.of(RelaySettings.of(db, kafka, setup.prefix)));
                ConfigurableApplicationContext app = run(setup.properties)) {
            relay.start();
            InMemorySpanExporter spans = app.getBean(InMemorySpanExporter.class);
            Billing billing = app.getBean(Billing.class);

            // o-1: the request starts the trace; o-2: it continues the caller's (traceparent and tracestate)
            assertThat(post(app, "o-1", Map.of())).isEqualTo(200);
            assertThat(post(app, "o-2", Map.of("traceparent", "00-" + UPSTREAM_TRACE_ID + "-" + UPSTREAM_SPAN_ID + "-01",
                    "tracestate", "shop=blue"))).isEqualTo(200);
            await().atMost(WAIT).until(() -> billing.spans.keySet().containsAll(List.of("o-1", "o-2"))
                    && consumerSpan(spans, "o-2").isPresent() && consumerSpan(spans, "o-1").isPresent());

            for (String order : List.of("o-1", "o-2")) {
                SpanData server = serverSpan(spans, order);
                SpanData append = only(spans, s -> s.getKind() == SpanKind.PRODUCER
                        && s.getTraceId().equals(server.getTraceId()));
                SpanData consumer = consumerSpan(spans, order).orElseThrow();
                String traceparent = "00-" + server.getTraceId() + "-" + append.getSpanId() + "-01";

                assertThat(append.getName()).isEqualTo("outbox append order");
                assertThat(append.getParentSpanId()).as("append span under the HTTP server span")
                        .isEqualTo(server.getSpanId());
                assertThat(rowHeader(app, order, "traceparent")).as("outbox row of " + order).isEqualTo(traceparent);
                assertThat(recordHeader(kafka, setup.orders, order, "traceparent"))
                        .as("Kafka record of " + order + ": the relay copied the header unchanged").isEqualTo(traceparent);
                assertThat(consumer.getTraceId()).as("one trace").isEqualTo(server.getTraceId());
                assertThat(consumer.getParentSpanId()).as("consumer span's parent: the producing span")
                        .isEqualTo(append.getSpanId());
                assertThat(consumer.getName()).isEqualTo(setup.consumer + " process");
                assertThat(consumer.getAttributes().asMap().toString()).contains("outbox.event.type=OrderPlaced");
                assertThat(billing.spans.get(order)).as("the handler ran in the consumer span")
                        .isEqualTo(consumer.getTraceId() + "/" + consumer.getSpanId());
                assertThat(billing.attempts.get(order)).as("handler runs of " + order).isEqualTo(1);
            }
            SpanData upstream = serverSpan(spans, "o-2");
            assertThat(upstream.getTraceId()).isEqualTo(UPSTREAM_TRACE_ID);
            assertThat(upstream.getParentSpanId()).isEqualTo(UPSTREAM_SPAN_ID);
            assertThat(rowHeader(app, "o-2", "tracestate")).isEqualTo("shop=blue");
            assertThat(consumerSpan(spans, "o-2").orElseThrow().getSpanContext().getTraceState().get("shop"))
                    .isEqualTo("blue");
            assertThat(db.count("SELECT count(*) FROM invoice")).isEqualTo(2);
        }
    }

    @Test
    void anEventWithATraceparentOfItsOwnKeepsItAndItsHandlerContinuesThatTrace(TestDatabase db, TestKafka kafka)
            throws Exception {
        Setup setup = setup(db, kafka);
        try (Relay relay = Relay.create(RelayConfig.of(RelaySettings.of(db, kafka, setup.prefix)));
                ConfigurableApplicationContext app = run(setup.properties)) {
            relay.start();
            InMemorySpanExporter spans = app.getBean(InMemorySpanExporter.class);
            app.getBean(Orders.class).place("o-own", OWN_TRACEPARENT);
            await().atMost(WAIT).until(() -> consumerSpan(spans, "o-own").isPresent());

            assertThat(rowHeader(app, "o-own", "traceparent")).isEqualTo(OWN_TRACEPARENT);
            SpanData consumer = consumerSpan(spans, "o-own").orElseThrow();
            assertThat(consumer.getTraceId()).isEqualTo("0af7651916cd43dd8448eb211c80319c");
            assertThat(consumer.getParentSpanId()).isEqualTo("b7ad6b7169203331");
            assertThat(app.getBean(Billing.class).attempts.get("o-own")).isEqualTo(1);
        }
    }

    @Test
    void withOutboxTracingDisabledNothingIsAddedAndTheHandlerRunsOutsideAnySpan(TestDatabase db, TestKafka kafka)
            throws Exception {
        assertNothingTracedBy(db, kafka, "outbox.tracing.enabled", "false", app -> {
            assertThat(app.getBeanProvider(ObservationRegistry.class).getIfAvailable()).as("tracing otherwise on")
                    .isNotNull();
            assertThat(app.getBeanProvider(InboxHandlerDecorator.class).stream()).isEmpty();
        });
    }

    @Test
    void withoutAnObservationRegistryNothingIsAddedAndNothingFails(TestDatabase db, TestKafka kafka) throws Exception {
        assertNothingTracedBy(db, kafka, "spring.autoconfigure.exclude", TestApplications.JPA_AUTO_CONFIGURATION
                + ",org.springframework.boot.micrometer.observation.autoconfigure.ObservationAutoConfiguration",
                app -> assertThat(app.getBeanProvider(ObservationRegistry.class).getIfAvailable()).isNull());
    }

    private static void assertNothingTracedBy(TestDatabase db, TestKafka kafka, String key, String value,
            java.util.function.Consumer<ConfigurableApplicationContext> precondition) throws Exception {
        Setup setup = setup(db, kafka);
        setup.properties.put(key, value);
        try (Relay relay = Relay.create(RelayConfig.of(RelaySettings.of(db, kafka, setup.prefix)));
                ConfigurableApplicationContext app = run(setup.properties)) {
            relay.start();
            precondition.accept(app);
            assertThat(post(app, "o-1", Map.of())).isEqualTo(200);
            Billing billing = app.getBean(Billing.class);
            await().atMost(WAIT).until(() -> billing.spans.containsKey("o-1"));

            assertThat(app.getBean(JdbcTemplate.class).queryForObject(
                    "SELECT count(*) FROM outbox_event WHERE aggregateid = 'o-1' AND headers IS NULL", Long.class))
                    .as("the row has no headers at all").isEqualTo(1);
            assertThat(recordHeader(kafka, setup.orders, "o-1", "traceparent")).isNull();
            assertThat(billing.spans.get("o-1")).as("no span around the handler").isEqualTo("none");
            assertThat(billing.attempts.get("o-1")).isEqualTo(1);
        }
    }

    private record Setup(String prefix, String orders, String consumer, Map<String, Object> properties) {
    }

    private static Setup setup(TestDatabase db, TestKafka kafka) throws Exception {
        String prefix = kafka.prefix() + "outbox.event.";
        String orders = prefix + "order";
        String consumer = kafka.topic("billing");
        kafka.createTopic(orders, 1);
        kafka.createTopic(consumer + ".dlt", 1);
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE orders (id text PRIMARY KEY)");
            st.execute("CREATE TABLE invoice (order_id text PRIMARY KEY)");
        }
        Map<String, Object> properties = TestApplications.database(db);
        properties.put("spring.kafka.bootstrap-servers", kafka.bootstrapServers());
        properties.put("outbox.topic-prefix", prefix);
        properties.put("outbox.inbox.consumers[" + consumer + "].topics", orders);
        properties.put("outbox.inbox.consumers[" + consumer + "].handler", "billingHandler");
        properties.put("server.port", "0");
        properties.put("management.tracing.sampling.probability", "1.0");
        return new Setup(prefix, orders, consumer, properties);
    }

    private static ConfigurableApplicationContext run(Map<String, Object> properties) {
        return new SpringApplicationBuilder(ShopApp.class).web(WebApplicationType.SERVLET).properties(properties)
                .logStartupInfo(false).run();
    }

    /** POSTs the order to the application's web server; returns the status. */
    private static int post(ConfigurableApplicationContext app, String order, Map<String, String> headers)
            throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://localhost:"
                + app.getEnvironment().getRequiredProperty("local.server.port") + "/orders/" + order))
                .POST(HttpRequest.BodyPublishers.noBody()).timeout(WAIT);
        headers.forEach(request::header);
        HttpClient client = HttpClient.newHttpClient();
        return client.send(request.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    private static SpanData serverSpan(InMemorySpanExporter spans, String order) {
        return only(spans, s -> s.getKind() == SpanKind.SERVER
                && String.valueOf(s.getAttributes().asMap()).contains("/orders/" + order));
    }

    private static Optional<SpanData> consumerSpan(InMemorySpanExporter spans, String order) {
        return spans.getFinishedSpanItems().stream().filter(s -> s.getKind() == SpanKind.CONSUMER
                && order.equals(String.valueOf(s.getAttributes().asMap().entrySet().stream()
                        .filter(e -> e.getKey().getKey().equals("order")).map(Map.Entry::getValue).findFirst()
                        .orElse(null)))).findFirst();
    }

    private static SpanData only(InMemorySpanExporter spans, java.util.function.Predicate<SpanData> filter) {
        List<SpanData> found = spans.getFinishedSpanItems().stream().filter(filter).toList();
        assertThat(found).as("spans matching, among " + spans.getFinishedSpanItems()).hasSize(1);
        return found.get(0);
    }

    private static String rowHeader(ConfigurableApplicationContext app, String order, String name) {
        return app.getBean(JdbcTemplate.class).queryForObject(
                "SELECT headers->>? FROM outbox_event WHERE aggregateid = ?", String.class, name, order);
    }

    private static String recordHeader(TestKafka kafka, String topic, String order, String name) {
        ConsumerRecord<byte[], byte[]> record = kafka.readAll(topic, Duration.ofSeconds(10)).stream()
                .filter(r -> order.equals(new String(r.key(), StandardCharsets.UTF_8))).findFirst().orElseThrow();
        Header header = record.headers().lastHeader(name);
        return header == null ? null : new String(header.value(), StandardCharsets.UTF_8);
    }

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class ShopApp {
        /** Boot's OpenTelemetry SDK exports to every SpanExporter bean: this one keeps the spans in memory. */
        @Bean
        InMemorySpanExporter spanExporter() {
            return InMemorySpanExporter.create();
        }

        @Bean
        Orders orders(JdbcTemplate jdbc, SpringOutbox outbox) {
            return new Orders(jdbc, outbox);
        }

        @Bean
        OrderController orderController(Orders orders) {
            return new OrderController(orders);
        }

        @Bean
        Billing billing(JdbcTemplate jdbc, ObjectProvider<Tracer> tracer) {
            return new Billing(jdbc, tracer);
        }

        @Bean
        InboxHandler billingHandler(Billing billing) {
            return billing::apply;
        }
    }

    @RestController
    static class OrderController {
        private final Orders orders;

        OrderController(Orders orders) {
            this.orders = orders;
        }

        @PostMapping("/orders/{id}")
        String place(@PathVariable("id") String id) {
            orders.place(id, null);
            return id;
        }
    }

    /** The producing side: the order row and its event in one @Transactional method. */
    static class Orders {
        private final JdbcTemplate jdbc;
        private final SpringOutbox outbox;

        Orders(JdbcTemplate jdbc, SpringOutbox outbox) {
            this.jdbc = jdbc;
            this.outbox = outbox;
        }

        /** @param traceparent a trace context of the application's own for the event, or null */
        @Transactional
        public void place(String id, String traceparent) {
            jdbc.update("INSERT INTO orders (id) VALUES (?)", id);
            OutboxEvent.Builder event = OutboxEvent.builder().aggregateType("order").aggregateId(id)
                    .type("OrderPlaced").payload("{\"id\":\"" + id + "\"}");
            if (traceparent != null) {
                event.header("traceparent", traceparent);
            }
            outbox.append(event.build());
        }
    }

    /** The consuming side: applies the order and notes the span it ran in, tagging it with the order. */
    static class Billing {
        final Map<String, Integer> attempts = new ConcurrentHashMap<>();
        final Map<String, String> spans = new ConcurrentHashMap<>();
        private final JdbcTemplate jdbc;
        private final ObjectProvider<Tracer> tracer;

        Billing(JdbcTemplate jdbc, ObjectProvider<Tracer> tracer) {
            this.jdbc = jdbc;
            this.tracer = tracer;
        }

        void apply(InboxEvent event, Connection transaction) {
            String order = event.key();
            attempts.merge(order, 1, Integer::sum);
            jdbc.update("INSERT INTO invoice (order_id) VALUES (?)", order);
            Span span = tracer.getIfAvailable(() -> Tracer.NOOP).currentSpan();
            if (span != null) {
                span.tag("order", order);
            }
            spans.put(order, span == null ? "none" : span.context().traceId() + "/" + span.context().spanId());
        }
    }
}
