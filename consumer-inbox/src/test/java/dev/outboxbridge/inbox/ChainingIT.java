package dev.outboxbridge.inbox;

import static dev.outboxbridge.inbox.InboxConsumerIT.WAIT;
import static dev.outboxbridge.inbox.InboxConsumerIT.inbox;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Exactly-once effect across two hops without Kafka transactions: order events are written to the
 * outbox, the relay publishes them, the billing consumer applies each one and appends an invoice
 * event to the outbox in the same transaction, the relay publishes that, and the shipping consumer
 * applies it. A replay of the first hop (a new consumer group) produces no second invoice.
 */
@ExtendWith(OutboxBridgeExtension.class)
class ChainingIT {

    @Test
    void handlerAppendsOutboxEventsInItsTransactionAndEachHopAppliesOnce(TestDatabase db, TestKafka kafka)
            throws Exception {
        String prefix = kafka.prefix() + "outbox.event.";
        String orders = prefix + "order";
        String invoices = prefix + "invoice";
        kafka.createTopic(orders, 3);
        kafka.createTopic(invoices, 3);
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE invoice (order_event uuid PRIMARY KEY, order_id text NOT NULL)");
            st.execute("CREATE TABLE shipment (invoice_event uuid PRIMARY KEY, order_id text NOT NULL)");
        }
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(prefix).build());
        InboxHandler billing = (event, tx) -> {
            try (PreparedStatement ps = tx.prepareStatement("INSERT INTO invoice (order_event, order_id) VALUES (?, ?)")) {
                ps.setObject(1, event.id());
                ps.setString(2, event.key());
                ps.executeUpdate();
            }
            outbox.append(tx, OutboxEvent.builder().aggregateType("invoice").aggregateId(event.key())
                    .type("InvoiceIssued").payload("{\"order\":\"" + event.key() + "\"}")
                    .header("causation-id", event.id().toString()).build());
        };
        InboxHandler shipping = (event, tx) -> {
            try (PreparedStatement ps = tx.prepareStatement(
                    "INSERT INTO shipment (invoice_event, order_id) VALUES (?, ?)")) {
                ps.setObject(1, event.id());
                ps.setString(2, event.key());
                ps.executeUpdate();
            }
        };
        String billingName = kafka.topic("billing");
        String shippingName = kafka.topic("shipping");
        int count = 40;

        try (Relay relay = Relay.create(RelayConfig.of(relaySettings(db, kafka, prefix)));
                InboxConsumer first = inbox(db, kafka, billingName, orders, billing).build();
                InboxConsumer second = inbox(db, kafka, shippingName, invoices, shipping).build()) {
            relay.start();
            first.start();
            second.start();
            List<OutboxEvent> events = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                events.add(OutboxEvent.builder().aggregateType("order").aggregateId("order-" + i).type("OrderPlaced")
                        .payload("{}").build());
            }
            try (Connection c = db.connect()) {
                c.setAutoCommit(false);
                outbox.appendAll(c, events);
                c.commit();
            }
            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM shipment") == count);
            assertThat(db.count("SELECT count(*) FROM invoice")).isEqualTo(count);

            // the first hop is replayed from the beginning under a new group: no new invoice, no new shipment
            try (InboxConsumer replay = inbox(db, kafka, billingName, orders, billing)
                    .kafkaProperties(Map.of("bootstrap.servers", kafka.bootstrapServers(), "group.id",
                            kafka.topic("billing-replay")))
                    .build()) {
                replay.start();
                await().atMost(WAIT).until(() -> replay.stats().duplicates() == count);
                assertThat(replay.stats().processed()).isZero();
            }
            await().atMost(WAIT).until(() -> second.stats().processed() == count);
        }
        assertThat(db.count("SELECT count(*) FROM outbox_event WHERE aggregatetype = 'invoice'")).isEqualTo(count);
        assertThat(db.count("SELECT count(*) FROM shipment")).isEqualTo(count);
        assertThat(db.count("SELECT count(*) FROM invoice i JOIN outbox_event o ON o.aggregateid = i.order_id"
                + " AND o.aggregatetype = 'invoice' AND o.headers ->> 'causation-id' = i.order_event::text"))
                .isEqualTo(count);
    }

    private Map<String, String> relaySettings(TestDatabase db, TestKafka kafka, String prefix) {
        Map<String, String> m = new HashMap<>();
        m.put(RelayConfig.NAME, "relay-" + db.name());
        m.put(RelayConfig.DATABASE_HOSTNAME, db.host());
        m.put(RelayConfig.DATABASE_PORT, String.valueOf(db.port()));
        m.put(RelayConfig.DATABASE_DBNAME, db.name());
        m.put(RelayConfig.DATABASE_USER, db.user());
        m.put(RelayConfig.DATABASE_PASSWORD, db.password() == null ? "" : db.password());
        m.put(RelayConfig.SLOT_NAME, db.uniqueName("slot"));
        m.put(RelayConfig.PUBLICATION_NAME, db.uniqueName("pub"));
        m.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, kafka.bootstrapServers());
        m.put(RelayConfig.TOPIC_PREFIX, prefix);
        return m;
    }

}
