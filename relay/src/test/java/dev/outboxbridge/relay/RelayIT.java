package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** The relay against a real PostgreSQL (wal_level=logical) and a real Kafka broker. */
@ExtendWith(OutboxBridgeExtension.class)
class RelayIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(90);

    @TempDir
    Path dir;

    static Map<String, String> relaySettings(TestDatabase db, TestKafka kafka, Path offsets) {
        return RelaySettings.of(db, kafka, offsets);
    }

    private Outbox outbox(TestKafka kafka) {
        return Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
    }

    private static List<UUID> write(TestDatabase db, Outbox outbox, List<OutboxEvent> events, boolean commit) throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            List<UUID> ids = outbox.appendAll(c, events);
            if (commit) {
                c.commit();
            } else {
                c.rollback();
            }
            return ids;
        }
    }

    private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        return r.headers().lastHeader(name) == null ? null : new String(r.headers().lastHeader(name).value(), StandardCharsets.UTF_8);
    }

    @Test
    void publishesCommittedInsertsWithTheRecordShapeOfTheContract(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        try (Relay relay = Relay.create(RelayConfig.of(relaySettings(db, kafka, dir)))) {
            relay.start();
            long before = System.currentTimeMillis();
            UUID id = write(db, outbox(kafka), List.of(OutboxEvent.builder().aggregateType("order").aggregateId("o-42")
                    .type("OrderPlaced").payload("{\"total\":42}").header("traceparent", "00-aa-bb-01").build()), true).get(0);
            List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, 1, TIMEOUT);
            assertThat(records).hasSize(1);
            ConsumerRecord<byte[], byte[]> r = records.get(0);
            assertThat(new String(r.key(), StandardCharsets.UTF_8)).isEqualTo("o-42");
            assertThat(new String(r.value(), StandardCharsets.UTF_8)).isEqualTo("{\"total\":42}");
            assertThat(header(r, "id")).isEqualTo(id.toString());
            assertThat(header(r, "eventType")).isEqualTo("OrderPlaced");
            assertThat(header(r, "aggregateType")).isEqualTo("order");
            assertThat(header(r, "traceparent")).isEqualTo("00-aa-bb-01");
            assertThat(r.timestamp()).as("commit time").isBetween(before - 5_000, System.currentTimeMillis());
            await().atMost(TIMEOUT).until(() -> relay.publishedCount() == 1);
        }
    }

    @Test
    void metricsGoToTheHostsMeterRegistryAndLeaveItOnClose(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 1);
        Map<String, String> settings = relaySettings(db, kafka, dir);
        settings.put(RelayConfig.HA_ENABLED, "false");
        settings.put(RelayConfig.OFFSET_STORAGE, RelayConfig.OFFSET_STORAGE_FILE);
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Clock clock = Clock.offset(Clock.systemUTC(), Duration.ofHours(1)); // acknowledged an hour after the commit, by this clock
        try (Relay relay = Relay.builder(RelayConfig.of(settings)).meterRegistry(registry).clock(clock).build()) {
            relay.start();
            write(db, outbox(kafka), List.of(OutboxEvent.of("order", "o-1", "A", "1"), OutboxEvent.of("order", "o-2", "A", "2")), true);
            String name = settings.get(RelayConfig.NAME);
            await().atMost(TIMEOUT).until(() -> registry.find("outbox.relay.events.published").tag("relay", name).counter() != null
                    && registry.find("outbox.relay.events.published").tag("relay", name).counter().count() == 2.0);
            assertThat(registry.find("outbox.relay.publish.latency").tag("relay", name).timer().max(TimeUnit.MINUTES))
                    .as("latency measured with the given clock").isGreaterThanOrEqualTo(59.0);
            assertThat(registry.find("outbox.relay.leader").tag("relay", name).gauge().value()).isEqualTo(1.0);
        }
        assertThat(registry.getMeters()).as("the relay's meters after close()").isEmpty();
        assertThat(registry.isClosed()).as("the registry stays its owner's").isFalse();
    }

    @Test
    void rolledBackTransactionsNeverReachKafkaAndOrderPerAggregateIsKept(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.account";
        kafka.createTopic(topic, 4);
        Outbox outbox = outbox(kafka);
        Map<String, List<String>> expected = new LinkedHashMap<>();
        List<UUID> rolledBack = new ArrayList<>();
        try (Relay relay = Relay.create(RelayConfig.of(relaySettings(db, kafka, dir)))) {
            relay.start();
            for (int tx = 0; tx < 60; tx++) {
                List<OutboxEvent> events = new ArrayList<>();
                boolean commit = tx % 5 != 3;
                for (int i = 0; i < 1 + tx % 7; i++) {
                    String account = "acc-" + ((tx + i) % 9);
                    String payload = account + ":" + tx + ":" + i;
                    events.add(OutboxEvent.of("account", account, "Moved", payload));
                    if (commit) {
                        expected.computeIfAbsent(account, k -> new ArrayList<>()).add(payload);
                    }
                }
                List<UUID> ids = write(db, outbox, events, commit);
                if (!commit) {
                    rolledBack.addAll(ids);
                }
            }
            int total = expected.values().stream().mapToInt(List::size).sum();
            List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, total, TIMEOUT);
            Map<String, List<String>> actual = new LinkedHashMap<>();
            Map<String, Integer> partitionOf = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : records) {
                String key = new String(r.key(), StandardCharsets.UTF_8);
                assertThat(rolledBack).doesNotContain(UUID.fromString(header(r, "id")));
                assertThat(partitionOf.putIfAbsent(key, r.partition())).as("one partition per aggregate").isIn(null, r.partition());
                actual.computeIfAbsent(key, k -> new ArrayList<>()).add(new String(r.value(), StandardCharsets.UTF_8));
            }
            assertThat(actual).isEqualTo(expected);
        }
    }

    @Test
    void restartResumesWhereItStoppedWithoutLoss(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 2);
        Outbox outbox = outbox(kafka);
        RelayConfig config = RelayConfig.of(relaySettings(db, kafka, dir));
        List<UUID> ids = new ArrayList<>();
        try (Relay first = Relay.create(config)) {
            first.start();
            for (int i = 0; i < 50; i++) {
                ids.addAll(write(db, outbox, List.of(OutboxEvent.of("order", "o-" + (i % 5), "A", "first-" + i)), true));
            }
            kafka.readAll(topic, 50, TIMEOUT);
        }
        // written while no relay runs: the slot keeps them
        for (int i = 0; i < 50; i++) {
            ids.addAll(write(db, outbox, List.of(OutboxEvent.of("order", "o-" + (i % 5), "A", "gap-" + i)), true));
        }
        try (Relay second = Relay.create(config)) {
            second.start();
            for (int i = 0; i < 50; i++) {
                ids.addAll(write(db, outbox, List.of(OutboxEvent.of("order", "o-" + (i % 5), "A", "second-" + i)), true));
            }
            List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, 150, TIMEOUT);
            List<UUID> published = records.stream().map(r -> UUID.fromString(header(r, "id"))).toList();
            assertThat(published).containsAll(ids);
            assertThat(published.size() - ids.size()).as("duplicates after a clean stop").isZero();
        }
    }

    @Test
    void aMissingTopicStopsTheRelayAndLosesNothing(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.invoice";
        RelayConfig config = RelayConfig.of(relaySettings(db, kafka, dir));
        UUID id;
        try (Relay relay = Relay.create(config)) {
            relay.start();
            id = write(db, outbox(kafka), List.of(OutboxEvent.of("invoice", "i-1", "Issued", "{}")), true).get(0);
            assertThat(relay.awaitTermination(TIMEOUT)).isTrue();
            assertThat(relay.state()).isEqualTo(Relay.State.FAILED);
            assertThat(relay.failure()).get().extracting(Throwable::getMessage).asString()
                    .contains("'" + topic + "' does not exist").contains("topic.create=true");
        }
        kafka.createTopic(topic, 1);
        try (Relay relay = Relay.create(config)) {
            relay.start();
            List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, 1, TIMEOUT);
            assertThat(records).extracting(r -> header(r, "id")).containsExactly(id.toString());
        }
    }

    @Test
    void aMalformedRowStopsTheRelayBeforeAnythingAfterIt(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 1);
        Outbox outbox = outbox(kafka);
        try (Relay relay = Relay.create(RelayConfig.of(relaySettings(db, kafka, dir)))) {
            relay.start();
            write(db, outbox, List.of(OutboxEvent.of("order", "o-1", "A", "before")), true);
            UUID bad = UUID.randomUUID();
            try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(
                    "INSERT INTO outbox_event (id, aggregatetype, aggregateid, type, payload) VALUES (?, 'order lines', 'o-1', 'A', '\\x00')")) {
                ps.setObject(1, bad); // written by hand, bypassing outbox-core's validation
                ps.executeUpdate();
            }
            write(db, outbox, List.of(OutboxEvent.of("order", "o-1", "A", "after")), true);
            assertThat(relay.awaitTermination(TIMEOUT)).isTrue();
            assertThat(relay.state()).isEqualTo(Relay.State.FAILED);
            assertThat(relay.failure()).get().extracting(Throwable::getMessage).asString()
                    .contains(bad.toString()).contains("invalid Kafka topic name");
            List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, 1, Duration.ofSeconds(10));
            assertThat(records).extracting(r -> new String(r.value(), StandardCharsets.UTF_8)).containsExactly("before");
        }
    }

    @Test
    void startupFailsClearlyWhenTheOutboxTableIsMissing(TestDatabase db, TestKafka kafka) {
        Map<String, String> m = relaySettings(db, kafka, dir);
        m.put(RelayConfig.OUTBOX_TABLE, "public.no_outbox_here");
        Relay relay = Relay.create(RelayConfig.of(m));
        assertThatThrownBy(relay::start).isInstanceOf(RelayException.class)
                .hasMessageContaining("public.no_outbox_here").hasMessageContaining("does not exist").hasMessageContaining("migrations");
        assertThat(relay.state()).isEqualTo(Relay.State.FAILED);
        relay.close();
    }

    @Test
    void startupFailsClearlyWhenKafkaIsUnreachable(TestDatabase db, TestKafka kafka) {
        Map<String, String> m = relaySettings(db, kafka, dir);
        m.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, "127.0.0.1:1");
        m.put("kafka.producer.request.timeout.ms", "2000");
        m.put("kafka.producer.default.api.timeout.ms", "4000");
        Relay relay = Relay.create(RelayConfig.of(m));
        assertThatThrownBy(relay::start).isInstanceOf(RelayException.class)
                .hasMessageContaining("Cannot reach Kafka at 127.0.0.1:1");
        relay.close();
    }

    @Test
    void anExistingPublicationCoveringOtherTablesIsRefused(TestDatabase db, TestKafka kafka) throws Exception {
        Map<String, String> m = relaySettings(db, kafka, dir);
        try (Connection c = db.connect(); var s = c.createStatement()) {
            s.execute("CREATE TABLE customers (id int primary key)");
            s.execute("CREATE PUBLICATION " + m.get(RelayConfig.PUBLICATION_NAME) + " FOR TABLE outbox_event, customers");
        }
        Relay relay = Relay.create(RelayConfig.of(m));
        assertThatThrownBy(relay::start).isInstanceOf(RelayException.class)
                .hasMessageContaining("must cover exactly [public.outbox_event]");
        relay.close();
    }

    @Test
    void passwordsNeverAppearInStartupErrors(TestDatabase db, TestKafka kafka) {
        Map<String, String> m = relaySettings(db, kafka, dir);
        m.put(RelayConfig.DATABASE_DBNAME, "no_such_db");
        m.put(RelayConfig.DATABASE_PASSWORD, "Sup3r-Secret-Pw");
        Relay relay = Relay.create(RelayConfig.of(m));
        assertThatThrownBy(relay::start).isInstanceOf(RelayException.class)
                .hasMessageContaining("no_such_db")
                .satisfies(e -> assertThat(e.toString()).doesNotContain("Sup3r-Secret-Pw"));
        relay.close();
    }

    @Test
    void positionIsStoredInACompactedKafkaTopicNotOnTheRelaysDisk(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 1);
        Map<String, String> m = relaySettings(db, kafka, dir);
        String positions = kafka.prefix() + "relay-positions";
        m.put(RelayConfig.OFFSET_STORAGE_TOPIC, positions);
        try (Relay relay = Relay.create(RelayConfig.of(m))) {
            relay.start();
            write(db, outbox(kafka), List.of(OutboxEvent.of("order", "o-1", "A", "x")), true);
            kafka.readAll(topic, 1, TIMEOUT);
        }
        List<ConsumerRecord<byte[], byte[]>> stored = kafka.readAll(positions, 1, TIMEOUT);
        assertThat(stored).isNotEmpty();
        assertThat(new String(stored.get(stored.size() - 1).key(), StandardCharsets.UTF_8))
                .contains(db.name() + "." + m.get(RelayConfig.SLOT_NAME));
        assertThat(new String(stored.get(stored.size() - 1).value(), StandardCharsets.UTF_8)).contains("lsn");
        assertThat(dir.resolve("offsets.dat")).doesNotExist();
    }

    @Test
    void aPositionTopicThatIsNotCompactedIsRefused(TestDatabase db, TestKafka kafka) throws Exception {
        Map<String, String> m = relaySettings(db, kafka, dir);
        String positions = kafka.prefix() + "relay-positions";
        kafka.createTopic(positions, 1); // cleanup.policy=delete: Kafka would one day drop the position
        m.put(RelayConfig.OFFSET_STORAGE_TOPIC, positions);
        Relay relay = Relay.create(RelayConfig.of(m));
        assertThatThrownBy(relay::start).isInstanceOf(RelayException.class)
                .hasMessageContaining(positions).hasMessageContaining("cleanup.policy=delete").hasMessageContaining("compact");
        relay.close();
    }

    @Test
    void aLocalFileCanStillHoldThePosition(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 1);
        Map<String, String> m = relaySettings(db, kafka, dir);
        m.put(RelayConfig.OFFSET_STORAGE, "file");
        m.put(RelayConfig.HA_ENABLED, "false"); // a single relay: a local position cannot be shared
        RelayConfig config = RelayConfig.of(m);
        Outbox outbox = outbox(kafka);
        try (Relay relay = Relay.create(config)) {
            relay.start();
            write(db, outbox, List.of(OutboxEvent.of("order", "o-1", "A", "first")), true);
            kafka.readAll(topic, 1, TIMEOUT);
        }
        assertThat(dir.resolve("offsets.dat")).exists();
        write(db, outbox, List.of(OutboxEvent.of("order", "o-1", "A", "second")), true);
        try (Relay relay = Relay.create(config)) {
            relay.start();
            assertThat(kafka.readAll(topic, 2, TIMEOUT)).extracting(r -> new String(r.value(), StandardCharsets.UTF_8))
                    .containsExactly("first", "second");
        }
    }
}
