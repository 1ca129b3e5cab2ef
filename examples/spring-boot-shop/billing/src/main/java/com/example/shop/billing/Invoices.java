package com.example.shop.billing;

import com.example.shop.events.OrderPlaced;
import java.util.List;
import java.util.UUID;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Repository;

/** The invoice table, through {@code JdbcTemplate}: it joins whatever Spring transaction is active. */
@Repository
public class Invoices {

    private final JdbcTemplate jdbc;

    public Invoices(JdbcTemplate jdbc) {
        this.jdbc = jdbc;
    }

    /** Issues the invoice of an order; called in the inbox transaction of the event that announced it. */
    public void issue(UUID eventId, OrderPlaced order) {
        jdbc.update("INSERT INTO invoice (order_id, customer, amount_cents, event_id) VALUES (?, ?, ?, ?)",
                order.orderId(), order.customer(), order.totalCents(), eventId);
    }

    /** The invoices, newest first. */
    public List<Invoice> all() {
        return jdbc.query("SELECT order_id, customer, amount_cents, event_id FROM invoice ORDER BY issued_at DESC, order_id",
                (rs, n) -> new Invoice(rs.getString(1), rs.getString(2), rs.getLong(3), rs.getObject(4, UUID.class)));
    }

    /** An invoice as stored. */
    public record Invoice(String orderId, String customer, long amountCents, UUID eventId) {
    }
}
