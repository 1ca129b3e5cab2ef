package dev.outboxbridge.relay.app;

import dev.outboxbridge.relay.Load;
import dev.outboxbridge.relay.RelaySettings;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.relay.internal.Preflight;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Several relays on one slot (ha.enabled, the default): exactly one publishes; a standby takes over
 * when the leader is killed, paused or cut off from PostgreSQL, and the one that lost the lease
 * publishes nothing more. Relays run as real processes where the fault is a signal.
 */
@ExtendWith(OutboxBridgeExtension.class)
class RelayHighAvailabilityIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(120);
    private static final String LEADER_LINE = "is the leader for slot";

    @TempDir
    Path dir;

    @Test
    void standbyTakesOverAfterLeaderKill(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        Map<String, String> settings = RelaySettings.of(db, kafka, dir);
        settings.put(RelayConfig.FIRST_START_SNAPSHOT, "false"); // takeovers of the stream: the slot exists before the load
        new Preflight(RelayConfig.of(settings)).run();
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
        Path logA = dir.resolve(testName() + "-a.log");
        Path logB = dir.resolve(testName() + "-b.log");
        Process a = RelayProcessIT.startRelayProcess(settings, logA);
        Process b = RelayProcessIT.startRelayProcess(settings, logB);
        try (Load load = new Load(db, outbox, "order", 8)) {
            await().atMost(TIMEOUT).until(() -> leaderSince(logA).isPresent() || leaderSince(logB).isPresent());
            boolean aLeads = leaderSince(logA).isPresent();
            Process leader = aLeads ? a : b;
            Path standbyLog = aLeads ? logB : logA;
            await().atMost(TIMEOUT).until(() -> kafka.readAll(topic, 200, Duration.ofSeconds(2)).size() >= 200);
            assertThat(leaderSince(standbyLog)).as("the standby does not publish while the leader lives").isEmpty();

            Instant killed = Instant.now();
            leader.destroyForcibly(); // SIGKILL
            assertThat(leader.waitFor(30, TimeUnit.SECONDS)).isTrue();
            await().atMost(TIMEOUT).until(() -> leaderSince(standbyLog).isPresent());
            Instant tookOver = leaderSince(standbyLog).orElseThrow();
            System.out.printf("standbyTakesOverAfterLeaderKill: the standby led %d ms after the kill -9%n",
                    Duration.between(killed, tookOver).toMillis());
            assertThat(tookOver).as("the standby leads only after the leader died").isAfter(killed);
            int before = load.committedCount();
            await().atMost(TIMEOUT).until(() -> kafka.readAll(topic, before, Duration.ofSeconds(2)).size() >= before);
            List<UUID> committed = load.stop();
            assertAllPublishedInOrder(kafka, topic, committed); // while the new leader runs
        } finally {
            a.destroyForcibly();
            b.destroyForcibly();
            copyLogs(logA, logB);
        }
    }

    @Test
    void pausedLeaderIsFencedAndPublishesNothingAfterItWakes(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        Map<String, String> settings = RelaySettings.of(db, kafka, dir);
        settings.put(RelayConfig.FIRST_START_SNAPSHOT, "false"); // takeovers of the stream: the slot exists before the load
        new Preflight(RelayConfig.of(settings)).run();
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
        Path logA = dir.resolve(testName() + "-a.log");
        Path logB = dir.resolve(testName() + "-b.log");
        Map<String, String> debug = Map.of("OUTBOX_LOG_LEVEL", "DEBUG"); // one line per batch, to see what was published when
        Process a = RelayProcessIT.startRelayProcess(settings, logA, debug);
        await().atMost(TIMEOUT).until(() -> leaderSince(logA).isPresent());
        Process b = RelayProcessIT.startRelayProcess(settings, logB, debug);
        List<UUID> committed;
        try (Load load = new Load(db, outbox, "order", 8)) {
            await().atMost(TIMEOUT).until(() -> kafka.readAll(topic, 200, Duration.ofSeconds(2)).size() >= 200);
            signal("STOP", a); // a zombie leader: alive, holding its connections, doing nothing
            await().atMost(TIMEOUT).until(() -> leaderSince(logB).isPresent());
            int before = load.committedCount();
            await().atMost(TIMEOUT).until(() -> kafka.readAll(topic, before, Duration.ofSeconds(2)).size() >= before);
            Instant woke = Instant.now();
            signal("CONT", a);
            assertThat(a.waitFor(60, TimeUnit.SECONDS)).as("the woken leader stops").isTrue();
            String outputA = Files.readString(logA, StandardCharsets.UTF_8);
            assertThat(a.exitValue()).as("exit code of the fenced relay; log:\n%s", outputA).isEqualTo(RelayMain.EXIT_FAILED);
            assertThat(outputA).contains("lost the lease");
            assertThat(outputA).as("the leader's DEBUG batch lines, with the time of their last permission check")
                    .contains(" published (last permitted at ");
            assertThat(batchesPublishedAfter(outputA, woke)).as("batches the fenced leader published after it woke").isEmpty();
            int more = load.committedCount() + 50;
            await().atMost(TIMEOUT).until(() -> kafka.readAll(topic, more, Duration.ofSeconds(2)).size() >= more);
            committed = load.stop();
            assertAllPublishedInOrder(kafka, topic, committed);
        } finally {
            signal("CONT", a);
            a.destroyForcibly();
            b.destroy();
            b.waitFor(60, TimeUnit.SECONDS);
            b.destroyForcibly();
            copyLogs(logA, logB);
        }
        // the fenced leader stored no position over the new leader's: the next relay resumes cleanly
        try (Relay next = Relay.create(RelayConfig.of(settings))) {
            next.start();
            List<UUID> last = new ArrayList<>();
            try (Connection c = db.connect()) {
                c.setAutoCommit(false);
                last.add(outbox.append(c, dev.outboxbridge.outbox.OutboxEvent.of("order", "a-1", "Happened", "after-failover")));
                c.commit();
            }
            await().atMost(TIMEOUT).until(() -> ids(kafka.readAll(topic, committed.size() + 1, Duration.ofSeconds(2))).containsAll(last));
            assertThat(next.state()).isEqualTo(Relay.State.RUNNING);
        }
    }

    @Test
    void standbyTakesOverWhenLeaderLosesItsDatabaseConnection(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        Map<String, String> settingsA = RelaySettings.of(db, kafka, dir);
        settingsA.put(RelayConfig.NAME, "ha-a");
        Map<String, String> settingsB = new HashMap<>(settingsA);
        settingsB.put(RelayConfig.NAME, "ha-b");
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
        List<UUID> committed;
        AtomicBoolean overlap = new AtomicBoolean();
        try (Relay a = Relay.create(RelayConfig.of(settingsA)); Relay b = Relay.create(RelayConfig.of(settingsB))) {
            a.start();
            await().atMost(TIMEOUT).until(() -> a.state() == Relay.State.RUNNING);
            b.start();
            assertThat(b.state()).isEqualTo(Relay.State.STANDBY);
            AtomicReference<Boolean> watching = new AtomicReference<>(true);
            Thread watcher = new Thread(() -> { // samples both states: never both publishing
                while (watching.get()) {
                    if (a.state() == Relay.State.RUNNING && b.state() == Relay.State.RUNNING) {
                        overlap.set(true);
                    }
                    Thread.onSpinWait();
                }
            }, "test-overlap-watcher");
            watcher.start();
            try (Load load = new Load(db, outbox, "order", 8)) {
                await().atMost(TIMEOUT).until(() -> a.publishedCount() >= 100);
                try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ha-a-lease'")) {
                    ps.executeQuery().close(); // the leader's lease session dies: the lock is free at once
                }
                await().atMost(TIMEOUT).until(() -> a.state() == Relay.State.FAILED);
                assertThat(a.failure()).get().extracting(Throwable::getMessage).asString().contains("lost the lease")
                        .contains("another relay may take over");
                await().atMost(TIMEOUT).until(() -> b.state() == Relay.State.RUNNING);
                int before = load.committedCount();
                await().atMost(TIMEOUT).until(() -> kafka.readAll(topic, before, Duration.ofSeconds(2)).size() >= before);
                committed = load.stop();
            } finally {
                watching.set(false);
                watcher.join();
            }
            assertThat(overlap).as("two relays publishing at once").isFalse();
            assertAllPublishedInOrder(kafka, topic, committed);
            assertThat(b.publishedCount()).isPositive();
        }
    }

    private static void assertAllPublishedInOrder(TestKafka kafka, String topic, List<UUID> committed) {
        // a count of records is no sign of completeness: duplicates after a takeover count too, so wait (up to the
        // timeout) until every committed id is there, reading to the end offsets each time
        Set<UUID> expected = new HashSet<>(committed);
        try {
            await().atMost(TIMEOUT).until(() -> new HashSet<>(ids(kafka.readAll(topic, Duration.ofSeconds(2)))).containsAll(expected));
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            // reported below, with the ids that are missing
        }
        List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, Duration.ofSeconds(10));
        assertThat(ids(records)).as("lost").containsAll(committed);
        assertThat(new HashSet<>(ids(records))).as("phantoms").hasSameSizeAs(new HashSet<>(committed));
        Map<String, int[]> last = new HashMap<>(); // per aggregate: the last (tx, index) first seen
        Set<UUID> seen = new HashSet<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            UUID id = UUID.fromString(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8));
            if (!seen.add(id)) {
                continue; // a duplicate after a failover: allowed, first occurrences carry the order
            }
            String[] parts = new String(r.value(), StandardCharsets.UTF_8).replace("\"", "").split("-"); // tx-N-i
            int[] position = {Integer.parseInt(parts[1]), Integer.parseInt(parts[2])};
            int[] previous = last.put(new String(r.key(), StandardCharsets.UTF_8), position);
            if (previous != null) {
                assertThat(previous[0] < position[0] || previous[0] == position[0] && previous[1] < position[1])
                        .as("order of aggregate %s: %s after %s", new String(r.key(), StandardCharsets.UTF_8),
                                position[0] + "-" + position[1], previous[0] + "-" + previous[1]).isTrue();
            }
        }
    }

    private static List<UUID> ids(List<ConsumerRecord<byte[], byte[]>> records) {
        return records.stream().map(r -> UUID.fromString(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8)))
                .toList();
    }

    /** When the relay writing this log became the leader, if it did. */
    private static Optional<Instant> leaderSince(Path log) throws IOException {
        if (!Files.exists(log)) {
            return Optional.empty();
        }
        return Files.readAllLines(log, StandardCharsets.UTF_8).stream().filter(l -> l.contains(LEADER_LINE)).findFirst()
                .map(RelayHighAvailabilityIT::timestamp);
    }

    /**
     * Batch lines whose last permission check (sends and marks happen only after one passes) began after {@code after}.
     * Not the line's own timestamp: a process paused between its last check and the log line logs it late.
     */
    private static List<String> batchesPublishedAfter(String log, Instant after) {
        return log.lines().filter(l -> l.contains("PublishingChangeConsumer") && l.contains(" published (last permitted at "))
                .filter(l -> !l.contains(" 0 published")).filter(l -> lastPermitted(l).isAfter(after)).toList();
    }

    private static Instant lastPermitted(String batchLine) {
        String marker = "(last permitted at ";
        int start = batchLine.indexOf(marker) + marker.length();
        return Instant.parse(batchLine.substring(start, batchLine.indexOf(')', start)));
    }

    private static Instant timestamp(String logLine) {
        return OffsetDateTime.parse(logLine.substring(0, logLine.indexOf(' '))).toInstant();
    }

    private static void signal(String signal, Process p) throws Exception {
        new ProcessBuilder("kill", "-" + signal, String.valueOf(p.pid())).inheritIO().start().waitFor(10, TimeUnit.SECONDS);
    }

    private static String testName() {
        return StackWalker.getInstance().walk(f -> f.skip(1).findFirst().orElseThrow().getMethodName());
    }

    private static void copyLogs(Path... logs) throws IOException {
        for (Path log : logs) {
            if (Files.exists(log)) {
                Files.copy(log, Path.of("target", "RelayHighAvailabilityIT-" + log.getFileName()),
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }
}
