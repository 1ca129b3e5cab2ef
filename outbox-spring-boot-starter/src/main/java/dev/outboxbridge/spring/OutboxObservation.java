package dev.outboxbridge.spring;

import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.outbox.OutboxEvent;
import io.micrometer.common.KeyValues;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationConvention;
import io.micrometer.observation.transport.ReceiverContext;
import io.micrometer.observation.transport.SenderContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * The observations of the starter (Micrometer Observation API), made when the application has an
 * {@code ObservationRegistry} and {@code outbox.tracing.enabled} is not false (see
 * {@link OutboxObservationAutoConfiguration}):
 *
 * <ul>
 * <li>{@value #APPEND} around each {@code SpringOutbox.append}/{@code appendAll} call: a producer span, child of
 * the current span (e.g. the HTTP request's), whose context the application's propagator (W3C {@code traceparent}
 * and {@code tracestate} by default) writes into the headers of the events appended, so the outbox row and the
 * Kafka record carry it;
 * <li>{@value #HANDLE} around each inbox handler call: a consumer span whose parent is read from the event's
 * headers, so the producing span is its parent and the handler's own spans (JDBC, HTTP) nest under it.
 * </ul>
 *
 * <p>Replace the names and tags by declaring a bean of {@link AppendConvention} or {@link HandleConvention}.
 */
public final class OutboxObservation {

    /** Name of the observation around an append (its timer and span). */
    public static final String APPEND = "outbox.append";
    /** Name of the observation around an inbox handler call. */
    public static final String HANDLE = "outbox.inbox.handle";

    /** Low-cardinality tag: the aggregate type of the events ({@value #SEVERAL} when they differ). */
    public static final String AGGREGATE_TYPE = "outbox.aggregate.type";
    /** Low-cardinality tag: the event type ({@value #SEVERAL} when the events of one append differ). */
    public static final String EVENT_TYPE = "outbox.event.type";
    /** Low-cardinality tag: the inbox consumer's name. */
    public static final String CONSUMER = "outbox.consumer";
    /** Low-cardinality tag: the topic the inbox event was read from. */
    public static final String TOPIC = "messaging.destination.name";
    /** High-cardinality tag: the event id of an inbox event. */
    public static final String EVENT_ID = "outbox.event.id";
    /** High-cardinality tag: how many events one append wrote. */
    public static final String EVENT_COUNT = "outbox.event.count";
    /** The tag value of a type that differs between the events of one append. */
    public static final String SEVERAL = "several";
    /** The tag value of a type the inbox event does not carry. */
    public static final String NONE = "none";

    private OutboxObservation() {
    }

    /**
     * The context of an {@value #APPEND} observation: the events as given, and as carrier the headers the tracing
     * handler injects (the trace context), which the starter adds to each event that has no {@code traceparent} of
     * its own.
     */
    public static final class AppendContext extends SenderContext<Map<String, String>> {

        private final List<OutboxEvent> events;

        AppendContext(List<OutboxEvent> events) {
            super((carrier, key, value) -> {
                if (carrier != null && key != null && value != null) {
                    carrier.put(key, value);
                }
            });
            this.events = List.copyOf(events);
            setCarrier(new LinkedHashMap<>());
        }

        /** The events of the append, as the application gave them. */
        public List<OutboxEvent> events() {
            return events;
        }
    }

    /** The context of a {@value #HANDLE} observation: the inbox event (the carrier) and the consumer's name. */
    public static final class HandleContext extends ReceiverContext<InboxEvent> {

        private final String consumerName;

        HandleContext(String consumerName, InboxEvent event) {
            super((carrier, key) -> carrier == null ? null : carrier.headers().get(key));
            this.consumerName = Objects.requireNonNull(consumerName, "consumerName");
            setCarrier(event);
        }

        /** The inbox consumer running the handler. */
        public String consumerName() {
            return consumerName;
        }

        /** The event handed to the handler. */
        public InboxEvent event() {
            return getCarrier();
        }
    }

    /** Names and tags of the {@value #APPEND} observation; declare a bean of it to replace the default. */
    public interface AppendConvention extends ObservationConvention<AppendContext> {
        @Override
        default boolean supportsContext(Observation.Context context) {
            return context instanceof AppendContext;
        }
    }

    /** Names and tags of the {@value #HANDLE} observation; declare a bean of it to replace the default. */
    public interface HandleConvention extends ObservationConvention<HandleContext> {
        @Override
        default boolean supportsContext(Observation.Context context) {
            return context instanceof HandleContext;
        }
    }

    /**
     * The default {@value #APPEND} convention: tags {@value #AGGREGATE_TYPE} and {@value #EVENT_TYPE} (low
     * cardinality), {@value #EVENT_COUNT} (high); span name {@code outbox append <aggregate type>}.
     */
    public static class DefaultAppendConvention implements AppendConvention {

        @Override
        public String getName() {
            return APPEND;
        }

        @Override
        public String getContextualName(AppendContext context) {
            return "outbox append " + common(context.events(), OutboxEvent::aggregateType);
        }

        @Override
        public KeyValues getLowCardinalityKeyValues(AppendContext context) {
            return KeyValues.of(AGGREGATE_TYPE, common(context.events(), OutboxEvent::aggregateType),
                    EVENT_TYPE, common(context.events(), OutboxEvent::type));
        }

        @Override
        public KeyValues getHighCardinalityKeyValues(AppendContext context) {
            return KeyValues.of(EVENT_COUNT, String.valueOf(context.events().size()));
        }

        private static String common(List<OutboxEvent> events, Function<OutboxEvent, String> value) {
            String first = events.isEmpty() ? null : value.apply(events.get(0));
            for (OutboxEvent event : events) {
                if (!Objects.equals(first, value.apply(event))) {
                    return SEVERAL;
                }
            }
            return first == null ? NONE : first;
        }
    }

    /**
     * The default {@value #HANDLE} convention: tags {@value #CONSUMER}, {@value #EVENT_TYPE} and {@value #TOPIC}
     * (low cardinality), {@value #EVENT_ID} (high); span name {@code <consumer> process}.
     */
    public static class DefaultHandleConvention implements HandleConvention {

        @Override
        public String getName() {
            return HANDLE;
        }

        @Override
        public String getContextualName(HandleContext context) {
            return context.consumerName() + " process";
        }

        @Override
        public KeyValues getLowCardinalityKeyValues(HandleContext context) {
            InboxEvent event = context.event();
            return KeyValues.of(CONSUMER, context.consumerName(),
                    EVENT_TYPE, event.eventType() == null ? NONE : event.eventType(),
                    TOPIC, event.topic());
        }

        @Override
        public KeyValues getHighCardinalityKeyValues(HandleContext context) {
            return KeyValues.of(EVENT_ID, context.event().id().toString());
        }
    }
}
