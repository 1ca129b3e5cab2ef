package dev.outboxbridge.spring;

import dev.outboxbridge.inbox.InboxHandler;

/**
 * Wraps the handler of each inbox consumer the starter runs, e.g. to observe it (the starter's own tracing is one:
 * {@link OutboxObservationAutoConfiguration}) or to put the event id in the logging context. Declare it as a bean;
 * the decorators apply in their bean order, the first one outermost (the starter's observation comes first, so yours
 * run inside its span).
 *
 * <p>The wrapped handler runs inside the inbox transaction, around the nested transaction (savepoint) of the event:
 * what the decorated handler does before and after calling it is part of the inbox transaction too, and an exception
 * it lets through rolls back the event's work as a handler failure does.
 */
@FunctionalInterface
public interface InboxHandlerDecorator {

    /**
     * @param consumerName the consumer whose handler this is
     * @param handler the handler to wrap (already running each event in its savepoint)
     * @return the handler to run instead, which calls {@code handler} once per event
     */
    InboxHandler decorate(String consumerName, InboxHandler handler);
}
