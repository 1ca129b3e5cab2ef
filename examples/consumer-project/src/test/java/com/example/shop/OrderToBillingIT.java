package com.example.shop;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a user's integration test looks like: the relay embedded in the test, orders written with their events in
 * committed and rolled-back transactions, billing applied by an inbox consumer, all against the testkit's real
 * PostgreSQL and Kafka.
 */
@ExtendWith(OutboxBridgeExtension.class)
class OrderToBillingIT {

    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    @Test
    void committedOrdersAreBilledExactlyOnceAndRolledBackOrdersNever(TestDatabase db, TestKafka kafka) throws Exception {
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            s.execute(Orders.CREATE_TABLE);
            s.execute(Billing.CREATE_TABLE);
        }
        String topicPrefix = kafka.prefix() + "events.";
        String topic = topicPrefix + "order";
        kafka.createTopic(topic, 3);
        String billingName = kafka.topic("billing");
        kafka.createTopic(billingName + ".dlt", 1);
        Orders orders = new Orders(Outbox.create(OutboxConfig.builder().topicPrefix(topicPrefix).build()));

        Set<UUID> committed = new HashSet<>();
        Set<UUID> rolledBack = new HashSet<>();
        try (Relay relay = Relay.builder(relayConfig(db, kafka, topicPrefix)).build();
                InboxConsumer billing = billing(db, kafka, billingName, topic, kafka.topic("billing-group"))) {
            relay.start();
            billing.start();
            for (int i = 0; i < 50; i++) {
                boolean commit = i % 5 != 4; // 40 committed, 10 rolled back
                try (Connection tx = db.connect()) {
                    tx.setAutoCommit(false);
                    UUID id = orders.place(tx, "order-" + i, 100L * i);
                    if (commit) {
                        tx.commit();
                        committed.add(id);
                    } else {
                        tx.rollback();
                        rolledBack.add(id);
                    }
                }
            }

            await().atMost(WAIT).until(() -> relay.publishedCount() == committed.size());
            await().atMost(WAIT).until(() -> billing.stats().processed() == committed.size());

            // everything the relay published is on the topic now: the committed events, once each
            List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, WAIT);
            Set<UUID> onTopic = new HashSet<>();
            for (ConsumerRecord<byte[], byte[]> r : records) {
                onTopic.add(UUID.fromString(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8)));
            }
            assertEquals(committed.size(), records.size(), "records on the topic");
            assertEquals(committed, onTopic);
            assertEquals(0, billing.stats().failures());
            assertEquals(0, billing.stats().deadLettered());
        }
        assertEquals(committed, invoicedEventIds(db));
        assertEquals(committed.size(), db.count("SELECT count(*) FROM invoice"), "one invoice per committed order");
        assertEquals(committed.size(), db.count("SELECT count(*) FROM orders"), "the rolled-back orders are gone");
        assertTrue(rolledBack.stream().noneMatch(invoicedEventIds(db)::contains), "no rolled-back order billed");

        // the same consumer re-reads the whole topic under a new consumer group: the inbox suppresses every redelivery
        try (InboxConsumer replay = billing(db, kafka, billingName, topic, kafka.topic("billing-replay"))) {
            replay.start();
            await().atMost(WAIT).until(() -> replay.stats().duplicates() == committed.size());
            assertEquals(0, replay.stats().processed());
        }
        assertEquals(committed.size(), db.count("SELECT count(*) FROM invoice"), "still one invoice per committed order");
    }

    private RelayConfig relayConfig(TestDatabase db, TestKafka kafka, String topicPrefix) {
        Map<String, String> m = new HashMap<>();
        m.put(RelayConfig.NAME, "shop-relay");
        m.put(RelayConfig.DATABASE_HOSTNAME, db.host());
        m.put(RelayConfig.DATABASE_PORT, String.valueOf(db.port()));
        m.put(RelayConfig.DATABASE_DBNAME, db.name());
        m.put(RelayConfig.DATABASE_USER, db.user());
        m.put(RelayConfig.DATABASE_PASSWORD, db.password() == null ? "" : db.password());
        m.put(RelayConfig.SLOT_NAME, db.uniqueName("slot"));
        m.put(RelayConfig.PUBLICATION_NAME, db.uniqueName("pub"));
        m.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, kafka.bootstrapServers());
        m.put(RelayConfig.TOPIC_PREFIX, topicPrefix);
        // one relay in this test: no leader lease, offsets in a file
        m.put(RelayConfig.HA_ENABLED, "false");
        m.put(RelayConfig.OFFSET_STORAGE, RelayConfig.OFFSET_STORAGE_FILE);
        m.put(RelayConfig.OFFSET_FILE, dir.resolve("relay-offsets.dat").toString());
        return RelayConfig.of(m);
    }

    private static InboxConsumer billing(TestDatabase db, TestKafka kafka, String name, String topic, String groupId) {
        return InboxConsumer.builder()
                .consumerName(name)
                .kafkaProperties(Map.of("bootstrap.servers", kafka.bootstrapServers(), "group.id", groupId))
                .topics(List.of(topic))
                .dataSource(db.dataSource())
                .handler(new Billing())
                .build();
    }

    private static Set<UUID> invoicedEventIds(TestDatabase db) throws Exception {
        Set<UUID> ids = new HashSet<>();
        try (Connection c = db.connect(); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT event_id FROM invoice")) {
            while (rs.next()) {
                ids.add(rs.getObject(1, UUID.class));
            }
        }
        return ids;
    }
}
