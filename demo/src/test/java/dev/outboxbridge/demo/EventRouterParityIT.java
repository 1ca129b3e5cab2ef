package dev.outboxbridge.demo;

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
import io.debezium.embedded.Connect;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.RecordChangeEvent;
import io.debezium.engine.format.ChangeEventFormat;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.connect.converters.ByteArrayConverter;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.storage.SimpleHeaderConverter;
import org.apache.kafka.connect.storage.StringConverter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The path beyond one sidecar: Debezium's own {@code EventRouter} SMT, configured as
 * docs/kafka-connect.md tells a Kafka Connect user to configure it, turns the same outbox rows into
 * the same Kafka records as the relay (topic, key, value, {@code id}, {@code eventType} and
 * {@code aggregateType} headers). The SMT's output is serialized with the converters Connect would
 * use (string keys, byte-array values, simple header converter).
 */
@ExtendWith(OutboxBridgeExtension.class)
class EventRouterParityIT {

    @TempDir
    Path dir;

    /** A record as bytes on the wire: what a consumer sees. */
    record Wire(String topic, String key, byte[] value, String id, String eventType, String aggregateType) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Wire w && topic.equals(w.topic) && key.equals(w.key) && Arrays.equals(value, w.value)
                    && id.equals(w.id) && eventType.equals(w.eventType) && aggregateType.equals(w.aggregateType);
        }

        @Override
        public int hashCode() {
            return id.hashCode();
        }

        @Override
        public String toString() {
            return topic + "/" + key + "/" + id + "/" + eventType + "/" + aggregateType + "/" + new String(value, StandardCharsets.UTF_8);
        }
    }

    @Test
    void eventRouterOnTheSameRowsProducesTheSameRecordsAsTheRelay(TestDatabase db, TestKafka kafka) throws Exception {
        String topicPrefix = kafka.prefix() + "outbox.event.";
        kafka.createTopic(topicPrefix + "order", 2);
        kafka.createTopic(topicPrefix + "invoice", 2);
        Map<String, String> relaySettings = DemoRun.relaySettings(db, kafka.bootstrapServers(), topicPrefix, dir);
        String routerSlot = db.uniqueName("router");
        try (Connection c = db.connect(); var s = c.createStatement()) {
            s.execute("SELECT pg_create_logical_replication_slot('" + routerSlot + "', 'pgoutput')");
        }

        List<SourceRecord> routed = Collections.synchronizedList(new ArrayList<>());
        ExecutorService executor = Executors.newSingleThreadExecutor(r -> new Thread(r, "event-router-engine"));
        try (Relay relay = Relay.create(RelayConfig.of(relaySettings))) {
            relay.start(); // creates the publication the router's slot reads too
            DebeziumEngine<RecordChangeEvent<SourceRecord>> router = DebeziumEngine.create(ChangeEventFormat.of(Connect.class))
                    .using(eventRouterEngine(db, routerSlot, relaySettings.get(RelayConfig.PUBLICATION_NAME), topicPrefix))
                    .notifying((records, committer) -> {
                        for (RecordChangeEvent<SourceRecord> r : records) {
                            if (r.record().value() != null) {
                                routed.add(r.record());
                            }
                            committer.markProcessed(r);
                        }
                        committer.markBatchFinished();
                    })
                    .build();
            executor.execute(router);
            try {
                Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(topicPrefix).build());
                try (Connection c = db.connect()) {
                    c.setAutoCommit(false);
                    for (int i = 0; i < 30; i++) {
                        String type = i % 3 == 0 ? "invoice" : "order";
                        outbox.append(c, OutboxEvent.builder().aggregateType(type).aggregateId(type + "-" + (i % 5))
                                .type(i % 2 == 0 ? "Created" : "Changed").payload("{\"n\":" + i + ",\"text\":\"é ✓\"}").build());
                        if (i % 7 == 6) {
                            c.commit();
                        }
                    }
                    outbox.append(c, OutboxEvent.builder().aggregateType("order").aggregateId("bin")
                            .type("Binary").payload(new byte[] {0, 1, 2, (byte) 0xff}).build());
                    c.commit();
                }
                await().atMost(Duration.ofSeconds(90)).until(() -> routed.size() >= 31);
            } finally {
                router.close();
            }
            List<ConsumerRecord<byte[], byte[]>> relayed = new ArrayList<>(kafka.readAll(topicPrefix + "order", 21, Duration.ofSeconds(90)));
            relayed.addAll(kafka.readAll(topicPrefix + "invoice", 10, Duration.ofSeconds(90)));

            Map<String, Wire> fromRelay = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : relayed) {
                Wire w = new Wire(r.topic(), new String(r.key(), StandardCharsets.UTF_8), r.value(), header(r, "id"), header(r, "eventType"),
                        header(r, "aggregateType"));
                fromRelay.put(w.id(), w);
            }
            Map<String, Wire> fromRouter = new HashMap<>();
            try (StringConverter keys = new StringConverter(); ByteArrayConverter values = new ByteArrayConverter();
                    SimpleHeaderConverter headers = new SimpleHeaderConverter()) {
                keys.configure(Map.of(), true);
                values.configure(Map.of(), false);
                headers.configure(Map.of());
                for (SourceRecord r : routed) {
                    byte[] key = keys.fromConnectData(r.topic(), r.keySchema(), r.key());
                    byte[] value = values.fromConnectData(r.topic(), r.valueSchema(), r.value());
                    Wire w = new Wire(r.topic(), new String(key, StandardCharsets.UTF_8), value, header(headers, r, "id"),
                            header(headers, r, "eventType"), header(headers, r, "aggregateType"));
                    fromRouter.put(w.id(), w);
                }
            }
            assertThat(fromRelay).hasSize(31);
            assertThat(fromRouter).isEqualTo(fromRelay);
        } finally {
            executor.shutdown();
            executor.awaitTermination(30, TimeUnit.SECONDS);
        }
    }

    /** The EventRouter settings of docs/kafka-connect.md, in an embedded engine on its own slot. */
    private Properties eventRouterEngine(TestDatabase db, String slot, String publication, String topicPrefix) {
        Properties p = new Properties();
        p.setProperty("name", "event-router");
        p.setProperty("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
        p.setProperty("offset.storage", "org.apache.kafka.connect.storage.MemoryOffsetBackingStore");
        p.setProperty("offset.flush.interval.ms", "1000");
        p.setProperty("database.hostname", db.host());
        p.setProperty("database.port", String.valueOf(db.port()));
        p.setProperty("database.dbname", db.name());
        p.setProperty("database.user", db.user());
        p.setProperty("database.password", db.password() == null ? "" : db.password());
        p.setProperty("topic.prefix", "router");
        p.setProperty("plugin.name", "pgoutput");
        p.setProperty("slot.name", slot);
        p.setProperty("publication.name", publication);
        p.setProperty("publication.autocreate.mode", "disabled");
        p.setProperty("table.include.list", "public.outbox_event");
        p.setProperty("snapshot.mode", "no_data");
        p.setProperty("tombstones.on.delete", "false");
        p.setProperty("binary.handling.mode", "bytes");
        p.setProperty("message.prefix.exclude.list", ".*");
        // as in docs/kafka-connect.md
        p.setProperty("transforms", "outbox");
        p.setProperty("transforms.outbox.type", "io.debezium.transforms.outbox.EventRouter");
        p.setProperty("transforms.outbox.route.topic.replacement", topicPrefix + "${routedByValue}");
        p.setProperty("transforms.outbox.table.fields.additional.placement", "type:header:eventType,aggregatetype:header:aggregateType");
        p.setProperty("transforms.outbox.table.expand.json.payload", "false");
        return p;
    }

    private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        var h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    private static String header(SimpleHeaderConverter converter, SourceRecord r, String name) {
        Header h = r.headers().lastWithName(name);
        if (h == null) {
            return null;
        }
        return new String(converter.fromConnectHeader(r.topic(), name, h.schema(), h.value()), StandardCharsets.UTF_8);
    }
}
