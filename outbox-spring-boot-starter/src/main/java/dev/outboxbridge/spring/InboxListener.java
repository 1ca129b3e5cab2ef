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
 *
 *     @InboxListener(consumer = "billing", eventType = "OrderShipped")
 *     void shipped(OrderShipped shipped, InboxEvent event) { ... } // typed: the payload read by the PayloadCodec
 * }
 * }</pre>
 *
 * <p>The method returns nothing and takes, in any order, the {@code InboxEvent} and/or the <b>payload</b> (a
 * parameter of any other type, generic ones included), and optionally the {@code java.sql.Connection} of the inbox
 * transaction; anything else refuses the start with the bean, the method and what is allowed. The payload is read
 * by the application's {@link dev.outboxbridge.spring.payload.PayloadCodec} (default: JSON with Jackson 3) by the
 * record's {@code content-type} header; a record without one is read as the codec's default
 * ({@code application/json}). A typed method with no codec in the context refuses the start, naming the fix. A
 * payload that cannot be read (malformed, the wrong shape, a JSON {@code null}, an unknown content type) is never
 * retried and never lost: it goes to the consumer's dead-letter topic at once, reason {@code handler-fatal}, the
 * exception message naming the event id, the event type, the content type, the Java type and the parse error; as
 * for any fatal failure the key stays parked (the aggregate's later events wait, in order) until an operator
 * redrives it ({@code InboxConsumer.redrive}). What the method throws is what an {@code InboxHandler} throws
 * (rollback and retry, {@code FatalEventException}: dead-letter).
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
