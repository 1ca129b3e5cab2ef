package com.example.shop;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxEvent;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.UUID;

/**
 * The orders side of a user's application: an order row and its {@code OrderPlaced} event are written on the
 * caller's connection, so they commit or roll back together. The caller owns the transaction.
 */
public final class Orders {

    public static final String CREATE_TABLE = "CREATE TABLE orders (id text PRIMARY KEY, total_cents bigint NOT NULL)";

    private final Outbox outbox;

    public Orders(Outbox outbox) {
        this.outbox = outbox;
    }

    /** Inserts the order and appends its event in the transaction of {@code tx}; returns the event id. */
    public UUID place(Connection tx, String orderId, long totalCents) throws SQLException {
        try (PreparedStatement ps = tx.prepareStatement("INSERT INTO orders (id, total_cents) VALUES (?, ?)")) {
            ps.setString(1, orderId);
            ps.setLong(2, totalCents);
            ps.executeUpdate();
        }
        return outbox.append(tx, OutboxEvent.of("order", orderId, "OrderPlaced", Long.toString(totalCents)));
    }
}
