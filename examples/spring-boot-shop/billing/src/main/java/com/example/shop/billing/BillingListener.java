package com.example.shop.billing;

import com.example.shop.events.OrderPlaced;
import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.spring.InboxListener;
import org.springframework.stereotype.Component;

/**
 * Applies {@code OrderPlaced} events from the orders topic, each exactly once.
 *
 * <p>The starter runs this method inside the inbox transaction: the inbox row that marks the event as seen and the
 * invoice that {@link Invoices} writes with {@code JdbcTemplate} commit together, and Kafka offsets are committed only
 * after that. A redelivered event finds its inbox row and never reaches this method again.
 *
 * <p>The payload arrives as an {@link OrderPlaced}, read by the starter's payload codec (JSON, by the record's
 * {@code content-type}); the {@link InboxEvent} beside it gives the event id and key. A payload that cannot be read
 * as an {@code OrderPlaced} never reaches this method: the starter dead-letters it at once to {@code billing.dlt}
 * with the reason. An order this service can never invoice is refused here with {@link FatalEventException}
 * (dead-lettered at once too); any other exception is retried, then dead-lettered.
 */
@Component
public class BillingListener {

    private final Invoices invoices;

    public BillingListener(Invoices invoices) {
        this.invoices = invoices;
    }

    @InboxListener(consumer = "billing", eventType = OrderPlaced.TYPE, topics = "${shop.topics.orders}")
    public void orderPlaced(OrderPlaced order, InboxEvent event) {
        if (!order.orderId().equals(event.key())) {
            throw new FatalEventException("event " + event.id() + " is keyed '" + event.key() + "' but is about order "
                    + order.orderId());
        }
        if (order.totalCents() <= 0) {
            throw new FatalEventException("event " + event.id() + ": order " + order.orderId() + " has a total of "
                    + order.totalCents() + " cents; billing invoices positive totals only");
        }
        invoices.issue(event.id(), order);
    }
}
