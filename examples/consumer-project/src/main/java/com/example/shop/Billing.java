package com.example.shop;

import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.InboxHandler;
import java.sql.Connection;
import java.sql.PreparedStatement;

/**
 * The billing side: one invoice per {@code OrderPlaced} event, written on the inbox transaction's connection, so
 * the invoice commits together with the inbox row that marks the event as applied.
 */
public final class Billing implements InboxHandler {

    public static final String CREATE_TABLE =
            "CREATE TABLE invoice (event_id uuid NOT NULL, order_id text NOT NULL, amount_cents bigint NOT NULL)";

    @Override
    public void handle(InboxEvent event, Connection transaction) throws Exception {
        if (!"OrderPlaced".equals(event.eventType())) {
            throw new FatalEventException("billing does not know event type " + event.eventType());
        }
        try (PreparedStatement ps = transaction.prepareStatement(
                "INSERT INTO invoice (event_id, order_id, amount_cents) VALUES (?, ?, ?)")) {
            ps.setObject(1, event.id());
            ps.setString(2, event.key());
            ps.setLong(3, Long.parseLong(event.payloadAsString()));
            ps.executeUpdate();
        }
    }
}
