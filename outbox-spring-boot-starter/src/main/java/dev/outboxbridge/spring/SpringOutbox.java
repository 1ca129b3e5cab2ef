package dev.outboxbridge.spring;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxEvent;
import java.util.List;
import java.util.UUID;
import javax.sql.DataSource;

/**
 * Appends outbox events in the <b>current Spring-managed transaction</b>: on the very connection that
 * {@code JdbcTemplate}, jOOQ (Boot's {@code DSLContext}) and JPA use in that transaction
 * ({@code DataSourceUtils.getConnection}), never a second one, so the event commits or rolls back
 * with the business rows.
 *
 * <pre>{@code
 * @Transactional
 * public void placeOrder(Order order) {
 *     jdbc.update("INSERT INTO orders ...", ...);
 *     outbox.append(OutboxEvent.of("order", order.id(), "OrderPlaced", json));
 * }
 * }</pre>
 *
 * <p>Outside a transaction it writes nothing and throws
 * {@link dev.outboxbridge.outbox.NotInTransactionException} naming the fix. Thread-safe.
 *
 * <p>When the application has Micrometer's Observation API (and {@code outbox.tracing.enabled} is not false), the
 * starter's bean runs each append in an {@value OutboxObservation#APPEND} observation: with Micrometer Tracing its
 * span context ({@code traceparent}, {@code tracestate}) goes into the headers of the appended events, unless an
 * event has a {@code traceparent} of its own, and no header of the event is overwritten (see
 * {@link OutboxObservationAutoConfiguration}). {@link #create(Outbox, DataSource)} makes an unobserved one.
 */
public interface SpringOutbox {

    /** An outbox that writes with {@code outbox} on the transactional connection of {@code dataSource}. */
    static SpringOutbox create(Outbox outbox, DataSource dataSource) {
        return new SpringOutboxImpl(outbox, dataSource);
    }

    /**
     * Appends one event in the current Spring-managed transaction.
     *
     * @return the event id
     * @throws dev.outboxbridge.outbox.NotInTransactionException if no Spring-managed transaction of the
     *         data source is active (nothing written)
     * @throws dev.outboxbridge.outbox.InvalidOutboxEventException if the event breaks a rule
     * @throws dev.outboxbridge.outbox.OutboxException if the database refuses the insert
     */
    UUID append(OutboxEvent event);

    /** Appends several events in one batched statement, in list order, in the current transaction. */
    List<UUID> appendAll(List<OutboxEvent> events);

    /** The underlying outbox (for code that manages its own connection). */
    Outbox outbox();
}
