package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
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
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * PostgreSQL crashes under the running relay ({@code pg_ctl stop -m immediate}, then a start with
 * crash recovery) while a writer commits outbox events: the relay must reconnect on its own and
 * publish every committed event, in commit order per aggregate, and nothing else.
 */
@ExtendWith(OutboxBridgeExtension.class)
class RelayPostgresRestartIT {

    private static final Logger LOG = LoggerFactory.getLogger(RelayPostgresRestartIT.class);
    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final int EVENTS_BEFORE = 300;
    private static final int EVENTS_AFTER = 300;

    @TempDir
    Path dir;

    @Test
    void continuesAfterPostgresImmediateRestart(PostgresServer pg, TestDatabase db, TestKafka kafka) throws Exception {
        assumeTrue(pg.canRestart(), "the testkit cannot restart an external PostgreSQL (OUTBOX_TEST_PG_HOST)");
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
        List<Written> committed;
        Writer writer;
        Map<String, String> settings = RelayIT.relaySettings(db, kafka, dir);
        // a single relay reconnects by itself; with ha.enabled the crash also ends the lease session, so the relay
        // fences itself and exits for its supervisor (covered by the fault runs' PG_RESTART with two relays)
        settings.put(RelayConfig.HA_ENABLED, "false");
        try (Relay relay = Relay.create(RelayConfig.of(settings))) {
            relay.start();
            writer = new Writer(db, outbox);
            try (writer) {
                await().atMost(TIMEOUT).until(() -> writer.committedCount() >= EVENTS_BEFORE && relay.publishedCount() >= EVENTS_BEFORE / 2);
                writer.assertHealthy();

                Duration unavailable = pg.restartImmediately(Duration.ofSeconds(1));

                int atRestart = writer.committedCount();
                LOG.info("PostgreSQL was unavailable for {} ms; {} events committed before it came back", unavailable.toMillis(),
                        atRestart);
                await().atMost(TIMEOUT).until(() -> writer.committedCount() >= atRestart + EVENTS_AFTER);
                committed = writer.stop();
            }
            List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, committed.size(), TIMEOUT);
            assertThat(relay.state()).as("the relay reconnected on its own; failure: %s", relay.failure()).isEqualTo(Relay.State.RUNNING);

            Map<String, List<UUID>> expected = new LinkedHashMap<>();
            committed.forEach(w -> expected.computeIfAbsent(w.aggregateId(), k -> new ArrayList<>()).add(w.id()));
            Set<UUID> committedIds = new HashSet<>();
            committed.forEach(w -> committedIds.add(w.id()));
            Map<String, LinkedHashSet<UUID>> firstOccurrences = new LinkedHashMap<>();
            Map<String, Integer> partitionOf = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : records) {
                String key = new String(r.key(), StandardCharsets.UTF_8);
                UUID id = UUID.fromString(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8));
                assertThat(committedIds).as("P: only committed events reach Kafka").contains(id);
                assertThat(partitionOf.putIfAbsent(key, r.partition())).as("one partition per aggregate").isIn(null, r.partition());
                firstOccurrences.computeIfAbsent(key, k -> new LinkedHashSet<>()).add(id);
            }
            expected.forEach((aggregate, ids) -> assertThat(List.copyOf(firstOccurrences.getOrDefault(aggregate, new LinkedHashSet<>())))
                    .as("L and O: every committed event of %s, in commit order", aggregate).isEqualTo(ids));
            LOG.info("{} committed events ({} transactions failed before COMMIT, {} at COMMIT with the outcome resolved by query, "
                    + "{} of those committed); {} records in Kafka, {} duplicates", committed.size(), writer.failedBeforeCommit(),
                    writer.indeterminate(), writer.indeterminateCommitted(), records.size(), records.size() - committed.size());
        }
    }

    /** An event the writer committed. */
    private record Written(UUID id, String aggregateId) {
    }

    /**
     * One thread committing outbox transactions of 1-5 events over 10 aggregates until stopped, and
     * carrying on through database outages: a transaction that fails before COMMIT is rolled back, one
     * whose COMMIT fails has an unknown outcome, resolved by asking the database whether its events
     * exist. One thread, so commit order is the order of the list.
     */
    private static final class Writer implements AutoCloseable {
        private final TestDatabase db;
        private final Outbox outbox;
        private final List<Written> committed = new ArrayList<>();
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private final AtomicInteger failedBeforeCommit = new AtomicInteger();
        private final AtomicInteger indeterminate = new AtomicInteger();
        private final AtomicInteger indeterminateCommitted = new AtomicInteger();
        private final Thread thread;

        Writer(TestDatabase db, Outbox outbox) {
            this.db = db;
            this.outbox = outbox;
            thread = new Thread(this::run, "test-restart-writer");
            thread.start();
        }

        private void run() {
            SplittableRandom random = new SplittableRandom(5);
            try {
                for (int tx = 0; running.get(); tx++) {
                    List<Written> events = new ArrayList<>();
                    for (int i = 0, size = 1 + random.nextInt(5); i < size; i++) {
                        events.add(new Written(UUID.randomUUID(), "o-" + random.nextInt(10)));
                    }
                    if (commit(events, tx)) {
                        synchronized (committed) {
                            committed.addAll(events);
                        }
                    }
                    Thread.sleep(5);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (Throwable t) {
                failure.set(t);
            }
        }

        /** True when the transaction committed. */
        private boolean commit(List<Written> events, int tx) throws InterruptedException {
            boolean commitSent = false;
            try (Connection c = db.connect()) {
                c.setAutoCommit(false);
                for (Written w : events) {
                    outbox.append(c, OutboxEvent.builder().id(w.id()).aggregateType("order").aggregateId(w.aggregateId())
                            .type("Changed").payload("tx-" + tx).build());
                }
                commitSent = true;
                c.commit();
                return true;
            } catch (SQLException | dev.outboxbridge.outbox.OutboxException e) { // an append fails as OutboxException
                if (!commitSent) {
                    failedBeforeCommit.incrementAndGet();
                    Thread.sleep(50); // the server is down or recovering
                    return false;
                }
                indeterminate.incrementAndGet();
                boolean done = resolve(events);
                if (done) {
                    indeterminateCommitted.incrementAndGet();
                }
                return done;
            }
        }

        /** Asks the database (until it answers, bounded) whether the events of a transaction whose COMMIT failed exist. */
        private boolean resolve(List<Written> events) throws InterruptedException {
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (true) {
                try (Connection c = db.connect();
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
                        throw new IllegalStateException("The database did not answer within " + TIMEOUT + " after a failed COMMIT", e);
                    }
                    Thread.sleep(100);
                }
            }
        }

        int committedCount() {
            synchronized (committed) {
                return committed.size();
            }
        }

        int failedBeforeCommit() {
            return failedBeforeCommit.get();
        }

        int indeterminate() {
            return indeterminate.get();
        }

        int indeterminateCommitted() {
            return indeterminateCommitted.get();
        }

        void assertHealthy() {
            if (failure.get() != null) {
                throw new AssertionError("the writer failed", failure.get());
            }
        }

        /** Stops writing and returns every committed event in commit order. */
        List<Written> stop() throws InterruptedException {
            close();
            assertHealthy();
            synchronized (committed) {
                return List.copyOf(committed);
            }
        }

        @Override
        public void close() throws InterruptedException {
            running.set(false);
            thread.join(TIMEOUT.toMillis());
            if (thread.isAlive()) {
                thread.interrupt();
                thread.join(10_000);
            }
        }
    }
}
