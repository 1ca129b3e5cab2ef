package dev.outboxbridge.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.outbox.OutboxEvent;
import io.micrometer.common.KeyValue;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationHandler;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.observation.transport.ReceiverContext;
import io.micrometer.observation.transport.SenderContext;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.jdbc.datasource.DriverManagerDataSource;
import org.springframework.transaction.PlatformTransactionManager;

/**
 * The observations without a tracer: a registry whose handler plays the part of Micrometer Tracing's propagating
 * handlers (it writes a trace context into the sender's carrier and reads the receiver's), so what the starter adds
 * to the events, keeps of the application's headers, and records of failures is seen exactly. The end-to-end proof
 * with a real tracer is {@code OutboxTracingIT}.
 */
class OutboxObservationTest {

    private static final String TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /** Records the observations it sees; injects a trace context (and a reserved name, which must be dropped). */
    private static final class PropagatingHandler implements ObservationHandler<Observation.Context> {
        final Queue<Observation.Context> stopped = new ConcurrentLinkedQueue<>();
        final Queue<String> extracted = new ConcurrentLinkedQueue<>();

        @Override
        @SuppressWarnings("unchecked")
        public void onStart(Observation.Context context) {
            if (context instanceof SenderContext<?> sender) {
                SenderContext<Object> s = (SenderContext<Object>) sender;
                s.getSetter().set(s.getCarrier(), "traceparent", TRACEPARENT);
                s.getSetter().set(s.getCarrier(), "tracestate", "shop=blue");
                s.getSetter().set(s.getCarrier(), "eventType", "must-not-be-added");
            } else if (context instanceof ReceiverContext<?> receiver) {
                ReceiverContext<Object> r = (ReceiverContext<Object>) receiver;
                extracted.add(String.valueOf(r.getGetter().get(r.getCarrier(), "traceparent")));
            }
        }

        @Override
        public void onStop(Observation.Context context) {
            stopped.add(context);
        }

        @Override
        public boolean supportsContext(Observation.Context context) {
            return true;
        }
    }

    private final PropagatingHandler handler = new PropagatingHandler();
    private final ObservationRegistry registry = ObservationRegistry.create();

    OutboxObservationTest() {
        registry.observationConfig().observationHandler(handler);
    }

    @Test
    void appendedEventsCarryTheTraceContextButNeverLoseTheApplicationsOwnHeaders() {
        OutboxEvent plain = OutboxEvent.of("order", "o-1", "OrderPlaced", "{}");
        OutboxEvent own = OutboxEvent.builder().aggregateType("order").aggregateId("o-2").type("OrderPlaced").payload("{}")
                .header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").build();
        OutboxEvent stateOnly = OutboxEvent.builder().aggregateType("order").aggregateId("o-3").type("OrderPaid")
                .payload("{}").header("tracestate", "mine=1").build();
        AtomicReference<List<OutboxEvent>> appended = new AtomicReference<>();

        String result = new ObservedAppends(registry, null).observe(List.of(plain, own, stateOnly), events -> {
            appended.set(events);
            return "ok";
        });

        assertThat(result).isEqualTo("ok");
        List<OutboxEvent> events = appended.get();
        assertThat(events.get(0).headers()).containsExactly(Map.entry("traceparent", TRACEPARENT),
                Map.entry("tracestate", "shop=blue"));
        assertThat(events.get(0).aggregateId()).isEqualTo("o-1");
        assertThat(events.get(1)).as("its own trace context, kept whole").isSameAs(own);
        assertThat(events.get(2).headers()).as("a header of the application is never overwritten")
                .containsEntry("tracestate", "mine=1").containsEntry("traceparent", TRACEPARENT);
        Observation.Context context = handler.stopped.remove();
        assertThat(context.getName()).isEqualTo(OutboxObservation.APPEND);
        assertThat(context.getContextualName()).isEqualTo("outbox append order");
        assertThat(context.getLowCardinalityKeyValues()).contains(KeyValue.of(OutboxObservation.AGGREGATE_TYPE, "order"),
                KeyValue.of(OutboxObservation.EVENT_TYPE, OutboxObservation.SEVERAL));
        assertThat(context.getHighCardinalityKeyValue(OutboxObservation.EVENT_COUNT).getValue()).isEqualTo("3");
    }

    @Test
    void aFailedAppendIsTheObservationsError() {
        IllegalStateException failure = new IllegalStateException("no transaction");
        assertThatThrownBy(() -> new ObservedAppends(registry, null).observe(
                List.of(OutboxEvent.of("order", "o-1", "OrderPlaced", "{}")), events -> {
                    throw failure;
                })).isSameAs(failure);
        assertThat(handler.stopped.remove().getError()).isSameAs(failure);
    }

