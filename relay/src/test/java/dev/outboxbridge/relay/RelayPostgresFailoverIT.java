package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.PostgresStandbyPair;
import dev.outboxbridge.testkit.TestKafka;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The relay on a PostgreSQL 17 primary + standby ({@link PostgresStandbyPair}) with its host list in
 * {@code database.hostname}: kill -9 of the primary and promotion of the standby under a writer. With a failover slot the
 * relay finds the new primary and resumes from the synchronized slot (every committed event published, per-aggregate
 * order kept); without one it stops with the explanation and the fix instead of resuming from a new slot.
 */
@ExtendWith(OutboxBridgeExtension.class)
class RelayPostgresFailoverIT {

    private static final Logger LOG = LoggerFactory.getLogger(RelayPostgresFailoverIT.class);
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final int EVENTS_BEFORE = 200;
    private static final int EVENTS_AFTER = 200;

    @Test
    @DisplayName("relay continues after a standby promotion with nothing lost (failover slot)")
    void continuesAfterStandbyPromotionWithNothingLost(TestKafka kafka) throws Exception {
        try (PostgresStandbyPair pair = PostgresStandbyPair.start()) {
            String db = pair.createDatabase("failover");
            pair.migrateOutbox(db);
            String topic = kafka.prefix() + "outbox.event.order";
            kafka.createTopic(topic, 3);
            Map<String, String> settings = settings(pair, db, kafka);
            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            String slot = settings.get(RelayConfig.SLOT_NAME);
            List<Written> committed;
            try (Writer w = new Writer(pair, db, outbox(kafka))) {
                int atKill;
                try (Relay relay = Relay.builder(RelayConfig.of(settings)).meterRegistry(registry).build()) {
                    relay.start();
                    w.start();
                    await().atMost(TIMEOUT).until(() -> w.committedCount() >= EVENTS_BEFORE && relay.publishedCount() >= EVENTS_BEFORE / 2);
                    w.assertHealthy();
                    await().atMost(TIMEOUT).untilAsserted(() -> assertThat(registry.get("outbox.relay.slot.failover.ready").gauge().value())
                            .as("the relay sees its slot kept in step on the standby").isEqualTo(1.0));
                    pair.awaitSlotSynced(slot, TIMEOUT);

                    pair.killPrimary();
                    atKill = w.committedCount();
                    Duration promotion = pair.promoteStandby();
                    LOG.info("Primary killed with {} events committed; standby promoted in {} ms", atKill, promotion.toMillis());

                    // the engine reads from one host: the relay stops for its supervisor to start it against the new primary
                    await().atMost(TIMEOUT).until(() -> relay.state() == Relay.State.FAILED);
                    assertThat(relay.failure()).get().extracting(Throwable::getMessage).asString()
                            .contains("is now " + "localhost:" + pair.standby().port()).contains("resumes from the slot");
                }
                long restart = System.nanoTime();
                try (Relay relay = Relay.create(RelayConfig.of(settings))) { // what the supervisor does
                    relay.start();
                    await().atMost(TIMEOUT).until(() -> w.committedCount() >= atKill + EVENTS_AFTER);
                    committed = w.stop();
                    List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, committed.size(), TIMEOUT);
                    assertThat(relay.state()).as("the restarted relay reads the new primary; failure: %s", relay.failure())
                            .isEqualTo(Relay.State.RUNNING);
                    assertEveryEventInOrder(committed, records);
                    LOG.info("{} committed events ({} failed before COMMIT, {} at COMMIT, resolved by query); {} records in Kafka,"
                            + " {} duplicates; all published {} ms after the restart", committed.size(), w.failedBeforeCommit,
                            w.indeterminate, records.size(), records.size() - committed.size(),
                            Duration.ofNanos(System.nanoTime() - restart).toMillis());
                }
            }
        }
    }

    @Test
    @DisplayName("relay refuses to resume after a promotion without a synchronized slot")
    void refusesToResumeAfterPromotionWithoutSynchronizedSlot(TestKafka kafka) throws Exception {
        try (PostgresStandbyPair pair = PostgresStandbyPair.start()) {
            String db = pair.createDatabase("nofailover");
            pair.migrateOutbox(db);
            String topic = kafka.prefix() + "outbox.event.order";
            kafka.createTopic(topic, 3);
            Map<String, String> settings = settings(pair, db, kafka);
            settings.put(RelayConfig.SLOT_FAILOVER, "false"); // a plain slot: on the primary only, as before PostgreSQL 17
            try (Relay relay = Relay.create(RelayConfig.of(settings))) {
                relay.start();
                try (Writer w = new Writer(pair, db, outbox(kafka))) {
                    w.start();
                    await().atMost(TIMEOUT).until(() -> w.committedCount() >= 50 && relay.publishedCount() >= 20);

                    pair.killPrimary();
                    pair.promoteStandby();

                    await().atMost(TIMEOUT).until(() -> relay.state() == Relay.State.FAILED);
                    w.stop();
                }
                assertThat(relay.failure()).get().extracting(Throwable::getMessage).asString()
                        .contains("failed over to a standby that did not have it")
                        .contains("refuses")
                        .contains("Fix: ")
                        .contains("docs/deployment.md");
                LOG.info("The relay stopped: {}", relay.failure().get().getMessage());
            }
        }
    }

    private static Map<String, String> settings(PostgresStandbyPair pair, String db, TestKafka kafka) {
        Map<String, String> m = new HashMap<>();
        m.put(RelayConfig.NAME, "relay-" + db);
        m.put(RelayConfig.DATABASE_HOSTNAME, pair.hostList());
        m.put(RelayConfig.DATABASE_PORT, String.valueOf(pair.primaryPort()));
        m.put(RelayConfig.DATABASE_DBNAME, db);
        m.put(RelayConfig.DATABASE_USER, pair.primary().adminUser());
        m.put(RelayConfig.DATABASE_PASSWORD, pair.primary().adminPassword());
        m.put(RelayConfig.SLOT_NAME, "slot_" + db);
        m.put(RelayConfig.PUBLICATION_NAME, "pub_" + db);
        m.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, kafka.bootstrapServers());
        m.put(RelayConfig.TOPIC_PREFIX, kafka.prefix() + "outbox.event.");
        m.put(RelayConfig.HA_ENABLED, "false"); // the lease's session would end with the primary: one relay reconnecting
        m.put(RelayConfig.HEARTBEAT_INTERVAL_MS, "1000");
        return m;
    }

    private static Outbox outbox(TestKafka kafka) {
        return Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
    }

    /** L and O: every committed event, first occurrences in commit order per aggregate; P: nothing else. */
    private static void assertEveryEventInOrder(List<Written> committed, List<ConsumerRecord<byte[], byte[]>> records) {
        Map<String, List<UUID>> expected = new LinkedHashMap<>();
        committed.forEach(w -> expected.computeIfAbsent(w.aggregateId(), k -> new ArrayList<>()).add(w.id()));
        Set<UUID> committedIds = new HashSet<>();
        committed.forEach(w -> committedIds.add(w.id()));
        Map<String, LinkedHashSet<UUID>> firstOccurrences = new LinkedHashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            String key = new String(r.key(), StandardCharsets.UTF_8);
            UUID id = UUID.fromString(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8));
            assertThat(committedIds).as("P: only committed events reach Kafka").contains(id);
            firstOccurrences.computeIfAbsent(key, k -> new LinkedHashSet<>()).add(id);
        }
        expected.forEach((aggregate, ids) -> assertThat(List.copyOf(firstOccurrences.getOrDefault(aggregate, new LinkedHashSet<>())))
                .as("L and O: every committed event of %s, in commit order", aggregate).isEqualTo(ids));
    }

    private record Written(UUID id, String aggregateId) {
    }

    /**
     * One thread committing outbox transactions of 1-3 events over 10 aggregates through whichever server is the primary,
     * carrying on through the failover: a transaction that fails before COMMIT is dropped, one whose COMMIT fails is
     * resolved by asking the (new) primary whether its events exist.
     */
    private static final class Writer implements AutoCloseable {
        private final PostgresStandbyPair pair;
        private final String db;
        private final Outbox outbox;
        private final List<Written> committed = new ArrayList<>();
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private final Thread thread;
        private volatile int failedBeforeCommit;
        private volatile int indeterminate;

        Writer(PostgresStandbyPair pair, String db, Outbox outbox) {
            this.pair = pair;
            this.db = db;
            this.outbox = outbox;
            thread = new Thread(this::run, "test-failover-writer");
        }

        /** Starts writing: after the relay's start() returned, so that its slot exists. */
        void start() {
            thread.start();
        }

        private void run() {
            SplittableRandom random = new SplittableRandom(17);
            try {
                for (int tx = 0; running.get(); tx++) {
                    List<Written> events = new ArrayList<>();
                    for (int i = 0, size = 1 + random.nextInt(3); i < size; i++) {
                        events.add(new Written(UUID.randomUUID(), "o-" + random.nextInt(10)));
                    }
                    if (commit(events, tx)) {
                        synchronized (committed) {
                            committed.addAll(events);
                        }
                    }
                    Thread.sleep(5); // pacing of the writer, not a wait for a condition
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (Throwable t) {
                failure.set(t);
            }
        }

        private boolean commit(List<Written> events, int tx) throws InterruptedException {
            boolean commitSent = false;
            try (Connection c = pair.connect(db)) {
                c.setAutoCommit(false);
                for (Written w : events) {
                    outbox.append(c, OutboxEvent.builder().id(w.id()).aggregateType("order").aggregateId(w.aggregateId())
                            .type("Changed").payload("tx-" + tx).build());
                }
                commitSent = true;
                c.commit();
                return true;
            } catch (SQLException | dev.outboxbridge.outbox.OutboxException e) {
                if (!commitSent) {
                    failedBeforeCommit++;
                    Thread.sleep(50); // no primary at the moment
                    return false;
                }
                indeterminate++;
                return resolve(events);
            }
        }

        private boolean resolve(List<Written> events) throws InterruptedException {
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (true) {
                try (Connection c = pair.connect(db);
                        PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM outbox_event WHERE id = ANY (?)")) {
                    ps.setArray(1, c.createArrayOf("uuid", events.stream().map(Written::id).toArray()));
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        long found = rs.getLong(1);
                        if (found != 0 && found != events.size()) {
                            throw new IllegalStateException("Atomicity violated: " + found + " of " + events.size() + " events exist");
                        }
                        return found == events.size();
                    }
                } catch (SQLException e) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("No primary answered within " + TIMEOUT, e);
                    }
                    Thread.sleep(100); // no primary at the moment
                }
            }
        }

        int committedCount() {
            synchronized (committed) {
                return committed.size();
            }
        }

        void assertHealthy() {
            assertThat(failure.get()).as("writer failure").isNull();
        }

        List<Written> stop() throws InterruptedException {
            running.set(false);
            thread.join(TIMEOUT.toMillis());
            assertHealthy();
            synchronized (committed) {
                return List.copyOf(committed);
            }
        }

        @Override
        public void close() throws InterruptedException {
            running.set(false);
            if (thread.isAlive()) {
                thread.join(TIMEOUT.toMillis());
            }
        }
    }
}
