package dev.outboxbridge.spring;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.spring.payload.PayloadCodec;
import java.util.List;
import java.util.Map;
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
 * <p><b>Typed payloads.</b> {@link #append(String, String, String, Object)} serializes an object with the
 * {@link PayloadCodec} (default: JSON with the application's Jackson 3 {@code JsonMapper}) and writes its content
 * type to the {@value PayloadCodec#CONTENT_TYPE_HEADER} header, which the relay copies onto the Kafka record;
 * an {@link InboxListener} method that declares the type receives the object:
 *
 * <pre>{@code
 * record OrderPlaced(String orderId, BigDecimal total) {}
 *
 * @Transactional
 * public void placeOrder(Order order) {
 *     jdbc.update("INSERT INTO orders ...", ...);
 *     outbox.append("order", order.id(), "OrderPlaced", new OrderPlaced(order.id(), order.total()));
 * }
 * }</pre>
 *
 * <p><b>CloudEvents.</b> With {@code outbox.cloudevents.enabled=true} (and {@code outbox.cloudevents.source}) every
 * append, typed or not, adds the CloudEvents binary-mode headers ({@link CloudEventsHeaders}), {@code ce_id} being
 * the event id.
 *
 * <p>Outside a transaction it writes nothing and throws
 * {@link dev.outboxbridge.outbox.NotInTransactionException} naming the fix. Thread-safe.
 */
public interface SpringOutbox {

    /**
     * An outbox that writes with {@code outbox} on the transactional connection of {@code dataSource}, with no
     * payload codec (typed appends are refused) and no CloudEvents headers; see {@link #builder}.
     */
    static SpringOutbox create(Outbox outbox, DataSource dataSource) {
        return builder(outbox, dataSource).build();
    }

    /** A builder of an outbox that writes with {@code outbox} on the transactional connection of {@code dataSource}. */
    static Builder builder(Outbox outbox, DataSource dataSource) {
        return new Builder(outbox, dataSource);
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

    /**
     * Appends one event whose payload is {@code payload} serialized by the {@link PayloadCodec}, with its content
     * type in the {@value PayloadCodec#CONTENT_TYPE_HEADER} header, in the current Spring-managed transaction.
     *
     * @return the event id
     * @throws IllegalStateException if the outbox has no codec (no Jackson 3 and no {@code PayloadCodec} bean;
     *         the message names the fix)
     * @throws dev.outboxbridge.spring.payload.PayloadException if the codec cannot serialize the object
     * @throws dev.outboxbridge.outbox.NotInTransactionException as {@link #append(OutboxEvent)}
     */
    default UUID append(String aggregateType, String aggregateId, String eventType, Object payload) {
        return append(aggregateType, aggregateId, eventType, payload, Map.of());
    }

    /**
     * As {@link #append(String, String, String, Object)}, with custom headers (e.g. {@code tenant}); they may not
     * use the outbox's reserved names, nor give a {@value PayloadCodec#CONTENT_TYPE_HEADER} other than the codec's.
     */
    UUID append(String aggregateType, String aggregateId, String eventType, Object payload, Map<String, String> headers);

    /** The underlying outbox (for code that manages its own connection). */
    Outbox outbox();

    /** Builds a {@link SpringOutbox}; the starter's auto-configuration uses it with the application's beans. */
    final class Builder {
        private final Outbox outbox;
        private final DataSource dataSource;
        private PayloadCodec payloadCodec;
        private CloudEventsHeaders cloudEvents;

        private Builder(Outbox outbox, DataSource dataSource) {
            this.outbox = outbox;
            this.dataSource = dataSource;
        }

        /** The codec of typed appends; unset: typed appends are refused with an error naming the fix. */
        public Builder payloadCodec(PayloadCodec payloadCodec) {
            this.payloadCodec = payloadCodec;
            return this;
        }

        /** Adds the CloudEvents binary-mode headers to every append; unset: none. */
        public Builder cloudEvents(CloudEventsHeaders cloudEvents) {
            this.cloudEvents = cloudEvents;
            return this;
        }

        public SpringOutbox build() {
            return new SpringOutboxImpl(outbox, dataSource, new AppendHeaders(outbox, payloadCodec, cloudEvents));
        }
    }
}
