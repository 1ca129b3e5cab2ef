package dev.outboxbridge.spring;

import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.InboxHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
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
 * consumers start); thread-safe.
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

    private record Listener(Object bean, Method method, boolean withConnection, String description) {
    }

    synchronized void register(String consumer, String eventType, List<String> listenerTopics, Object bean,
            Method method, String description) {
        if (consumer.isBlank() || eventType.isBlank()) {
            throw new IllegalStateException("@InboxListener on " + description + " needs a consumer and an event type "
                    + "(consumer='" + consumer + "', eventType='" + eventType + "')");
        }
        Class<?>[] parameters = method.getParameterTypes();
        boolean withConnection = parameters.length == 2 && parameters[1] == Connection.class;
        if (parameters.length == 0 || parameters.length > 2 || parameters[0] != InboxEvent.class
                || (parameters.length == 2 && !withConnection) || method.getReturnType() != void.class) {
            throw new IllegalStateException("@InboxListener method " + description + " must return void and take "
                    + "(InboxEvent) or (InboxEvent, java.sql.Connection)");
        }
        Map<String, Listener> types = byConsumer.computeIfAbsent(consumer, c -> new LinkedHashMap<>());
        Listener existing = types.get(eventType);
        if (existing != null) {
            throw new IllegalStateException("Inbox consumer '" + consumer + "' has two @InboxListener methods for event "
                    + "type '" + eventType + "': " + existing.description() + " and " + description + ". Fix: keep "
                    + "one, or give one of them another consumer");
        }
        method.setAccessible(true);
        types.put(eventType, new Listener(bean, method, withConnection, description));
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
            invoke(listener, event, transaction);
        };
    }

    private static void invoke(Listener listener, InboxEvent event, Connection transaction) throws Exception {
        try {
            if (listener.withConnection()) {
                listener.method().invoke(listener.bean(), event, transaction);
            } else {
                listener.method().invoke(listener.bean(), event);
            }
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

    @Override
    public String toString() {
        return "InboxListeners" + consumers();
    }
}
