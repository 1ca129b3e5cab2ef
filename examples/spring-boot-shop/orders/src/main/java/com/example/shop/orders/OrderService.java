package com.example.shop.orders;

import com.example.shop.events.OrderPlaced;
import dev.outboxbridge.spring.SpringOutbox;
import java.util.List;
import java.util.UUID;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;

/**
 * Places orders: the order row and its {@code OrderPlaced} event are written in <b>one</b> database transaction, on
 * one connection ({@link SpringOutbox} joins the transaction that {@code @Transactional} opened for
 * {@link JdbcTemplate}). Either both commit and the relay publishes the event, or neither does.
 *
 * <p>The event is appended as the {@link OrderPlaced} record: the starter's payload codec writes it as JSON (with the
 * application's Jackson {@code JsonMapper}) and sets the {@code content-type} header, which billing reads it back by.
 */
@Service
public class OrderService {

    private final JdbcTemplate jdbc;
    private final SpringOutbox outbox;
    private final long creditLimitCents;

    public OrderService(JdbcTemplate jdbc, SpringOutbox outbox,
            @Value("${shop.orders.credit-limit-cents}") long creditLimitCents) {
        this.jdbc = jdbc;
        this.outbox = outbox;
        this.creditLimitCents = creditLimitCents;
    }

    /**
     * Places an order and returns it.
     *
     * @throws IllegalArgumentException if the request is invalid (nothing written)
     * @throws OrderRejectedException if the customer's orders exceed the credit limit: found after the order row and
     *         its event were written, so the whole transaction rolls back and nothing is published
     */
    @Transactional
    public Order place(String customer, long totalCents) {
        if (customer == null || customer.isBlank()) {
            throw new IllegalArgumentException("customer is required");
        }
        if (totalCents <= 0) {
            throw new IllegalArgumentException("totalCents must be positive, was " + totalCents);
        }
        Order order = new Order(UUID.randomUUID().toString(), customer, totalCents);
        jdbc.update("INSERT INTO orders (id, customer, total_cents) VALUES (?, ?, ?)", order.id(), order.customer(),
                order.totalCents());
        // the aggregate id (the order's) is the Kafka key: the events of one order stay in order
        outbox.append(OrderPlaced.AGGREGATE_TYPE, order.id(), OrderPlaced.TYPE,
                new OrderPlaced(order.id(), order.customer(), order.totalCents()));

        // a rule checked against the rows of this transaction: when it fails, the order and its event roll back together
        Long owed = jdbc.queryForObject("SELECT sum(total_cents) FROM orders WHERE customer = ?", Long.class, customer);
        if (owed != null && owed > creditLimitCents) {
            throw new OrderRejectedException("order of " + totalCents + " cents for " + customer + " refused: "
                    + owed + " cents in orders would exceed the credit limit of " + creditLimitCents + " cents");
        }
        return order;
    }

    /** The orders, newest first. */
    @Transactional(readOnly = true)
    public List<Order> orders() {
        return jdbc.query("SELECT id, customer, total_cents FROM orders ORDER BY placed_at DESC, id",
                (rs, n) -> new Order(rs.getString(1), rs.getString(2), rs.getLong(3)));
    }

    /** An order as stored. */
    public record Order(String id, String customer, long totalCents) {
    }

    /** A business rule refused the order; the transaction rolled back. */
    public static final class OrderRejectedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        OrderRejectedException(String message) {
            super(message);
        }
    }
}
