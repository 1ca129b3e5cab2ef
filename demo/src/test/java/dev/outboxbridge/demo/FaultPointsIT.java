package dev.outboxbridge.demo;

import dev.outboxbridge.db.FaultPoint;
import dev.outboxbridge.demo.faults.ConsumerMain;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import dev.outboxbridge.testsupport.ChildJvm;
import dev.outboxbridge.testsupport.FaultPoints;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Each fault point halts the real relay or consumer process exactly where it claims: the state left
 * behind (records in Kafka, positions in the position topic, rows in the inbox database, committed
 * offsets) is the state of that boundary, and a restarted process recovers from it without loss and
 * applies each effect once. Child processes, since a halt ends the whole JVM.
 *
 * <p>Each case first lets one event through (so start-up work is done and no flush or commit is
 * pending), then arms the point through the process's fault point file and sends the next events:
 * the first hit of the point after arming is theirs.
 */
@ExtendWith(OutboxBridgeExtension.class)
class FaultPointsIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(90);

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0}")
    // relay.after-transaction-commit is reached only with delivery.guarantee=exactly_once: ExactlyOnceIT (relay module)
    // halts there and checks its state (events and position committed, the position ahead of the slot's)
    @EnumSource(value = FaultPoint.class, names = "RELAY_(?!AFTER_TRANSACTION_COMMIT).*", mode = EnumSource.Mode.MATCH_ALL)
    void relayHaltsAtThePointAndARestartLosesNothing(FaultPoint point, TestDatabase shop, TestKafka ns) throws Exception {
        String topicPrefix = ns.prefix() + OutboxConfig.DEFAULT_TOPIC_PREFIX;
        String topic = topicPrefix + "order";
        String positionTopic = ns.topic("positions");
        ns.createTopic(topic, 1);
        Map<String, String> settings = DemoRun.relaySettings(shop, ns.bootstrapServers(), topicPrefix, dir);
        settings.put(RelayConfig.OFFSET_STORAGE_TOPIC, positionTopic);
        settings.put(RelayConfig.HEARTBEAT_INTERVAL_MS, "0"); // no position flush but the events'
        Map<String, String> env = RelayConfig.toEnvironment(settings);
        Path armFile = dir.resolve("relay.faultpoints");
        env.put(FaultPoints.FILE_ENV, armFile.toString());
        Path log = dir.resolve("relay.log");
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(topicPrefix).build());

        ChildJvm relay = ChildJvm.start("relay", "dev.outboxbridge.relay.app.RelayMain", List.of(), env, log, "256m");
        try {
            String slot = settings.get(RelayConfig.SLOT_NAME);
            await().atMost(TIMEOUT).until(() -> shop.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?", slot) == 1);
            List<UUID> ids = new ArrayList<>(append(shop, outbox, 1));
            await().atMost(TIMEOUT).ignoreExceptions().until(() -> endOffset(ns, topic) == 1 && endOffset(ns, positionTopic) >= 1);
            long positionsBefore = endOffset(ns, positionTopic);

            FaultPoints.arm(armFile, point, 1);
            ids.addAll(append(shop, outbox, 10));
            assertThat(relay.waitFor(TIMEOUT)).as("relay halted at " + point.id()).isTrue();
            assertThat(relay.exitValue()).isEqualTo(FaultPoints.HALT_STATUS);
            assertThat(Files.readString(log, StandardCharsets.UTF_8)).contains("Fault point " + point.id() + " reached");
            assertThat(armFile).as("disarmed for the restarted process").doesNotExist();

            long records = endOffset(ns, topic) - 1;
            long positions = endOffset(ns, positionTopic) - positionsBefore;
            switch (point) {
                case RELAY_AFTER_SEND -> assertThat(positions).as("nothing acknowledged, so no position").isZero();
                case RELAY_AFTER_ACK -> {
                    assertThat(records).as("the acknowledged record is in Kafka").isGreaterThanOrEqualTo(1);
                    assertThat(positions).as("not marked processed, so no position").isZero();
                }
                case RELAY_BEFORE_POSITION_FLUSH -> {
                    assertThat(records).as("records acknowledged and marked before the flush").isGreaterThanOrEqualTo(1);
                    assertThat(positions).as("the position write never happened").isZero();
                }
                case RELAY_AFTER_POSITION_FLUSH -> {
                    assertThat(records).isGreaterThanOrEqualTo(1);
                    assertThat(positions).as("Kafka acknowledged the position write").isGreaterThanOrEqualTo(1);
                }
                default -> throw new IllegalArgumentException(point.toString());
            }

            relay = ChildJvm.start("relay-restarted", "dev.outboxbridge.relay.app.RelayMain", List.of(), env, log, "256m");
            boolean resent = point == FaultPoint.RELAY_AFTER_ACK || point == FaultPoint.RELAY_BEFORE_POSITION_FLUSH;
            List<String> expected = ids.stream().map(UUID::toString).toList();
            // the restarted relay publishes once it holds the lease (ha.lease.ms after its start), and the records of
            // the halted batch may all be in Kafka already: read until every event is there, and the re-sent ones
            java.util.concurrent.atomic.AtomicReference<List<String>> read = new java.util.concurrent.atomic.AtomicReference<>(List.of());
            try {
                await().atMost(TIMEOUT).until(() -> {
                    read.set(ns.readAll(topic, ids.size() + (resent ? 1 : 0), Duration.ofSeconds(2)).stream()
                            .map(r -> new String(r.headers().lastHeader(InboxEvent.ID_HEADER).value(), StandardCharsets.UTF_8))
                            .toList());
                    return read.get().containsAll(expected) && (!resent || read.get().size() > ids.size());
                });
            } catch (org.awaitility.core.ConditionTimeoutException e) {
                // the assertions below say what is missing
            }
            List<String> published = read.get();
            assertThat(published).as("nothing lost").containsAll(expected);
            if (resent) {
                assertThat(published.size()).as("acknowledged but unrecorded records are sent again").isGreaterThan(ids.size());
            }
            assertThat(relay.isAlive()).as("restarted relay runs (not armed)").isTrue();
            assertThat(relay.terminate(Duration.ofSeconds(40))).isIn(0, 143);
        } finally {
            if (relay.isAlive()) {
                relay.kill();
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = FaultPoint.class, names = "INBOX_.*", mode = EnumSource.Mode.MATCH_ALL)
    void consumerHaltsAtThePointAndARestartAppliesEachEffectOnce(FaultPoint point, TestDatabase billing, TestKafka ns) throws Exception {
        DemoRun.createBillingSchema(billing);
        String topic = ns.topic("orders");
        String groupId = ns.topic("billing");
        ns.createTopic(topic, 1);
        ns.createTopic(ns.topic(DemoRun.DEAD_LETTER_TOPIC), 1);
        Path armFile = dir.resolve("consumer.faultpoints");
        Map<String, String> env = Map.of("BILLING_JDBC_URL", billing.jdbcUrl(), "BILLING_DB_USER", billing.user(),
                "BILLING_DB_PASSWORD", billing.password() == null ? "" : billing.password(),
                "BILLING_BOOTSTRAP_SERVERS", ns.bootstrapServers(), "BILLING_TOPIC", topic, "BILLING_GROUP_ID", groupId,
                "BILLING_DEAD_LETTER_TOPIC", ns.topic(DemoRun.DEAD_LETTER_TOPIC), FaultPoints.FILE_ENV, armFile.toString());
        Path log = dir.resolve("consumer.log");
        String effects = "SELECT count(*) FROM " + DemoRun.EFFECTS_TABLE;

        ChildJvm consumer = ChildJvm.start("consumer", ConsumerMain.class.getName(), List.of(), env, log, "256m");
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(ns.producerProperties())) {
            send(producer, topic, 1);
            await().atMost(TIMEOUT).ignoreExceptions().until(() -> billing.count(effects) == 1 && committed(ns, groupId, topic) == 1);

            FaultPoints.arm(armFile, point, 1);
            send(producer, topic, 10);
            assertThat(consumer.waitFor(TIMEOUT)).as("consumer halted at " + point.id()).isTrue();
            assertThat(consumer.exitValue()).isEqualTo(FaultPoints.HALT_STATUS);
            assertThat(Files.readString(log, StandardCharsets.UTF_8)).contains("Fault point " + point.id() + " reached");

            long applied = billing.count(effects);
            long offset = committed(ns, groupId, topic);
            switch (point) {
                case INBOX_BEFORE_DB_COMMIT -> {
                    assertThat(applied).as("the transaction never committed").isEqualTo(1);
                    assertThat(offset).isEqualTo(1);
                }
                case INBOX_AFTER_DB_COMMIT, INBOX_BEFORE_OFFSET_COMMIT -> {
                    assertThat(applied).as("the transaction committed").isGreaterThan(1);
                    assertThat(offset).as("its offsets never reached Kafka").isEqualTo(1);
                }
                case INBOX_AFTER_OFFSET_COMMIT -> {
                    assertThat(offset).as("Kafka stored the offsets").isGreaterThan(1);
                    assertThat(applied).as("only offsets of committed records").isGreaterThanOrEqualTo(offset);
                }
                default -> throw new IllegalArgumentException(point.toString());
            }

            consumer = ChildJvm.start("consumer-restarted", ConsumerMain.class.getName(), List.of(), env, log, "256m");
            await().atMost(TIMEOUT).ignoreExceptions().until(() -> committed(ns, groupId, topic) == 11);
            assertThat(billing.count(effects)).as("each effect applied exactly once").isEqualTo(11);
            assertThat(billing.count("SELECT count(DISTINCT event_id) FROM " + DemoRun.EFFECTS_TABLE)).isEqualTo(11);
            assertThat(consumer.isAlive()).as("restarted consumer runs (not armed)").isTrue();
            assertThat(consumer.terminate(Duration.ofSeconds(40))).isIn(0, 143);
        } finally {
            if (consumer.isAlive()) {
                consumer.kill();
            }
        }
    }

    private static List<UUID> append(TestDatabase shop, Outbox outbox, int n) throws Exception {
        List<UUID> ids = new ArrayList<>();
        try (Connection c = shop.connect()) {
            c.setAutoCommit(false);
            for (int i = 0; i < n; i++) {
                ids.add(outbox.append(c, OutboxEvent.of("order", "o-" + (i % 3), "OrderPlaced", "{\"n\":" + i + "}")));
            }
            c.commit();
        }
        return ids;
    }

    /** {@code n} events as the relay writes them, in the shape the billing handler reads. */
    private static void send(KafkaProducer<byte[], byte[]> producer, String topic, int n) throws Exception {
        for (int i = 0; i < n; i++) {
            String order = "o-" + (i % 3);
            ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic, order.getBytes(StandardCharsets.UTF_8),
                    ("{\"amount\":" + (i + 1) + ",\"version\":" + i + "}").getBytes(StandardCharsets.UTF_8));
            r.headers().add(InboxEvent.ID_HEADER, UUID.randomUUID().toString().getBytes(StandardCharsets.UTF_8));
            r.headers().add(InboxEvent.EVENT_TYPE_HEADER, "OrderPlaced".getBytes(StandardCharsets.UTF_8));
            producer.send(r);
        }
        producer.flush();
    }

    private static long endOffset(TestKafka ns, String topic) throws Exception {
        TopicPartition tp = new TopicPartition(topic, 0);
        return ns.admin().listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp).get(30, TimeUnit.SECONDS).offset();
    }

    private static long committed(TestKafka ns, String groupId, String topic) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> offsets = ns.admin().listConsumerGroupOffsets(groupId)
                .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
        OffsetAndMetadata m = offsets.get(new TopicPartition(topic, 0));
        return m == null ? 0 : m.offset();
    }
}
