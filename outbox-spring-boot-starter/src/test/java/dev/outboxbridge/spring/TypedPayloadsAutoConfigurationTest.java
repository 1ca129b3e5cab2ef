package dev.outboxbridge.spring;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.db.OutboxRecordFormat;
import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.outbox.InvalidOutboxEventException;
import dev.outboxbridge.outbox.NotInTransactionException;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.spring.payload.EncodedPayload;
import dev.outboxbridge.spring.payload.JacksonPayloadCodec;
import dev.outboxbridge.spring.payload.PayloadCodec;
import dev.outboxbridge.spring.payload.PayloadException;
import java.lang.reflect.Type;
import java.sql.Connection;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.jackson.autoconfigure.JacksonAutoConfiguration;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.jdbc.datasource.DriverManagerDataSource;
import org.springframework.transaction.PlatformTransactionManager;
import tools.jackson.databind.PropertyNamingStrategies;
import tools.jackson.databind.json.JsonMapper;

/**
 * The payload codec, typed listener methods and the CloudEvents option as the auto-configuration sets them up, and
 * what it refuses at start-up. The data source points at no server: nothing here connects. On real PostgreSQL and
 * Kafka: {@code TypedPayloadsIT}.
 */
class TypedPayloadsAutoConfigurationTest {

    private static final DataSource NOWHERE = new DriverManagerDataSource("jdbc:postgresql://127.0.0.1:1/none");

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(JacksonAutoConfiguration.class,
                    PayloadCodecAutoConfiguration.class, OutboxAutoConfiguration.class, InboxAutoConfiguration.class))
            .withBean(DataSource.class, () -> NOWHERE)
            .withBean(PlatformTransactionManager.class, () -> new DataSourceTransactionManager(NOWHERE))
            .withPropertyValues("outbox.inbox.auto-startup=false");

    record OrderPlaced(String orderId, int quantity) {
    }

    record Line(String sku) {
    }

    static class Typed {
        final List<Object> calls = new CopyOnWriteArrayList<>();

        @InboxListener(consumer = "billing", eventType = "OrderPlaced", topics = "outbox.event.order")
        void placed(OrderPlaced order) {
            calls.add(order);
        }

        @InboxListener(consumer = "billing", eventType = "OrderAmended")
        void amended(InboxEvent event, OrderPlaced order, Connection transaction) {
            calls.add(event.key() + ":" + order);
        }

        @InboxListener(consumer = "billing", eventType = "LinesAdded")
        void lines(List<Line> lines, InboxEvent event) {
            calls.add(lines);
        }
    }

    static class TwoPayloads {
        @InboxListener(consumer = "billing", eventType = "OrderPlaced")
        void placed(OrderPlaced order, Line line) {
        }
    }

    static class OnlyTheConnection {
        @InboxListener(consumer = "billing", eventType = "OrderPlaced")
        void placed(Connection transaction) {
        }
    }

    static class Returning {
        @InboxListener(consumer = "billing", eventType = "OrderPlaced")
        OrderPlaced placed(OrderPlaced order) {
            return order;
        }
    }

    private static InboxEvent event(String type, String key, String payload, String contentType) {
        InboxEvent.Builder b = InboxEvent.builder().id(UUID.randomUUID()).eventType(type).key(key)
                .topic("outbox.event.order").payload(payload);
        if (contentType != null) {
            b.header("content-type", contentType);
        }
        return b.build();
    }

    @Test
    void theDefaultCodecIsJsonWithTheApplicationsJsonMapper() {
        JsonMapper snake = JsonMapper.builder().propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE).build();
        runner.withBean(JsonMapper.class, () -> snake).run(context -> {
            PayloadCodec codec = context.getBean(PayloadCodec.class);
            assertThat(codec).isInstanceOf(JacksonPayloadCodec.class);
            EncodedPayload encoded = codec.serialize(new OrderPlaced("o-1", 2));
            assertThat(new String(encoded.bytes(), UTF_8)).isEqualTo("{\"order_id\":\"o-1\",\"quantity\":2}");
            assertThat(encoded.contentType()).isEqualTo("application/json");
        });
        runner.withBean("one", JsonMapper.class, () -> snake).withBean("two", JsonMapper.class, JsonMapper::new)
                .run(context -> assertThat(context).as("several mappers, none @Primary: no silent choice").hasFailed()
                        .getFailure().hasStackTraceContaining("NoUniqueBeanDefinitionException")
                        .hasStackTraceContaining(JsonMapper.class.getName()));
        runner.run(context -> assertThat(context.getBean(PayloadCodec.class).serialize(new OrderPlaced("o-1", 2)))
                .as("Boot's JsonMapper").isEqualTo(new EncodedPayload("{\"orderId\":\"o-1\",\"quantity\":2}"
                        .getBytes(UTF_8), "application/json")));
    }

    @Test
    void aCodecBeanOfTheApplicationReplacesTheDefault() {
        PayloadCodec own = new PayloadCodec() {
            @Override
            public String defaultContentType() {
                return "text/plain";
            }

            @Override
            public EncodedPayload serialize(Object payload) {
                return new EncodedPayload(payload.toString().getBytes(UTF_8), "text/plain");
            }

            @Override
            public Object deserialize(byte[] payload, String contentType, Type type) {
                return new OrderPlaced(new String(payload, UTF_8), 1);
            }
        };
        runner.withBean(PayloadCodec.class, () -> own).withBean(Typed.class, Typed::new).run(context -> {
            assertThat(context).hasSingleBean(PayloadCodec.class);
            assertThat(context.getBean(PayloadCodec.class)).isSameAs(own);
            context.getBean(InboxListeners.class).handler("billing", InboxListeners.UnknownEventTypes.SKIP)
                    .handle(event("OrderPlaced", "o-1", "o-1", "text/plain"), null);
            assertThat(context.getBean(Typed.class).calls).containsExactly(new OrderPlaced("o-1", 1));
        });
    }

    @Test
    void typedListenersReceiveThePayloadReadByItsContentTypeWithTheEventAndConnectionInAnyOrder() {
        runner.withBean(Typed.class, Typed::new).run(context -> {
            InboxHandler handler = context.getBean(InboxListeners.class).handler("billing",
                    InboxListeners.UnknownEventTypes.SKIP);
            handler.handle(event("OrderPlaced", "o-1", "{\"orderId\":\"o-1\",\"quantity\":3}", "application/json"),
                    null);
            handler.handle(event("OrderPlaced", "o-2", "{\"orderId\":\"o-2\",\"quantity\":1}", null), null);
            handler.handle(event("OrderAmended", "o-3", "{\"orderId\":\"o-3\",\"quantity\":4}",
                    "application/vnd.shop+json; charset=utf-8"), null);
            handler.handle(event("LinesAdded", "o-4", "[{\"sku\":\"a\"},{\"sku\":\"b\"}]", "application/json"), null);
            assertThat(context.getBean(Typed.class).calls).containsExactly(new OrderPlaced("o-1", 3),
                    new OrderPlaced("o-2", 1), "o-3:" + new OrderPlaced("o-3", 4), List.of(new Line("a"), new Line("b")));
        });
    }

    @Test
    void anUnreadablePayloadIsAFatalFailureNamingTheEventTheTypesAndTheParseError() {
        runner.withBean(Typed.class, Typed::new).run(context -> {
            InboxHandler handler = context.getBean(InboxListeners.class).handler("billing",
                    InboxListeners.UnknownEventTypes.SKIP);
            InboxEvent malformed = event("OrderPlaced", "o-1", "{\"orderId\": nope", "application/json");
            assertThatThrownBy(() -> handler.handle(malformed, null)).isInstanceOf(FatalEventException.class)
                    .hasMessageContaining("Inbox consumer 'billing' cannot read the payload of event " + malformed.id())
                    .hasMessageContaining("event type 'OrderPlaced'").hasMessageContaining(OrderPlaced.class.getName())
                    .hasMessageContaining("Unrecognized token 'nope'").hasCauseInstanceOf(PayloadException.class);
            assertThatThrownBy(() -> handler.handle(event("OrderPlaced", "o-2", "[1, 2]", null), null))
                    .isInstanceOf(FatalEventException.class).hasMessageContaining("content type absent, read as "
                            + "application/json").hasMessageContaining("Cannot deserialize");
            assertThatThrownBy(() -> handler.handle(event("OrderPlaced", "o-3", "o-3;2", "text/csv"), null))
                    .isInstanceOf(FatalEventException.class).hasMessageContaining("content type 'text/csv'")
                    .hasMessageContaining("declare a PayloadCodec bean that reads 'text/csv'");
            assertThatThrownBy(() -> handler.handle(event("OrderPlaced", "o-4", "null", null), null))
                    .isInstanceOf(FatalEventException.class).hasMessageContaining("JSON null");
            assertThat(context.getBean(Typed.class).calls).isEmpty();
        });
    }

    @Test
    void listenerSignaturesTheInboxCannotCallAreRefusedAtStartNamingWhatIsAllowed() {
        String allowed = "A listener method returns void and takes, in any order, the InboxEvent and/or the payload";
        runner.withBean(TwoPayloads.class, TwoPayloads::new).run(context -> assertThat(context).hasFailed()
                .getFailure().hasStackTraceContaining(TwoPayloads.class.getName() + ".placed")
                .hasStackTraceContaining("more than one parameter that is neither InboxEvent nor Connection")
                .hasStackTraceContaining(allowed));
        runner.withBean(OnlyTheConnection.class, OnlyTheConnection::new).run(context -> assertThat(context)
                .hasFailed().getFailure().hasStackTraceContaining("it takes neither the InboxEvent nor a payload")
                .hasStackTraceContaining(allowed));
        runner.withBean(Returning.class, Returning::new).run(context -> assertThat(context).hasFailed()
                .getFailure().hasStackTraceContaining("it returns " + OrderPlaced.class.getName())
                .hasStackTraceContaining(allowed));
    }

    @Test
    void withoutJacksonTypedAppendsAndTypedListenersFailNamingTheFixAndTheByteApiStays() {
        ApplicationContextRunner noJackson = runner.withClassLoader(new FilteredClassLoader("tools.jackson"));
        noJackson.run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context).doesNotHaveBean(PayloadCodec.class);
            SpringOutbox outbox = context.getBean(SpringOutbox.class);
            assertThatThrownBy(() -> outbox.append("order", "o-1", "OrderPlaced", new OrderPlaced("o-1", 1)))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("no PayloadCodec")
                    .hasMessageContaining("add spring-boot-starter-json").hasMessageContaining("declare a bean of type "
                            + PayloadCodec.class.getName());
            // the byte API goes on to the transaction check (the no-Jackson append on a database: TypedPayloadsIT)
            assertThatThrownBy(() -> outbox.append(OutboxEvent.of("order", "o-1", "OrderPlaced", "{}")))
                    .isInstanceOf(NotInTransactionException.class);
        });
        noJackson.withBean(Typed.class, Typed::new).run(context -> assertThat(context).hasFailed().getFailure()
                .hasStackTraceContaining("@InboxListener method " + Typed.class.getName() + ".")
                .hasStackTraceContaining("which needs a PayloadCodec to read it, and the context has none")
                .hasStackTraceContaining("add spring-boot-starter-json"));
    }

    @Test
    void cloudEventsAreOffByDefaultAndNeedAUriReferenceSource() {
        runner.run(context -> assertThat(context).doesNotHaveBean(CloudEventsHeaders.class));
        runner.withPropertyValues("outbox.cloudevents.enabled=true").run(context -> assertThat(context).hasFailed()
                .getFailure().hasStackTraceContaining("outbox.cloudevents.source is not set, and "
                        + "outbox.cloudevents.enabled=true needs it").hasStackTraceContaining("Fix: set "
                        + "outbox.cloudevents.source to a URI-reference"));
        runner.withPropertyValues("outbox.cloudevents.enabled=true", "outbox.cloudevents.source=orders service")
                .run(context -> assertThat(context).hasFailed().getFailure().hasStackTraceContaining(
                        "Invalid value 'orders service' for outbox.cloudevents.source: not a URI-reference"));
        runner.withPropertyValues("outbox.cloudevents.enabled=true", "outbox.cloudevents.source=/orders")
                .run(context -> assertThat(context.getBean(CloudEventsHeaders.class).source()).isEqualTo("/orders"));
    }

    @Test
    void cloudEventsHeadersCarryTheEventIdAndKeepTheEventsOwnAttributes() {
        Instant now = Instant.parse("2026-12-04T21:30:15.250Z");
        CloudEventsHeaders headers = CloudEventsHeaders.binaryMode("https://shop.example.com/orders",
                Clock.fixed(now, ZoneOffset.UTC));
        Outbox outbox = Outbox.create(OutboxConfig.defaults());
        OutboxEvent withoutId = OutboxEvent.builder().aggregateType("order").aggregateId("o-1").type("OrderPlaced")
                .payload("{}").header("content-type", "application/json").build();
        OutboxEvent complete = headers.addTo(withoutId, outbox::newEventId);
        UUID id = complete.id().orElseThrow();
        assertThat(complete.headers()).containsOnly(Map.entry("ce_specversion", "1.0"), Map.entry("ce_id",
                id.toString()), Map.entry("ce_type", "OrderPlaced"), Map.entry("ce_source",
                "https://shop.example.com/orders"), Map.entry("ce_time", "2026-12-04T21:30:15.250Z"),
                Map.entry("content-type", "application/json"));
        assertThat(complete.payload()).isEqualTo(withoutId.payload());

        UUID given = UUID.randomUUID();
        OutboxEvent own = OutboxEvent.builder().id(given).aggregateType("order").aggregateId("o-1").type("OrderPlaced")
                .payload("{}").header("ce_type", "com.shop.order.placed.v1").build();
        assertThat(headers.addTo(own, outbox::newEventId).headers()).containsEntry("ce_id", given.toString())
                .containsEntry("ce_type", "com.shop.order.placed.v1");

        OutboxEvent contradicting = OutboxEvent.builder().aggregateType("order").aggregateId("o-1").type("OrderPlaced")
                .payload("{}").header("ce_id", "something-else").build();
        assertThatThrownBy(() -> headers.addTo(contradicting, outbox::newEventId))
                .isInstanceOf(InvalidOutboxEventException.class).hasMessageContaining("header 'ce_id' is "
                        + "'something-else', but with outbox.cloudevents.enabled=true it must be the event id");

        assertThat(List.of(CloudEventsHeaders.SPECVERSION, CloudEventsHeaders.ID, CloudEventsHeaders.TYPE,
                CloudEventsHeaders.SOURCE, CloudEventsHeaders.TIME, PayloadCodec.CONTENT_TYPE_HEADER))
                .as("none of the added headers is one the relay reserves").doesNotContainAnyElementsOf(
                        OutboxRecordFormat.RESERVED_HEADERS);
    }

    @Test
    void aTypedAppendRefusesAContentTypeHeaderOtherThanTheCodecs() {
        runner.run(context -> assertThatThrownBy(() -> context.getBean(SpringOutbox.class).append("order", "o-1",
                "OrderPlaced", new OrderPlaced("o-1", 1), Map.of("content-type", "text/plain")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("headers give content-type "
                        + "'text/plain', but the codec wrote the payload of event 'OrderPlaced' as 'application/json'"));
    }
}
