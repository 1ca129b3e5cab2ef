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
 * <p>Throwing any exception rolls the transaction back and retries the event later with backoff;
 * the event's partition pauses meanwhile. Because a failing event is retried until it succeeds,
 * an event that can never succeed blocks its partition: catch and record such cases yourself.
 */
@FunctionalInterface
public interface InboxHandler {

    /**
     * Applies {@code event} using {@code transaction}.
     *
     * @throws Exception to roll back and retry the event later
     */
    void handle(InboxEvent event, Connection transaction) throws Exception;
}
