package dev.outboxbridge.inbox.jooq;

import dev.outboxbridge.inbox.InboxEvent;
import org.jooq.DSLContext;

/**
 * The jOOQ form of {@link dev.outboxbridge.inbox.InboxHandler}: applies one event through a
 * {@link DSLContext} bound to the inbox transaction's connection. Wrap it with
 * {@link JooqInbox#handler(org.jooq.SQLDialect, JooqInboxHandler)}.
 *
 * <p>Write through {@code transaction} so the side effects commit with the inbox row; do not start,
 * commit or roll back transactions on it. Throwing rolls back and retries the event later.
 */
@FunctionalInterface
public interface JooqInboxHandler {

    /**
     * Applies {@code event} using {@code transaction}.
     *
     * @throws Exception to roll back and retry the event later
     */
    void handle(InboxEvent event, DSLContext transaction) throws Exception;
}
