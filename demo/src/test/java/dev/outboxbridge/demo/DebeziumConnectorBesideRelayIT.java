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
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.connect.converters.ByteArrayConverter;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.storage.SimpleHeaderConverter;
import org.apache.kafka.connect.storage.StringConverter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Debezium Postgres connector with the {@code EventRouter} SMT (Kafka Connect-style: an embedded engine, its records
 * serialized with Connect's converters and sent to Kafka) running beside the relay on the same database and outbox table,
 * each with its own slot and publication (docs/kafka-connect.md, "Running beside the relay"). The relay's WAL heartbeats
 * are logical decoding messages ({@code pg_logical_emit_message}): database-wide, not filtered by a publication, so every
 * logical slot on the database receives them. A witness slot ({@code test_decoding}) shows they flowed while both ran.
 */
@ExtendWith(OutboxBridgeExtension.class)
class DebeziumConnectorBesideRelayIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(120);

    @TempDir
    Path dir;

    /** The embedded Debezium engine with the EventRouter, forwarding what it routes to Kafka (acknowledged before committing). */
    private static final class Connector implements AutoCloseable {
        private final DebeziumEngine<RecordChangeEvent<SourceRecord>> engine;
        private final ExecutorService executor = Executors.newSingleThreadExecutor(r -> new Thread(r, "debezium-connector-engine"));
        private final KafkaProducer<byte[], byte[]> producer;
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private final AtomicReference<String> stopMessage = new AtomicReference<>();
        private final AtomicLong published = new AtomicLong();
        private final AtomicReference<SourceRecord> refused = new AtomicReference<>();
        private final StringConverter keys = new StringConverter();
        private final ByteArrayConverter values = new ByteArrayConverter();
        private final SimpleHeaderConverter headers = new SimpleHeaderConverter();

        Connector(Properties settings, TestKafka kafka) {
            keys.configure(Map.of(), true);
            values.configure(Map.of(), false);
            headers.configure(Map.of());
            producer = new KafkaProducer<>(kafka.producerProperties());
            engine = DebeziumEngine.create(ChangeEventFormat.of(Connect.class)).using(settings)
                    .using((success, message, error) -> {
                        stopMessage.set(message);
                        if (!success || error != null) {
                            failure.compareAndSet(null, error != null ? error : new IllegalStateException(message));
                        }
                    })
                    .notifying(this::forward)
                    .build();
            executor.execute(engine);
        }

        private void forward(List<RecordChangeEvent<SourceRecord>> changes,
                DebeziumEngine.RecordCommitter<RecordChangeEvent<SourceRecord>> committer) throws InterruptedException {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (RecordChangeEvent<SourceRecord> change : changes) {
                SourceRecord r = change.record();
                if (r.value() != null) {
                    RecordHeaders h = new RecordHeaders();
                    for (Header header : r.headers()) {
                        h.add(header.key(), headers.fromConnectHeader(r.topic(), header.key(), header.schema(), header.value()));
                    }
                    byte[] value;
                    try {
                        value = values.fromConnectData(r.topic(), r.valueSchema(), r.value());
                    } catch (RuntimeException e) {
                        refused.compareAndSet(null, r); // what a Connect worker's converter refuses fails its task the same way
                        throw e;
                    }
                    acks.add(producer.send(new ProducerRecord<>(r.topic(), null, keys.fromConnectData(r.topic(), r.keySchema(), r.key()),
                            value, h)));
                }
            }
            for (Future<RecordMetadata> ack : acks) {
                try {
                    ack.get();
                } catch (ExecutionException e) {
                    throw new IllegalStateException("Kafka did not acknowledge a routed record: " + e.getCause(), e.getCause());
                }
            }
            published.addAndGet(acks.size());
            for (RecordChangeEvent<SourceRecord> change : changes) {
                committer.markProcessed(change);
            }
            committer.markBatchFinished();
        }

        boolean stopped() {
            return stopMessage.get() != null;
        }

        @Override
        public void close() throws IOException, InterruptedException {
            try {
                if (!stopped()) {
                    engine.close(); // a failed engine has shut down already (and refuses a second close)
                }
            } finally {
                executor.shutdown();
                if (!executor.awaitTermination(30, TimeUnit.SECONDS)) {
                    executor.shutdownNow();
                }
                producer.close(Duration.ofSeconds(10));
            }
        }
    }

    /**
     * The connector of docs/kafka-connect.md on its own slot and publication (a second reader of the outbox beside the
     * relay, not the migration that takes over the relay's slot), with the given logical-message exclusion (null: none).
     */
    private static Properties connectorSettings(TestDatabase db, String slot, String publication, String topicPrefix, Path offsets,
            String messagePrefixExclusion) {
        Properties p = new Properties();
        p.setProperty("name", "outbox-connector");
        p.setProperty("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
        p.setProperty("offset.storage", "org.apache.kafka.connect.storage.FileOffsetBackingStore");
        p.setProperty("offset.storage.file.filename", offsets.toString());
        p.setProperty("offset.flush.interval.ms", "1000");
        p.setProperty("database.hostname", db.host());
        p.setProperty("database.port", String.valueOf(db.port()));
        p.setProperty("database.dbname", db.name());
        p.setProperty("database.user", db.user());
        p.setProperty("database.password", db.password() == null ? "" : db.password());
        p.setProperty("topic.prefix", "shop");
        p.setProperty("plugin.name", "pgoutput");
        p.setProperty("slot.name", slot);
        p.setProperty("slot.drop.on.stop", "false");
        p.setProperty("publication.name", publication);
        p.setProperty("publication.autocreate.mode", "disabled");
        p.setProperty("table.include.list", "public.outbox_event");
        p.setProperty("snapshot.mode", "no_data");
        p.setProperty("tombstones.on.delete", "false");
        p.setProperty("binary.handling.mode", "bytes");
        if (messagePrefixExclusion != null) {
            p.setProperty("message.prefix.exclude.list", messagePrefixExclusion);
        }
        p.setProperty("transforms", "outbox");
        p.setProperty("transforms.outbox.type", "io.debezium.transforms.outbox.EventRouter");
        p.setProperty("transforms.outbox.route.topic.replacement", topicPrefix + "${routedByValue}");
        p.setProperty("transforms.outbox.table.fields.additional.placement", "type:header:eventType,aggregatetype:header:aggregateType");
        p.setProperty("transforms.outbox.table.expand.json.payload", "false");
        return p;
    }

    /** The connector's own publication and slot, made as its operator would before starting it. */
    private static void createConnectorSlot(TestDatabase db, String slot, String publication) throws Exception {
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            s.execute("CREATE PUBLICATION " + publication + " FOR TABLE outbox_event WITH (publish = 'insert')");
            s.execute("SELECT pg_create_logical_replication_slot('" + slot + "', 'pgoutput')");
        }
    }

    private static boolean slotActive(TestDatabase db, String slot) throws Exception {
        try (Connection c = db.connect(); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT active FROM pg_replication_slots WHERE slot_name = '" + slot + "'")) {
            return rs.next() && rs.getBoolean(1);
        }
    }

    /** The relay's heartbeats a test_decoding slot saw since it was created. */
    private static long heartbeatsSeen(TestDatabase db, String witness) throws Exception {
        try (Connection c = db.connect(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(
                "SELECT count(*) FROM pg_logical_slot_peek_changes('" + witness + "', NULL, NULL) WHERE data LIKE 'message:%prefix: "
                        + Relay.HEARTBEAT_PREFIX + ",%'")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static void createWitness(TestDatabase db, String witness) throws Exception {
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            s.execute("SELECT pg_create_logical_replication_slot('" + witness + "', 'test_decoding')");
        }
    }

    private static void write(Outbox outbox, TestDatabase db, int transactions, int offset) throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            for (int t = 0; t < transactions; t++) {
                for (int i = 0; i < 3; i++) {
                    int n = offset + t * 3 + i;
                    outbox.append(c, OutboxEvent.of(n % 2 == 0 ? "order" : "invoice", "agg-" + n % 7, "Changed", "{\"n\":" + n + "}"));
                }
                c.commit();
            }
        }
    }

    private static Set<String> ids(List<ConsumerRecord<byte[], byte[]>> records) {
        return records.stream().map(r -> new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8)).collect(Collectors.toSet());
    }

    /** Both topics of a prefix, read to their end offsets. */
    private static List<ConsumerRecord<byte[], byte[]>> both(TestKafka kafka, String prefix) {
        List<ConsumerRecord<byte[], byte[]>> all = new ArrayList<>(kafka.readAll(prefix + "order", Duration.ofSeconds(10)));
        all.addAll(kafka.readAll(prefix + "invoice", Duration.ofSeconds(10)));
        return all;
    }

    @Test
    void aDebeziumConnectorExcludingTheRelaysHeartbeatPrefixRunsBesideItAndBothPublishEveryEvent(TestDatabase db, TestKafka kafka)
            throws Exception {
        String relayPrefix = kafka.prefix() + "outbox.event.";
        String connectorPrefix = kafka.prefix() + "connect.outbox.event.";
        for (String p : List.of(relayPrefix, connectorPrefix)) {
            kafka.createTopic(p + "order", 2);
            kafka.createTopic(p + "invoice", 2);
        }
        Map<String, String> relaySettings = DemoRun.relaySettings(db, kafka.bootstrapServers(), relayPrefix, dir);
        relaySettings.put(RelayConfig.HEARTBEAT_INTERVAL_MS, "200"); // many heartbeats during the test
        String slot = db.uniqueName("connector");
        String publication = db.uniqueName("connector_pub");
        String witness = db.uniqueName("witness");
        createConnectorSlot(db, slot, publication);
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(relayPrefix).build());
        try (Relay relay = Relay.create(RelayConfig.of(relaySettings));
                Connector connector = new Connector(connectorSettings(db, slot, publication, connectorPrefix, dir.resolve("connector.dat"),
                        Relay.HEARTBEAT_PREFIX + ",another-app"), kafka)) {
            relay.start();
            await().atMost(TIMEOUT).until(() -> connector.failure.get() != null || slotActive(db, slot));
            createWitness(db, witness);
            write(outbox, db, 20, 0); // 60 events
            try (Connection c = db.connect(); Statement s = c.createStatement()) {
                // another application's logical messages, transactional and not: the relay skips them, the connector excludes them
                s.execute("SELECT pg_logical_emit_message(true, 'another-app', 'x'), pg_logical_emit_message(false, 'another-app', 'y')");
            }
            await().atMost(TIMEOUT).until(() -> connector.stopped() || heartbeatsSeen(db, witness) >= 5);
            write(outbox, db, 20, 60); // 60 more, after heartbeats went through both slots
            int events = 120;
            await().atMost(TIMEOUT).until(() -> connector.stopped() || connector.published.get() >= events);
            assertThat(connector.failure.get()).as("the connector's failure").isNull();
            assertThat(connector.stopped()).as("the connector still runs").isFalse();
            assertThat(heartbeatsSeen(db, witness)).as("heartbeats in the WAL while both ran").isGreaterThanOrEqualTo(5);
            await().atMost(TIMEOUT).until(() -> ids(both(kafka, relayPrefix)).size() >= events);
            List<ConsumerRecord<byte[], byte[]>> relayed = both(kafka, relayPrefix);
            List<ConsumerRecord<byte[], byte[]>> routed = both(kafka, connectorPrefix);
            assertThat(relayed).as("the relay published every event once, nothing for the messages").hasSize(events);
            assertThat(ids(relayed)).hasSize(events);
            assertThat(routed).as("the connector published every event once").hasSize(events);
            assertThat(ids(routed)).as("the same events").isEqualTo(ids(relayed));
            assertThat(relay.state()).isEqualTo(Relay.State.RUNNING);
        }
    }

    @Test
    void withoutTheExclusionTheConnectorFailsOnTheRelaysFirstHeartbeat(TestDatabase db, TestKafka kafka) throws Exception {
        String relayPrefix = kafka.prefix() + "outbox.event.";
        String connectorPrefix = kafka.prefix() + "connect.outbox.event.";
        for (String p : List.of(relayPrefix, connectorPrefix)) {
            kafka.createTopic(p + "order", 1);
            kafka.createTopic(p + "invoice", 1);
        }
        Map<String, String> relaySettings = DemoRun.relaySettings(db, kafka.bootstrapServers(), relayPrefix, dir);
        relaySettings.put(RelayConfig.HEARTBEAT_INTERVAL_MS, "200");
        String slot = db.uniqueName("connector");
        String publication = db.uniqueName("connector_pub");
        createConnectorSlot(db, slot, publication);
        try (Relay relay = Relay.create(RelayConfig.of(relaySettings));
                Connector connector = new Connector(connectorSettings(db, slot, publication, connectorPrefix, dir.resolve("connector.dat"),
                        null), kafka)) {
            relay.start();
            await().atMost(TIMEOUT).until(connector::stopped);
            // Debezium 3.6.1's EventRouter passes a logical decoding message through unchanged (it routes only the outbox
            // table's change events): a record for '<topic.prefix>.message' whose value is Debezium's message struct, which
            // the ByteArrayConverter of docs/kafka-connect.md cannot serialize, so the task fails
            Throwable failure = connector.failure.get();
            assertThat(failure).as("the connector failed").isNotNull();
            StringBuilder chain = new StringBuilder();
            for (Throwable t = failure; t != null; t = t.getCause()) {
                chain.append(t.getClass().getName()).append(": ").append(t.getMessage()).append('\n');
            }
            assertThat(chain.toString()).contains("org.apache.kafka.connect.errors.DataException: Invalid schema type for"
                    + " ByteArrayConverter: STRUCT");
            SourceRecord refused = connector.refused.get();
            assertThat(refused).as("the record the converter refused").isNotNull();
            assertThat(refused.topic()).isEqualTo("shop.message");
            org.apache.kafka.connect.data.Struct value = (org.apache.kafka.connect.data.Struct) refused.value();
            assertThat(value.getString("op")).as("a logical decoding message").isEqualTo("m");
            assertThat(value.getStruct("message").getString("prefix")).isEqualTo(Relay.HEARTBEAT_PREFIX);
            assertThat(connector.published.get()).as("nothing routed before it").isZero();
            assertThat(relay.state()).as("the relay is not affected").isEqualTo(Relay.State.RUNNING);
        }
    }
}
