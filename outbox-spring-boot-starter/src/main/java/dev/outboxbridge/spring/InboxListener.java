package dev.outboxbridge.spring;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a method of a Spring bean as the handler of one event type for one inbox consumer. The starter collects
 * the methods of each consumer into one handler that dispatches on {@code InboxEvent.eventType()}, run like any
 * other inbox handler: inside the Spring-managed inbox transaction, exactly once per event.
 *
 * <pre>{@code
 * @Component
 * class Billing {
 *     @InboxListener(consumer = "billing", topics = "outbox.event.order", eventType = "OrderPlaced")
 *     void placed(InboxEvent event) { jdbc.update("INSERT INTO invoice ...", event.key()); }
 *
 *     @InboxListener(consumer = "billing", eventType = "OrderCancelled")
 *     void cancelled(InboxEvent event, Connection transaction) { ... }
 * }
 * }</pre>
 *
 * <p>The method takes {@code (InboxEvent)} or {@code (InboxEvent, java.sql.Connection)} and returns nothing; what
 * it throws is what an {@code InboxHandler} throws (rollback and retry, {@code FatalEventException}: dead-letter).
 * It is called through the bean, so {@code @Transactional} on it joins the inbox transaction. One method per event
 * type and consumer. An event whose type has no method is skipped (recorded in the inbox, counted by
 * {@link InboxListeners#skipped(String)}, logged at debug) unless the consumer's
 * {@code outbox.inbox.consumers.<name>.unknown-event-types=dead-letter}. A consumer with listeners takes no other
 * handler. Attributes accept {@code ${...}} placeholders.
 */
@Target(ElementType.METHOD)
@Retention(RetentionPolicy.RUNTIME)
@Documented
public @interface InboxListener {

    /** The inbox consumer's name (inbox rows, default Kafka group); settings under {@code outbox.inbox.consumers.<name>}. */
    String consumer();

    /** The event type this method handles (the record's event type header). */
    String eventType();

    /**
     * Topics of the consumer, merged over all its listener methods; used when the properties give no topics or
     * topic pattern for the consumer.
     */
    String[] topics() default {};
}
