package dev.outboxbridge.outbox.jooq;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxEvent;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import org.jooq.DSLContext;

/**
 * jOOQ front of {@link Outbox}: appends through the {@link DSLContext} of the caller's transaction.
 *
 * <pre>{@code
 * dsl.transaction(cfg -> {
 *     DSLContext tx = cfg.dsl();
 *     tx.insertInto(ORDERS)...execute();
 *     jooqOutbox.append(tx, OutboxEvent.of("order", id, "OrderPlaced", json));
 * });
 * }</pre>
 *
 * <p>A {@code DSLContext} outside {@code transaction(...)} hands out auto-commit connections, so
 * the append is refused with {@link dev.outboxbridge.outbox.NotInTransactionException}.
 * jOOQ is an optional dependency: only this package needs it.
 */
public final class JooqOutbox {

    private final Outbox outbox;

    public JooqOutbox(Outbox outbox) {
        this.outbox = Objects.requireNonNull(outbox, "outbox");
    }

    public UUID append(DSLContext transaction, OutboxEvent event) {
        return transaction.connectionResult(connection -> outbox.append(connection, event));
    }

    public List<UUID> appendAll(DSLContext transaction, List<OutboxEvent> events) {
        return transaction.connectionResult(connection -> outbox.appendAll(connection, events));
    }
}
