package com.example.shop.launcher;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.example.shop.events.OrderPlaced;
import com.example.shop.launcher.ShopClient.Response;
import dev.outboxbridge.inbox.DeadLetterHeaders;
import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.InboxStats;
import dev.outboxbridge.spring.payload.PayloadCodec;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.TestKafka;
import io.micrometer.registry.otlp.OtlpMeterRegistry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.context.ConfigurableApplicationContext;
import tools.jackson.databind.JsonNode;

/**
 * The shop end to end, as a user meets it: both Spring Boot applications with their web servers on random ports,
 * each on its own database of the testkit's PostgreSQL, the relay embedded in orders publishing to the testkit's Kafka,
 * and real HTTP requests. No mocks; every wait is for a condition.
 *
 * <p>The services start once for the class; each test uses customers of its own and checks counts of its own rows, so
 * the tests do not depend on each other's order.
 */
@ExtendWith(OutboxBridgeExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ShopEndToEndIT {

    private static final Duration WAIT = Duration.ofSeconds(60);

    private TestKafka kafka;
    private Shop shop;
    private ShopClient client;

    @BeforeAll
    void startTheShop(PostgresServer postgres, TestKafka kafka) {
        this.kafka = kafka;
        shop = Shop.start(postgres, kafka.bootstrapServers(), new Shop.Topics(kafka.prefix()), 0, 0);
        client = new ShopClient(shop.ordersUrl(), shop.billingUrl());
    }

    @AfterAll
    void stopTheShop() {
        if (shop != null) {
            shop.close();
        }
    }

    @Test
    void anOrderPlacedOverHttpIsStoredWithItsEventInOneTransactionAndInvoicedOnce() throws Exception {
        Response placed = client.placeOrder("ann", 2_500);
        assertThat(placed.status()).isEqualTo(201);
        String orderId = placed.body().get("id").asString();

        // orders: the order row and its outbox row, committed together
        assertThat(shop.ordersDb().count("SELECT count(*) FROM orders WHERE id = ?", orderId)).isEqualTo(1);
        assertThat(shop.ordersDb().count("SELECT count(*) FROM outbox_event WHERE aggregateid = ? AND type = ?",
                orderId, OrderPlaced.TYPE)).isEqualTo(1);

        JsonNode invoice = awaitInvoice(orderId);
        assertThat(invoice.get("customer").asString()).isEqualTo("ann");
        assertThat(invoice.get("amountCents").asLong()).isEqualTo(2_500);
        UUID eventId = UUID.fromString(invoice.get("eventId").asString());
        assertThat(shop.ordersDb().count("SELECT count(*) FROM outbox_event WHERE id = ?", eventId))
                .as("the invoice names the event the orders service appended").isEqualTo(1);
        assertThat(shop.billingDb().count("SELECT count(*) FROM invoice WHERE order_id = ?", orderId)).isEqualTo(1);
        assertThat(shop.billingDb().count("SELECT count(*) FROM inbox_event WHERE consumer_name = 'billing' AND "
                + "event_id = ? AND status = 'APPLIED'", eventId)).isEqualTo(1);

        JsonNode ordersHealth = client.ordersHealth();
        assertThat(ordersHealth.get("status").asString()).isEqualTo("UP");
        // the starter's outboxRelay contributor: this instance's relay leads (publishes)
        assertThat(ordersHealth.at("/components/outboxRelay/status").asString()).isEqualTo("UP");
        assertThat(ordersHealth.at("/components/outboxRelay/details/state").asString()).isEqualTo("leader");
        assertThat(ordersHealth.at("/components/outboxRelay/details/published").asLong()).isPositive();
        JsonNode billingHealth = client.billingHealth();
        assertThat(billingHealth.get("status").asString()).isEqualTo("UP");
        assertThat(billingHealth.at("/components/outboxInbox/details/consumers/billing/state").asString())
                .isEqualTo("RUNNING");
    }

    @Test
    void oneTraceRunsFromThePostOfAnOrderInOrdersToTheHandlerThatInvoicedItInBilling() throws Exception {
        Response placed = client.placeOrder("gus", 4_200);
        assertThat(placed.status()).isEqualTo(201);
        String orderId = placed.body().get("id").asString();
        String eventId = awaitInvoice(orderId).get("eventId").asString();

        // orders: the starter wrote the append span's context into the event's headers, and the relay copied them
        String traceparent = shop.traceparent(orderId).orElseThrow();
        assertThat(traceparent).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-01");
        String traceId = traceparent.substring(3, 35);
        String appendSpanId = traceparent.substring(36, 52);
        ConsumerRecord<byte[], byte[]> record = kafka.readAll(shop.topics().orders(), WAIT).stream()
                .filter(r -> new String(r.key(), UTF_8).equals(orderId)).findFirst().orElseThrow();
        assertThat(header(record, "traceparent")).as("the Kafka record's header").contains(traceparent);

        // billing's consumer span: found by the event id it handled
        SpanData consumer = await().atMost(WAIT).until(() -> shop.billingSpans().stream()
                .filter(s -> eventId.equals(s.getAttributes().get(AttributeKey.stringKey("outbox.event.id"))))
                .findFirst(), Optional::isPresent).orElseThrow();
        // orders' spans of that trace: the server span of the request and the append span under it
        List<SpanData> ordersTrace = await().atMost(WAIT).until(() -> shop.ordersSpans().stream()
                .filter(s -> s.getTraceId().equals(traceId)).toList(), spans -> spans.size() >= 2);
        SpanData server = only(ordersTrace, SpanKind.SERVER);
        SpanData append = only(ordersTrace, SpanKind.PRODUCER);

        assertThat(server.getName()).isEqualTo("http post /orders");
        assertThat(server.getAttributes().get(AttributeKey.stringKey("status"))).isEqualTo("201");
        assertThat(append.getName()).isEqualTo("outbox append order");
        assertThat(append.getSpanId()).as("the append span is the one in the event's traceparent")
                .isEqualTo(appendSpanId);
        assertThat(append.getParentSpanId()).as("append span under the HTTP server span").isEqualTo(server.getSpanId());
        assertThat(consumer.getKind()).isEqualTo(SpanKind.CONSUMER);
        assertThat(consumer.getName()).isEqualTo("billing process");
        assertThat(consumer.getTraceId()).as("one trace across both services").isEqualTo(server.getTraceId())
                .isEqualTo(traceId);
        assertThat(consumer.getParentSpanId()).as("the consumer span's parent: the append span in orders")
                .isEqualTo(append.getSpanId());

        // as configured (orders.yml, billing.yml), nothing is pushed anywhere: no OTLP span exporter (no endpoint set),
        // no OTLP meter registry (switched off); only the launcher's in-memory exporter
        for (ConfigurableApplicationContext app : List.of(shop.orders(), shop.billing())) {
            assertThat(app.getBeanNamesForType(SpanExporter.class)).containsExactly("shopInMemorySpanExporter");
            assertThat(app.getBeanNamesForType(OtlpMeterRegistry.class)).isEmpty();
        }
    }

    @Test
    void aRequestRefusedAfterItsInsertRollsBackAndPublishesNothing() throws Exception {
        Response first = client.placeOrder("bea", 60_000);
        assertThat(first.status()).isEqualTo(201);
        // the credit check runs after the order row and its event were written: the transaction rolls back
        Response refused = client.placeOrder("bea", 50_000);
        assertThat(refused.status()).isEqualTo(422);
        assertThat(refused.body().get("error").asString()).contains("exceed the credit limit");
        assertThat(shop.ordersDb().count("SELECT count(*) FROM orders WHERE customer = 'bea'")).isEqualTo(1);
        assertThat(shop.ordersDb().count("SELECT count(*) FROM outbox_event WHERE convert_from(payload, 'UTF8') "
                + "LIKE '%\"bea\"%'")).isEqualTo(1);

        // an order committed after the refused one: once it is invoiced, the relay has passed the refused one's point
        Response later = client.placeOrder("cid", 1_000);
        assertThat(later.status()).isEqualTo(201);
        awaitInvoice(later.body().get("id").asString());

        // everything the relay published up to now (the other tests' hand-made records have no aggregateType header),
        // read as billing reads it: by the record's content type, with billing's payload codec
        PayloadCodec codec = shop.billing().getBean(PayloadCodec.class);
        List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(shop.topics().orders(), WAIT).stream()
                .filter(r -> header(r, InboxEvent.AGGREGATE_TYPE_HEADER).isPresent()).toList();
        assertThat(records).extracting(r -> header(r, PayloadCodec.CONTENT_TYPE_HEADER).orElse(null))
                .as("the typed append's content type, copied by the relay").containsOnly("application/json");
        List<OrderPlaced> published = records.stream().map(r -> (OrderPlaced) codec.deserialize(r.value(),
                header(r, PayloadCodec.CONTENT_TYPE_HEADER).orElseThrow(), OrderPlaced.class)).toList();
        assertThat(published).filteredOn(e -> e.customer().equals("bea")).as("only bea's committed order")
                .extracting(OrderPlaced::totalCents).containsExactly(60_000L);
        assertThat(published).filteredOn(e -> e.customer().equals("cid")).hasSize(1);
        assertThat(client.invoices()).filteredOn(i -> i.get("customer").asString().equals("bea"))
                .extracting(i -> i.get("amountCents").asLong()).containsExactly(60_000L);
    }

    @Test
    void aRedeliveredEventIsNotInvoicedTwice() throws Exception {
        String orderId = client.placeOrder("dan", 7_000).body().get("id").asString();
        awaitInvoice(orderId);
        ConsumerRecord<byte[], byte[]> original = kafka.readAll(shop.topics().orders(), WAIT).stream()
                .filter(r -> new String(r.key(), UTF_8).equals(orderId)).findFirst().orElseThrow();
        InboxStats before = shop.billingConsumer().stats();

        // the same record again, as after a producer retry or a consumer's rebalance: same event id, same payload
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(kafka.producerProperties())) {
            ProducerRecord<byte[], byte[]> again = new ProducerRecord<>(original.topic(), original.key(), original.value());
            original.headers().forEach(h -> again.headers().add(h));
            producer.send(again).get();
        }

        await().atMost(WAIT).until(() -> shop.billingConsumer().stats().duplicates() == before.duplicates() + 1);
        assertThat(shop.billingConsumer().stats().processed()).isEqualTo(before.processed());
        assertThat(shop.billingDb().count("SELECT count(*) FROM invoice WHERE order_id = ?", orderId)).isEqualTo(1);
        assertThat(client.invoices()).filteredOn(i -> i.get("orderId").asString().equals(orderId)).hasSize(1);
    }

    @Test
    void poisonEventsAreDeadLetteredWithTheirReasonAndLaterOrdersStillGetBilled() throws Exception {
        UUID malformed = UUID.randomUUID();
        UUID invalidOrder = UUID.randomUUID();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(kafka.producerProperties())) {
            producer.send(orderPlacedRecord(malformed, "poison-1", "{\"orderId\": \"poison-1\", \"custo")).get();
            producer.send(orderPlacedRecord(invalidOrder, "poison-2",
                    "{\"orderId\":\"poison-2\",\"customer\":\"eve\",\"totalCents\":-5}")).get();
        }

        Map<String, ConsumerRecord<byte[], byte[]>> deadLetters = kafka.readAll(shop.topics().billingDeadLetters(), 2,
                WAIT).stream().collect(Collectors.toMap(r -> header(r, DeadLetterHeaders.EVENT_ID).orElseThrow(),
                        Function.identity()));
        assertThat(deadLetters).containsOnlyKeys(malformed.toString(), invalidOrder.toString());
        for (ConsumerRecord<byte[], byte[]> dead : deadLetters.values()) {
            assertThat(header(dead, DeadLetterHeaders.REASON)).contains(DeadLetterHeaders.REASON_HANDLER_FATAL);
            assertThat(header(dead, DeadLetterHeaders.CONSUMER)).contains("billing");
            assertThat(header(dead, DeadLetterHeaders.ORIGINAL_TOPIC)).contains(shop.topics().orders());
            assertThat(header(dead, DeadLetterHeaders.ATTEMPTS)).contains("1");
            assertThat(header(dead, DeadLetterHeaders.EXCEPTION_CLASS)).contains(FatalEventException.class.getName());
        }
        // not JSON: the starter cannot read it as the listener's OrderPlaced and dead-letters it; the listener never
        // runs
        assertThat(header(deadLetters.get(malformed.toString()), DeadLetterHeaders.EXCEPTION_MESSAGE).orElseThrow())
                .startsWith("Inbox consumer 'billing' cannot read the payload of event " + malformed
                        + " (event type 'OrderPlaced', content type absent, read as application/json) as "
                        + OrderPlaced.class.getName() + " for ")
                .contains("BillingListener.orderPlaced", "cannot read ", "Unexpected end-of-input");
        // an OrderPlaced, but one billing can never invoice: refused by BillingListener's own rule
        assertThat(header(deadLetters.get(invalidOrder.toString()), DeadLetterHeaders.EXCEPTION_MESSAGE).orElseThrow())
                .isEqualTo("event " + invalidOrder + ": order poison-2 has a total of -5 cents; billing invoices"
                        + " positive totals only");
        assertThat(shop.billingDb().count("SELECT count(*) FROM inbox_event WHERE consumer_name = 'billing' AND "
                + "status = 'DEAD_LETTERED' AND event_id IN (?, ?)", malformed, invalidOrder)).isEqualTo(2);
        assertThat(shop.billingDb().count("SELECT count(*) FROM invoice WHERE order_id LIKE 'poison-%'")).isZero();

        // the poison parks its own key only: a later order is billed
        Response later = client.placeOrder("fay", 3_300);
        assertThat(later.status()).isEqualTo(201);
        assertThat(awaitInvoice(later.body().get("id").asString()).get("amountCents").asLong()).isEqualTo(3_300);
    }

    private static SpanData only(List<SpanData> spans, SpanKind kind) {
        List<SpanData> found = spans.stream().filter(s -> s.getKind() == kind).toList();
        assertThat(found).as(kind + " spans among " + spans).hasSize(1);
        return found.get(0);
    }

    private JsonNode awaitInvoice(String orderId) {
        return await().atMost(WAIT).until(() -> invoice(orderId), Optional::isPresent).orElseThrow();
    }

    private Optional<JsonNode> invoice(String orderId) throws Exception {
        return StreamSupport.stream(client.invoices().spliterator(), false)
                .filter(i -> i.get("orderId").asString().equals(orderId)).findFirst();
    }

    private ProducerRecord<byte[], byte[]> orderPlacedRecord(UUID eventId, String key, String payload) {
        ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(shop.topics().orders(), key.getBytes(UTF_8),
                payload.getBytes(UTF_8));
        record.headers().add(InboxEvent.ID_HEADER, eventId.toString().getBytes(UTF_8));
        record.headers().add(InboxEvent.EVENT_TYPE_HEADER, OrderPlaced.TYPE.getBytes(UTF_8));
        return record;
    }

    private static Optional<String> header(ConsumerRecord<byte[], byte[]> record, String name) {
        Header header = record.headers().lastHeader(name);
        return Optional.ofNullable(header).map(h -> new String(h.value(), UTF_8));
    }
}
