package com.example.shop.billing;

import com.example.shop.events.OrderPlaced;
import com.example.shop.events.ShopEventJson;
import com.example.shop.events.ShopEventJson.UnreadableEventException;
import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.spring.InboxListener;
import org.springframework.stereotype.Component;

/**
 * Applies {@code OrderPlaced} events from the orders topic, each exactly once.
 *
 * <p>The starter runs this method inside the inbox transaction: the inbox row that marks the event as seen and the
 * invoice that {@link Invoices} writes with {@code JdbcTemplate} commit together, and Kafka offsets are committed only
 * after that. A redelivered event finds its inbox row and never reaches this method again. A payload that cannot be an
 * order is dead-lettered at once ({@link FatalEventException}) to {@code billing.dlt}, with the reason in its headers;
 * any other exception is retried, then dead-lettered.
 */
@Component
public class BillingListener {

    private final Invoices invoices;

    public BillingListener(Invoices invoices) {
        this.invoices = invoices;
    }

    @InboxListener(consumer = "billing", eventType = OrderPlaced.TYPE, topics = "${shop.topics.orders}")
    public void orderPlaced(InboxEvent event) {
        OrderPlaced order;
        try {
            order = ShopEventJson.readOrderPlaced(event.payload());
        } catch (UnreadableEventException e) {
            throw FatalEventException.undeserializable(event, e);
        }
        if (!order.orderId().equals(event.key())) {
            throw new FatalEventException("event " + event.id() + " is keyed '" + event.key() + "' but is about order "
                    + order.orderId());
        }
        invoices.issue(event.id(), order);
    }
}
