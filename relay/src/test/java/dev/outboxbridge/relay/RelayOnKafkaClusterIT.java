package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.ReplicatedKafkaCluster;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import dev.outboxbridge.testsupport.SequenceWriter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The relay on a replicated Kafka cluster (three broker processes, topics with replication factor 3 and
 * min.insync.replicas=2, kafka.replication.check=refuse) while a writer commits one event every few milliseconds: it
 * carries on through the kill -9 of a partition leader, and it waits, reporting not ready, while fewer replicas than
 * min.insync.replicas are in sync, then resumes by itself; when the outage outlasts the producer's delivery.timeout.ms it
 * stops, and a restart publishes the rest. Nothing is lost and each aggregate's events keep their order.
 */
@ExtendWith(OutboxBridgeExtension.class)
class RelayOnKafkaClusterIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final String UNDER_MIN_ISR = "outbox.relay.kafka.partitions.under.min.isr";

    @TempDir
    static Path dir;
    private static ReplicatedKafkaCluster cluster;

    @BeforeAll
    static void startCluster() {
        cluster = ReplicatedKafkaCluster.start(dir.resolve("kafka"));
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    private static Map<String, String> settings(TestDatabase db, TestKafka ns, String topicPrefix) {
        Map<String, String> m = ProcessSettings.of(db, cluster.bootstrapServers(), topicPrefix);
        m.put(RelayConfig.KAFKA_REPLICATION_CHECK, "refuse"); // the cluster's topics pass it
        m.put(RelayConfig.OFFSET_STORAGE_TOPIC, ns.topic("positions")); // created by the relay: the cluster's RF 3
        m.put(RelayConfig.HA_ENABLED, "false"); // one relay: no lease to wait for
        return m;
    }

    @Test
    void relayContinuesThroughAPartitionLeaderKill(TestDatabase db) throws Exception {
        try (TestKafka ns = cluster.newNamespace("leader-kill")) {
            String prefix = ns.prefix() + "outbox.event.";
            String topic = prefix + "order";
            ns.createTopic(topic, 3);
            Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(prefix).build());
            SequenceWriter writer = null;
            try (Relay relay = Relay.create(RelayConfig.of(settings(db, ns, prefix)))) {
                relay.start();
                writer = new SequenceWriter(db, outbox);
                await().atMost(TIMEOUT).until(() -> relay.publishedCount() >= 100);

                int leader = cluster.leaderOf(topic, 0);
                cluster.kill(leader); // kill -9 of partition 0's leader, sends in flight
                int newLeader = cluster.awaitLeaderOtherThan(topic, 0, leader, TIMEOUT);
                SequenceWriter w = writer;
                int during = w.committedCount() + 100;
                await().atMost(TIMEOUT).until(() -> w.committedCount() >= during && relay.publishedCount() >= during);
                cluster.restart(leader);
                int after = w.committedCount() + 100;
                await().atMost(TIMEOUT).until(() -> w.committedCount() >= after);

                List<UUID> all = writer.stop();
                await().atMost(TIMEOUT).until(() -> relay.publishedCount() >= all.size());
                assertThat(relay.state()).as("the relay carried on; failure: %s", relay.failure()).isEqualTo(Relay.State.RUNNING);
                assertThat(newLeader).isNotEqualTo(leader);
                assertAllOnceInOrder(ns.readAll(topic, all.size(), TIMEOUT), all);
            } finally {
                if (writer != null) {
                    writer.close();
                }
            }
        }
    }

    @Test
    void relayWaitsNotReadyWhileFewerReplicasThanMinInsyncAreInSyncAndRecovers(TestDatabase db) throws Exception {
        try (TestKafka ns = cluster.newNamespace("min-isr")) {
            String prefix = ns.prefix() + "outbox.event.";
            String topic = prefix + "order";
            ns.createTopic(topic, 3);
            cluster.awaitFullIsr(topic, TIMEOUT);
            Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(prefix).build());
            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            SequenceWriter writer = null;
            try (Relay relay = Relay.builder(RelayConfig.of(settings(db, ns, prefix))).meterRegistry(registry).build()) {
                relay.start();
                writer = new SequenceWriter(db, outbox);
                await().atMost(TIMEOUT).until(() -> relay.publishedCount() >= 100);
                assertThat(relay.isReady()).isTrue();
                assertThat(underMinIsr(registry)).isZero();

                int kept = cluster.leaderOf(topic, 0);
                List<Integer> paused = cluster.brokerIds().stream().filter(id -> id != kept).toList();
                paused.forEach(cluster::pause); // one in-sync replica left, min.insync.replicas=2: NotEnoughReplicas
                SequenceWriter w = writer;
                try {
                    await().atMost(TIMEOUT).until(() -> !relay.isReady());
                    assertThat(underMinIsr(registry)).isPositive();
                    assertThat(relay.state()).as("waits, does not fail; failure: %s", relay.failure()).isEqualTo(Relay.State.RUNNING);
                    assertThat(relay.statusLine()).contains("waiting for Kafka");
                    int during = w.committedCount() + 50; // events committed while Kafka cannot take them
                    await().atMost(TIMEOUT).until(() -> w.committedCount() >= during);
                } finally {
                    paused.forEach(cluster::resume);
                }
                await().atMost(TIMEOUT).until(relay::isReady);
                assertThat(underMinIsr(registry)).isZero();
                int after = w.committedCount() + 50;
                await().atMost(TIMEOUT).until(() -> w.committedCount() >= after);

                List<UUID> all = writer.stop();
                await().atMost(TIMEOUT).until(() -> relay.publishedCount() >= all.size());
                assertThat(relay.state()).as("failure: %s", relay.failure()).isEqualTo(Relay.State.RUNNING);
                assertAllOnceInOrder(ns.readAll(topic, all.size(), TIMEOUT), all);
            } finally {
                if (writer != null) {
                    writer.close();
                }
            }
        }
    }

    @Test
    void relayStopsWhenTheDeliveryTimeoutPassesAndARestartLosesOrReordersNothing(TestDatabase db) throws Exception {
        try (TestKafka ns = cluster.newNamespace("delivery-timeout")) {
            String prefix = ns.prefix() + "outbox.event.";
            String topic = prefix + "order";
            ns.createTopic(topic, 3);
            cluster.awaitFullIsr(topic, TIMEOUT);
            Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(prefix).build());
            Map<String, String> settings = settings(db, ns, prefix);
            // an outage longer than the producer's delivery timeout (Kafka's default: 120 s), made short here
            settings.put(RelayConfig.PRODUCER_PREFIX + "delivery.timeout.ms", "6000");
            settings.put(RelayConfig.PRODUCER_PREFIX + "request.timeout.ms", "2000");
            // the position in a file: with it on the same brokers, the engine waits for the position flush and sends
            // nothing that could time out (relayWaitsNotReady... covers that); here only the event sends wait
            settings.put(RelayConfig.OFFSET_STORAGE, RelayConfig.OFFSET_STORAGE_FILE);
            settings.put(RelayConfig.OFFSET_FILE, dir.resolve(ns.prefix() + "offsets.dat").toString());
            SequenceWriter writer = null;
            try {
                try (Relay relay = Relay.create(RelayConfig.of(settings))) {
                    relay.start();
                    writer = new SequenceWriter(db, outbox); // after start(): rows committed before the slot exists are not captured
                    await().atMost(TIMEOUT).until(() -> relay.publishedCount() >= 100);
                    int kept = cluster.leaderOf(topic, 0);
                    List<Integer> paused = cluster.brokerIds().stream().filter(id -> id != kept).toList();
                    paused.forEach(cluster::pause);
                    try {
                        assertThat(relay.awaitTermination(TIMEOUT)).as("the send timed out and the relay stopped").isTrue();
                        assertThat(relay.state()).isEqualTo(Relay.State.FAILED);
                        assertThat(relay.failure()).get().extracting(Throwable::getMessage).asString()
                                .contains("did not acknowledge").contains("sent again after a restart");
                    } finally {
                        paused.forEach(cluster::resume);
                    }
                }
                cluster.awaitFullIsr(topic, TIMEOUT);
                try (Relay relay = Relay.create(RelayConfig.of(settings))) { // what its supervisor does
                    relay.start();
                    SequenceWriter w = writer;
                    int after = w.committedCount() + 50;
                    await().atMost(TIMEOUT).until(() -> w.committedCount() >= after);
                    List<UUID> all = writer.stop();
                    Set<UUID> expected = new HashSet<>(all);
                    long deadline = System.nanoTime() + TIMEOUT.toNanos();
                    Set<UUID> missing = new HashSet<>(expected);
                    while (!missing.isEmpty() && System.nanoTime() < deadline) {
                        missing.removeAll(ids(ns.readAll(topic, Duration.ofSeconds(10))));
                        if (!missing.isEmpty()) {
                            Thread.sleep(500); // the restarted relay is still publishing its backlog
                        }
                    }
                    assertThat(missing).as("events not in the topic after %s s; the restarted relay published %s, state %s",
                            TIMEOUT.toSeconds(), relay.publishedCount(), relay.state()).isEmpty();
                    assertThat(relay.state()).as("failure: %s", relay.failure()).isEqualTo(Relay.State.RUNNING);
                    assertAllOnceInOrder(ns.readAll(topic, all.size(), TIMEOUT), all);
                }
            } finally {
                if (writer != null) {
                    writer.close();
                }
            }
        }
    }

    private static Set<UUID> ids(List<ConsumerRecord<byte[], byte[]>> records) {
        Set<UUID> seen = new HashSet<>();
        records.forEach(r -> seen.add(UUID.fromString(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8))));
        return seen;
    }

    private static double underMinIsr(SimpleMeterRegistry registry) {
        Gauge gauge = registry.find(UNDER_MIN_ISR).gauge();
        assertThat(gauge).as(UNDER_MIN_ISR).isNotNull();
        return gauge.value();
    }

    /** Every committed event is there, each aggregate's first occurrences in commit order. */
    private static void assertAllOnceInOrder(List<ConsumerRecord<byte[], byte[]>> records, List<UUID> committed) {
        SequenceWriter.assertFirstOccurrencesInOrder(records);
        Set<UUID> seen = new HashSet<>();
        records.forEach(r -> seen.add(UUID.fromString(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8))));
        assertThat(seen).as("lost").containsAll(committed);
        assertThat(seen).as("phantoms").hasSameSizeAs(new HashSet<>(committed));
    }
}
