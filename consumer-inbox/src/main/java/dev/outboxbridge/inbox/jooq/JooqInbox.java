package dev.outboxbridge.inbox.jooq;

import dev.outboxbridge.inbox.InboxHandler;
import java.util.Objects;
import org.jooq.SQLDialect;
import org.jooq.impl.DSL;

/**
 * Adapts a {@link JooqInboxHandler} to the inbox consumer:
 *
 * <pre>{@code
 * InboxConsumer.builder()
 *     .handler(JooqInbox.handler(SQLDialect.POSTGRES, (event, dsl) ->
 *         dsl.insertInto(PAYMENT).set(PAYMENT.ORDER_ID, event.key()).execute()))
 * }</pre>
 *
 * <p>This package is the only code of the module that needs jOOQ, an optional dependency.
 */
public final class JooqInbox {

    private JooqInbox() {
    }

    /**
     * An {@link InboxHandler} that runs {@code handler} with {@code DSL.using(connection, dialect)} on
     * the inbox transaction's connection.
     */
    public static InboxHandler handler(SQLDialect dialect, JooqInboxHandler handler) {
        Objects.requireNonNull(dialect, "dialect: give the SQL dialect of the inbox database, e.g. SQLDialect.POSTGRES");
        Objects.requireNonNull(handler, "handler: give the JooqInboxHandler that applies each event");
        return (event, connection) -> handler.handle(event, DSL.using(connection, dialect));
    }
}
