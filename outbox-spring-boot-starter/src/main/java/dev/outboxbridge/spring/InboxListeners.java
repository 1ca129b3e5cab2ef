package dev.outboxbridge.spring;

import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.spring.payload.PayloadCodec;
import dev.outboxbridge.spring.payload.PayloadException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Type;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link InboxListener} methods of the application context, by consumer and event type, and for each consumer
 * the handler that dispatches on the event type. Filled while the context creates its beans (before the inbox
 * consumers start); thread-safe. A typed listener method's payload is read by the {@link PayloadCodec}; one that
 * cannot be read ({@link PayloadException}) is a {@link FatalEventException}: dead-lettered at once, never retried.
 */
public final class InboxListeners {

    private static final Logger LOG = LoggerFactory.getLogger(InboxListeners.class);

    /** What a consumer does with an event whose type has no {@link InboxListener} method. */
    public enum UnknownEventTypes {
        /** Record it in the inbox as applied, doing nothing else; counted and logged at debug. */
        SKIP,
        /** Throw a {@code FatalEventException}: the event is dead-lettered at once and its key parked. */
        DEAD_LETTER
    }

    private final Map<String, Map<String, Listener>> byConsumer = new ConcurrentHashMap<>();
    private final Map<String, Set<String>> topics = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> skipped = new ConcurrentHashMap<>();
    private final PayloadCodec codec;

    /** What a listener method's parameter receives. */
    private enum Argument { EVENT, CONNECTION, PAYLOAD }

    private record Listener(Object bean, Method method, List<Argument> arguments, Type payloadType,
            String description) {
    }

    /** Listeners without a payload codec: a listener method with a payload parameter is refused. */
    public InboxListeners() {
        this(null);
    }

    /** @param codec reads the payload parameter of typed listener methods; null: such methods are refused */
    public InboxListeners(PayloadCodec codec) {
        this.codec = codec;
    }

    synchronized void register(String consumer, String eventType, List<String> listenerTopics, Object bean,
            Method method, String description) {
        if (consumer.isBlank() || eventType.isBlank()) {
            throw new IllegalStateException("@InboxListener on " + description + " needs a consumer and an event type "
                    + "(consumer='" + consumer + "', eventType='" + eventType + "')");
        }
        List<Argument> arguments = new ArrayList<>();
        Type payloadType = null;
        Type[] parameters = method.getGenericParameterTypes();
        for (int i = 0; i < parameters.length; i++) {
            Class<?> raw = method.getParameterTypes()[i];
            Argument argument = raw == InboxEvent.class ? Argument.EVENT
                    : raw == Connection.class ? Argument.CONNECTION : Argument.PAYLOAD;
            if (arguments.contains(argument)) {
                throw new IllegalStateException(signatureProblem(description, "it has more than one parameter "
                        + (argument == Argument.PAYLOAD ? "that is neither InboxEvent nor Connection (payload types "
                        + parameters[i].getTypeName() + " and " + payloadType.getTypeName() + ")"
                        : "of type " + raw.getSimpleName())));
            }
            arguments.add(argument);
            if (argument == Argument.PAYLOAD) {
                payloadType = parameters[i];
            }
        }
        if (!arguments.contains(Argument.EVENT) && !arguments.contains(Argument.PAYLOAD)) {
            throw new IllegalStateException(signatureProblem(description, "it takes neither the InboxEvent nor a "
                    + "payload"));
        }
        if (method.getReturnType() != void.class) {
            throw new IllegalStateException(signatureProblem(description, "it returns "
                    + method.getReturnType().getName() + ": nothing reads a listener's result"));
        }
        if (payloadType != null && codec == null) {
            throw new IllegalStateException("@InboxListener method " + description + " takes a payload of type "
                    + payloadType.getTypeName() + ", which needs a PayloadCodec to read it, and the context has none "
                    + "(Jackson 3 is not on the class path and there is no PayloadCodec bean). "
                    + AppendHeaders.NO_CODEC_FIX + "; or take the InboxEvent and read its bytes yourself");
        }
        Map<String, Listener> types = byConsumer.computeIfAbsent(consumer, c -> new LinkedHashMap<>());
        Listener existing = types.get(eventType);
        if (existing != null) {
            throw new IllegalStateException("Inbox consumer '" + consumer + "' has two @InboxListener methods for event "
                    + "type '" + eventType + "': " + existing.description() + " and " + description + ". Fix: keep "
                    + "one, or give one of them another consumer");
        }
        method.setAccessible(true);
        types.put(eventType, new Listener(bean, method, List.copyOf(arguments), payloadType, description));
        topics.computeIfAbsent(consumer, c -> new LinkedHashSet<>()).addAll(listenerTopics);
    }

