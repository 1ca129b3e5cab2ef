package dev.outboxbridge.inbox;

import java.sql.Connection;

/**
 * Applies one event's side effects inside the inbox transaction.
 *
 * <p>{@code transaction} is the connection that has just inserted the event's inbox row, with
 * auto-commit off. Write through it so the side effects commit or roll back together with that
 * row. Do not commit, roll back, close it or turn auto-commit on: the consumer does that after the
 * handler returns.
 *
 * <p>Throwing an exception rolls back this event's work (the handler runs in a savepoint; without
 * savepoints the batch is rolled back and the events before it applied again; either way other
 * events of the same batch are not affected) and parks the event's key: it and the later events of
 * the same key wait while other keys flow, and it is retried with backoff up to
 * {@link InboxConsumer.Builder#maxAttempts(int)} times, then sent to the dead-letter topic. Throw
 * {@link FatalEventException} (or an exception configured as fatal) for an event that can never
 * succeed, e.g. a payload your deserializer rejects or an unknown event type: it is dead-lettered at
 * once. The handler of an event may run again after a rolled-back attempt, so keep effects outside
 * the transaction (HTTP calls, emails) idempotent or move them behind an outbox.
 */
@FunctionalInterface
public interface InboxHandler {

    /**
     * Applies {@code event} using {@code transaction}.
     *
     * @throws Exception to roll back this event's work and retry it later (or dead-letter it, if fatal)
     */
    void handle(InboxEvent event, Connection transaction) throws Exception;
}
