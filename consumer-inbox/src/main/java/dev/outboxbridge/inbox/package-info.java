/**
 * The inbox consumer: Kafka consumer loop, inbox-table deduplication and the event handler in one
 * database transaction, with offsets committed only after that transaction. Start with
 * {@link dev.outboxbridge.inbox.InboxConsumer#builder()}. Failures park the event's key and end in
 * the dead-letter topic ({@link dev.outboxbridge.inbox.DeadLetterHeaders}); handlers signal events
 * that can never succeed with {@link dev.outboxbridge.inbox.FatalEventException}; operators release a
 * parked key with {@link dev.outboxbridge.inbox.InboxConsumer#redrive}.
 *
 * <p>Everything users may touch is in this package; {@code dev.outboxbridge.inbox.internal} is
 * implementation detail and may change in any release. The jOOQ variant of the handler is in
 * {@code dev.outboxbridge.inbox.jooq} and is the only code that needs jOOQ on the classpath.
 */
package dev.outboxbridge.inbox;
