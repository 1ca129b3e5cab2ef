package com.example.shop.events;

import java.util.Objects;

/**
 * Published by orders when an order is placed, with the order row, in the same transaction; billing invoices it.
 *
 * <p>The event's aggregate is the order: its Kafka key is {@code orderId}, so the events of one order stay in order.
 * Orders appends the record itself ({@code SpringOutbox.append(AGGREGATE_TYPE, orderId, TYPE, event)}); the starter's
 * payload codec writes it as JSON, and billing's {@code @InboxListener} method receives it read back. No JSON code of
 * the shop's own: the record is the contract.
 *
 * <p>The constructor checks the shape only (no field missing): a payload without one cannot be read as an
 * {@code OrderPlaced} and is dead-lettered by the starter. Business rules (a positive total) are the consumer's.
 *
 * @param orderId the order's id
 * @param customer who ordered
 * @param totalCents the amount to invoice, in cents
 */
public record OrderPlaced(String orderId, String customer, long totalCents) {

    /** The event type header ({@code eventType}) the relay publishes it with. */
    public static final String TYPE = "OrderPlaced";

    /** The aggregate type: the topic is the outbox topic prefix followed by it ({@code outbox.event.order}). */
    public static final String AGGREGATE_TYPE = "order";

    public OrderPlaced {
        Objects.requireNonNull(orderId, "orderId");
        Objects.requireNonNull(customer, "customer");
    }
}
