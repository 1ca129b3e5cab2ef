package com.example.shop.events;

import java.util.Objects;

/**
 * Published by orders when an order is placed, with the order row, in the same transaction; billing invoices it.
 *
 * <p>The event's aggregate is the order: its Kafka key is {@code orderId}, so the events of one order stay in order.
 * An instance is always valid: a payload that decodes to an invalid order is refused by {@link ShopEventJson}.
 *
 * @param orderId the order's id
 * @param customer who ordered
 * @param totalCents the amount to invoice, in cents, positive
 */
public record OrderPlaced(String orderId, String customer, long totalCents) {

    /** The event type header ({@code eventType}) the relay publishes it with. */
    public static final String TYPE = "OrderPlaced";

    /** The aggregate type: the topic is the outbox topic prefix followed by it ({@code outbox.event.order}). */
    public static final String AGGREGATE_TYPE = "order";

    public OrderPlaced {
        Objects.requireNonNull(orderId, "orderId");
        Objects.requireNonNull(customer, "customer");
        if (orderId.isBlank() || customer.isBlank()) {
            throw new IllegalArgumentException("orderId and customer must not be blank");
        }
        if (totalCents <= 0) {
            throw new IllegalArgumentException("totalCents must be positive, was " + totalCents);
        }
    }
}
