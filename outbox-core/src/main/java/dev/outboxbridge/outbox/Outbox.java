package dev.outboxbridge.outbox;

import java.sql.Connection;
import java.util.List;
import java.util.UUID;

/**
 * Appends events to the outbox table inside the caller's own database transaction, next to the
 * business rows. The relay publishes them to Kafka once (and only if) that transaction commits.
 *
 * <pre>{@code
 * Outbox outbox = Outbox.create(OutboxConfig.defaults());
 * connection.setAutoCommit(false);
 * insertOrder(connection, order);
 * outbox.append(connection, OutboxEvent.of("order", order.id(), "OrderPlaced", json));
 * connection.commit();
 * }</pre>
 *
 * <p>Thread-safe; create one per application. It never commits, rolls back or closes the
 * connection: the transaction stays the caller's.
 */
public interface Outbox {

    static Outbox create(OutboxConfig config) {
        return new OutboxImpl(config);
    }

    /**
     * Appends one event in the connection's current transaction.
     *
     * @return the event id (the one supplied, or a new UUIDv7)
     * @throws NotInTransactionException if the connection is in auto-commit mode
     * @throws InvalidOutboxEventException if the event breaks a rule; nothing is written
     * @throws OutboxException if the database refuses the insert (the cause is attached)
     */
    UUID append(Connection connection, OutboxEvent event);

    /**
     * Appends several events in one batched statement, in list order, in the connection's current
     * transaction. All are validated before anything is written.
     *
     * @return the event ids, in list order
     */
    List<UUID> appendAll(Connection connection, List<OutboxEvent> events);

    /**
     * A new event id from the generator {@link #append} uses for events without one: a UUIDv7 of the config's
     * clock, ordered after the ids this outbox gave before. For callers that need the id before the insert (to put
     * it in a header, e.g. CloudEvents' {@code ce_id}, or to return it); pass it on with
     * {@link OutboxEvent.Builder#id(UUID)}.
     */
    UUID newEventId();

    OutboxConfig config();
}