    /** The consumers that have listener methods. */
    public synchronized Set<String> consumers() {
        return Collections.unmodifiableSet(new LinkedHashSet<>(byConsumer.keySet()));
    }

    /** The event types of a consumer's listener methods. */
    public synchronized Set<String> eventTypes(String consumer) {
        return Collections.unmodifiableSet(new LinkedHashSet<>(byConsumer.getOrDefault(consumer, Map.of()).keySet()));
    }

    /** The topics named by a consumer's listener methods, merged. */
    public synchronized List<String> topics(String consumer) {
        return List.copyOf(topics.getOrDefault(consumer, Set.of()));
    }

    /** How many events of a type without a listener method the consumer skipped since the context started. */
    public long skipped(String consumer) {
        LongAdder count = skipped.get(consumer);
        return count == null ? 0 : count.sum();
    }

    /** The handler of a consumer: calls the listener method of the event's type. */
    synchronized InboxHandler handler(String consumer, UnknownEventTypes unknown) {
        Map<String, Listener> types = Map.copyOf(byConsumer.getOrDefault(consumer, Map.of()));
        LongAdder skips = skipped.computeIfAbsent(consumer, c -> new LongAdder());
        List<String> known = new ArrayList<>(types.keySet());
        return (event, transaction) -> {
            Listener listener = event.eventType() == null ? null : types.get(event.eventType());
            if (listener == null) {
                if (unknown == UnknownEventTypes.DEAD_LETTER) {
                    throw new FatalEventException("Inbox consumer '" + consumer + "' has no @InboxListener for event "
                            + "type '" + event.eventType() + "' (it has " + known + "), and unknown-event-types="
                            + "dead-letter");
                }
                skips.increment();
                LOG.debug("Inbox consumer '{}' skips {}: no @InboxListener for event type '{}' (it has {})", consumer,
                        event, event.eventType(), known);
                return;
            }
            invoke(consumer, listener, event, transaction);
        };
    }

    private static String signatureProblem(String description, String problem) {
        return "@InboxListener method " + description + " has a signature the inbox cannot call: " + problem + ". "
                + "A listener method returns void and takes, in any order, the InboxEvent and/or the payload (any "
                + "other type, read by the PayloadCodec), and optionally the java.sql.Connection of the inbox "
                + "transaction: e.g. (OrderPlaced), (OrderPlaced, InboxEvent), (InboxEvent, Connection)";
    }

    private void invoke(String consumer, Listener listener, InboxEvent event, Connection transaction)
            throws Exception {
        Object[] values = new Object[listener.arguments().size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = switch (listener.arguments().get(i)) {
                case EVENT -> event;
                case CONNECTION -> transaction;
                case PAYLOAD -> read(consumer, listener, event);
            };
        }
        try {
            listener.method().invoke(listener.bean(), values);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof Exception exception) {
                throw exception;
            }
            if (cause instanceof Error error) {
                throw error;
            }
            throw e;
        }
    }

    /**
     * The payload of the event as the listener's payload type, read by its content type (the codec's default when
     * the record has none). A payload that can never be read is a {@link FatalEventException}: dead-lettered at once
     * with this message, the key parked as for any fatal failure.
     */
    private Object read(String consumer, Listener listener, InboxEvent event) {
        String contentType = SpringPayloadHeaders.contentType(event.headers());
        Object value;
        try {
            value = codec.deserialize(event.payload(), contentType, listener.payloadType());
        } catch (PayloadException e) {
            throw new FatalEventException("Inbox consumer '" + consumer + "' cannot read the payload of event "
                    + event.id() + " (event type '" + event.eventType() + "', content type "
                    + (contentType == null ? "absent, read as " + codec.defaultContentType() : "'" + contentType + "'")
                    + ") as " + listener.payloadType().getTypeName() + " for " + listener.description() + ": "
                    + e.getMessage(), e);
        }
        if (value == null) {
            throw new FatalEventException("Inbox consumer '" + consumer + "': the PayloadCodec " + codec + " read "
                    + "the payload of event " + event.id() + " (event type '" + event.eventType() + "') as null, and "
                    + listener.description() + " takes a " + listener.payloadType().getTypeName());
        }
        return value;
    }

    @Override
    public String toString() {
        return "InboxListeners" + consumers();
    }
}