    @Test
    void withTheNoopRegistryTheEventsGoThroughUntouched() {
        List<OutboxEvent> given = List.of(OutboxEvent.of("order", "o-1", "OrderPlaced", "{}"));
        AtomicReference<List<OutboxEvent>> appended = new AtomicReference<>();
        new ObservedAppends(ObservationRegistry.NOOP, null).observe(given, events -> {
            appended.set(events);
            return null;
        });
        assertThat(appended.get()).isSameAs(given);
        assertThat(handler.stopped).isEmpty();
    }

    @Test
    void theHandlerRunsInsideAConsumerObservationReadingTheEventsHeadersAndItsFailureIsTheError() throws Exception {
        InboxEvent event = InboxEvent.builder().id(UUID.randomUUID()).eventType("OrderPlaced").topic("shop.order")
                .key("o-1").payload("{}").header("traceparent", TRACEPARENT).build();
        AtomicReference<Observation> current = new AtomicReference<>();
        InboxHandler failing = (e, tx) -> {
            current.set(registry.getCurrentObservation());
            throw new IllegalStateException("ledger down");
        };

        InboxHandler observed = new ObservedInboxHandlers(registry, null).decorate("billing", failing);

        assertThatThrownBy(() -> observed.handle(event, null)).hasMessage("ledger down");
        assertThat(handler.extracted).containsExactly(TRACEPARENT);
        Observation.Context context = handler.stopped.remove();
        assertThat(current.get().getContext()).as("the handler ran in the observation's scope").isSameAs(context);
        assertThat(context.getName()).isEqualTo(OutboxObservation.HANDLE);
        assertThat(context.getContextualName()).isEqualTo("billing process");
        assertThat(context.getLowCardinalityKeyValues()).contains(KeyValue.of(OutboxObservation.CONSUMER, "billing"),
                KeyValue.of(OutboxObservation.EVENT_TYPE, "OrderPlaced"),
                KeyValue.of(OutboxObservation.TOPIC, "shop.order"));
        assertThat(context.getHighCardinalityKeyValue(OutboxObservation.EVENT_ID).getValue())
                .isEqualTo(event.id().toString());
        assertThat(context.getError()).hasMessage("ledger down");
        assertThat(registry.getCurrentObservation()).as("scope closed").isNull();
    }

    private static final DataSource NOWHERE = new DriverManagerDataSource("jdbc:postgresql://127.0.0.1:1/none");

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(OutboxAutoConfiguration.class, InboxAutoConfiguration.class,
                    OutboxObservationAutoConfiguration.class))
            .withBean(DataSource.class, () -> NOWHERE)
            .withBean(PlatformTransactionManager.class, () -> new DataSourceTransactionManager(NOWHERE));

    @Test
    void theObservationsUseTheApplicationsRegistryAndConventions() {
        OutboxObservation.HandleConvention own = new OutboxObservation.DefaultHandleConvention() {
            @Override
            public String getName() {
                return "shop.billing";
            }
        };
        InboxHandlerDecorator applications = (consumer, handler) -> handler;
        runner.withBean(InboxHandlerDecorator.class, () -> applications).withBean(ObservationRegistry.class, () -> registry)
                .withBean(OutboxObservation.HandleConvention.class, () -> own).run(context -> {
                    assertThat(context).hasNotFailed().hasSingleBean(SpringOutbox.class).hasSingleBean(AppendObserver.class);
                    assertThat(context.getBeanProvider(InboxHandlerDecorator.class).orderedStream().toList())
                            .as("the observation outermost, the application's decorators inside its span")
                            .hasSize(2).first().isInstanceOf(ObservedInboxHandlers.class);
                    InboxHandler observed = context.getBean("outboxInboxHandlerObservation", InboxHandlerDecorator.class)
                            .decorate("billing", (e, tx) -> { });
                    observed.handle(InboxEvent.builder().id(UUID.randomUUID()).topic("t").payload("{}").build(), null);
                    assertThat(handler.stopped.remove().getName()).isEqualTo("shop.billing");
                });
    }

    @Test
    void turnedOffByPropertyNothingIsObserved() {
        runner.withBean(ObservationRegistry.class, () -> registry).withPropertyValues("outbox.tracing.enabled=false")
                .run(context -> assertThat(context).hasNotFailed().hasSingleBean(SpringOutbox.class)
                        .doesNotHaveBean(AppendObserver.class).doesNotHaveBean(InboxHandlerDecorator.class));
    }

    @Test
    void withoutMicrometerObservationOnTheClassPathTheStarterWorksUnobserved() {
        runner.withClassLoader(new FilteredClassLoader("io.micrometer.observation"))
                .run(context -> assertThat(context).hasNotFailed().hasSingleBean(SpringOutbox.class)
                        .hasSingleBean(SpringInboxConsumers.class).doesNotHaveBean(AppendObserver.class)
                        .doesNotHaveBean(InboxHandlerDecorator.class));
    }
}
