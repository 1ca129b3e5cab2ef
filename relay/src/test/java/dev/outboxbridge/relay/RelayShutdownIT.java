package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.relay.internal.Preflight;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import dev.outboxbridge.outbox.OutboxEvent;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** Clean stops and restarts under load: nothing lost, nothing sent twice. */
@ExtendWith(OutboxBridgeExtension.class)
class RelayShutdownIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(150);

    @TempDir
    Path dir;

    @Test
    void cleanStopUnderLoadResumesWithNoLossAndNoDuplicate(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
        Map<String, String> settings = RelayIT.relaySettings(db, kafka, dir);
        // clean stops of the stream: no first-start snapshot (a stop during it takes it again, sending duplicates)
        settings.put(RelayConfig.FIRST_START_SNAPSHOT, "false");
        RelayConfig config = RelayConfig.of(settings);
        new Preflight(config).run(); // publication and slot exist before the first write the relay must publish
        List<UUID> committed;
        long publishedBefore = 0;
        Load load = new Load(db, outbox, "order", 8);
        try (load) {
            for (int round = 0; round < 3; round++) {
                Relay relay = Relay.create(config);
                try (relay) {
                    relay.start();
                    await().atMost(TIMEOUT).until(() -> relay.publishedCount() >= 200);
                } // closed while the load keeps committing transactions
                assertThat(relay.state()).isEqualTo(Relay.State.STOPPED);
                publishedBefore += relay.publishedCount();
                assertThat(load.committedCount()).isPositive();
            }
            committed = load.stop();
            try (Relay last = Relay.create(config)) {
                last.start();
                long before = publishedBefore;
                await().atMost(TIMEOUT).until(() -> before + last.publishedCount() >= committed.size());
            }
        }
        List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, committed.size(), TIMEOUT);
        Map<UUID, Long> counts = records.stream()
                .map(r -> UUID.fromString(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8)))
                .collect(Collectors.groupingBy(Function.identity(), HashMap::new, Collectors.counting()));
        assertThat(counts.keySet()).as("lost").containsAll(committed);
        assertThat(counts.entrySet().stream().filter(e -> e.getValue() > 1).map(Map.Entry::getKey).toList())
                .as("duplicates after clean stops").isEmpty();
        assertThat(records).hasSize(committed.size());
    }

    /**
     * A close() that races start() (here: issued while start() runs its start-up checks) must win: once close()
     * returned, the relay is STOPPED and none of its threads (lease, slot monitor, engine) runs, even though start()
     * went on to finish its checks.
     */
    @Test
    void closeDuringStartLeavesTheRelayStoppedWithNoThreadRunning(TestDatabase db, TestKafka kafka) throws Exception {
        RelayConfig config = RelayConfig.of(RelayIT.relaySettings(db, kafka, dir)); // ha.enabled=true: start() ends as a standby
        Relay relay = Relay.create(config);
        CountDownLatch inPreflight = new CountDownLatch(1);
        AtomicCloser closer = new AtomicCloser(relay);
        relay.beforePreflight(() -> {
            inPreflight.countDown();
            // let close() be issued and get as far as it can before the checks go on
            await().atMost(TIMEOUT).until(closer::startedAndWaitingOrDone);
        });
        CompletableFuture<Void> starting = CompletableFuture.runAsync(() -> {
            try {
                relay.start();
            } catch (RuntimeException e) {
                // a start that close() cut short may fail; what matters is the state after close()
            }
        });
        assertThat(inPreflight.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        closer.start();
        closer.join(TIMEOUT.toMillis());
        assertThat(closer.isAlive()).as("close() returned").isFalse();
        starting.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        assertThat(relay.state()).isEqualTo(Relay.State.STOPPED);
        // a pool's last worker reports termination an instant before its thread ends: allow that instant, no more
        await().atMost(Duration.ofSeconds(2)).untilAsserted(() -> assertThat(relayThreads(config)).as("relay threads after close()").isEmpty());
        assertThat(relayThreads(config)).isEmpty();
    }

    /** Runs close() on a thread of its own and tells when it waits for something or finished. */
    private static final class AtomicCloser extends Thread {
        AtomicCloser(Relay relay) {
            super(relay::close, "test-closer");
        }

        boolean startedAndWaitingOrDone() {
            State s = getState();
            return s == State.BLOCKED || s == State.WAITING || s == State.TIMED_WAITING || s == State.TERMINATED;
        }
    }

    private static List<String> relayThreads(RelayConfig config) {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
                .filter(n -> n.startsWith("outbox-relay-") && n.endsWith("-" + config.name())).sorted().toList();
    }

    /**
     * Kafka goes away while the relay checks a new topic: every step of close() would wait for Kafka (the batch in
     * flight, the engine, the producer, the admin client with its call pending). close() still returns within shutdown.timeout.ms, plus a
     * margin for the work that does not wait.
     */
    @Test
    void closeReturnsWithinTheShutdownTimeoutWhenKafkaIsGone(TestDatabase db) throws Exception {
        long timeoutMs = 2_000;
        long marginMs = 1_500;
        Path brokerDir = Files.createTempDirectory(dir, "kafka");
        KafkaClusterTestKit broker = new KafkaClusterTestKit.Builder(new TestKitNodes.Builder().setBaseDirectory(brokerDir)
                .setCombined(true).setNumBrokerNodes(1).setNumControllerNodes(1).build())
                .setConfigProp("offsets.topic.replication.factor", "1")
                .setConfigProp("transaction.state.log.replication.factor", "1")
                .setConfigProp("transaction.state.log.min.isr", "1")
                .setConfigProp("auto.create.topics.enable", "false")
                .build();
        Relay relay = null;
        boolean brokerRunning = false;
        try {
            broker.format();
            broker.startup();
            brokerRunning = true;
            broker.waitForReadyBrokers();
            String bootstrap = broker.bootstrapServers();
            String topic = "outbox.event.order";
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
                admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(60, TimeUnit.SECONDS);
            }
            Map<String, String> settings = new HashMap<>();
            settings.put(RelayConfig.NAME, "relay-gone-" + db.name());
            settings.put(RelayConfig.DATABASE_HOSTNAME, db.host());
            settings.put(RelayConfig.DATABASE_PORT, String.valueOf(db.port()));
            settings.put(RelayConfig.DATABASE_DBNAME, db.name());
            settings.put(RelayConfig.DATABASE_USER, db.user());
            settings.put(RelayConfig.DATABASE_PASSWORD, db.password() == null ? "" : db.password());
            settings.put(RelayConfig.SLOT_NAME, db.uniqueName("slot"));
            settings.put(RelayConfig.PUBLICATION_NAME, db.uniqueName("pub"));
            settings.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, bootstrap);
            settings.put(RelayConfig.HA_ENABLED, "false");
            settings.put(RelayConfig.OFFSET_STORAGE, RelayConfig.OFFSET_STORAGE_FILE);
            settings.put(RelayConfig.OFFSET_FILE, dir.resolve("gone-offsets.dat").toString());
            settings.put(RelayConfig.SHUTDOWN_TIMEOUT_MS, String.valueOf(timeoutMs));
            RelayConfig config = RelayConfig.of(settings);
            Outbox outbox = Outbox.create(OutboxConfig.builder().build());
            relay = Relay.create(config);
            relay.start();
            append(db, outbox, "order", 1);
            Relay running = relay;
            await().atMost(TIMEOUT).until(() -> running.publishedCount() >= 1);

            brokerRunning = false;
            broker.close(); // Kafka is gone; the relay's clients keep trying to reach it
            append(db, outbox, "invoice", 50); // a topic the relay has not checked yet: its admin client asks Kafka
            await().atMost(TIMEOUT).until(RelayShutdownIT::checkingTopic); // a batch in flight, waiting for Kafka

            long start = System.nanoTime();
            relay.close();
            long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertThat(elapsedMs).as("close() took %d ms with shutdown.timeout.ms=%d", elapsedMs, timeoutMs)
                    .isLessThan(timeoutMs + marginMs);
            assertThat(relay.state()).isEqualTo(Relay.State.STOPPED);
        } finally {
            if (relay != null) {
                relay.close();
            }
            if (brokerRunning) {
                broker.close();
            }
        }
    }

    private static void append(TestDatabase db, Outbox outbox, String aggregateType, int n) throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            outbox.appendAll(c, IntStream.range(0, n).mapToObj(i -> OutboxEvent.of(aggregateType, aggregateType + "-" + i, "OrderPlaced",
                    "{\"n\":" + i + "}")).toList());
            c.commit();
        }
    }

    /** True while a thread (Debezium's, of the one relay running) checks a topic in the publisher's batch, waiting for Kafka. */
    private static boolean checkingTopic() {
        return Thread.getAllStackTraces().values().stream().flatMap(java.util.Arrays::stream)
                .anyMatch(f -> f.getClassName().endsWith(".TopicGuard") && f.getMethodName().equals("ensure"));
    }
}
