package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The in-process restart ({@code restart.enabled=true}) on one PostgreSQL server: the relay's lease session is
 * terminated under it (as when its database connection is cut), the relay fences itself, and the same {@link Relay}
 * object restarts: RESTARTING (live, not ready, the failure and the next attempt reported), then a fresh run that takes
 * the lease again and publishes every event committed before, during and after, in order per aggregate.
 */
@ExtendWith(OutboxBridgeExtension.class)
class RelayRestartIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @Test
    @DisplayName("relay restarts in its process after losing its lease, nothing lost")
    void restartsInItsProcessAfterLosingItsLease(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        Map<String, String> settings = RelaySettings.of(db, kafka, kafka.prefix() + "outbox.event.");
        String name = "relay-restart-lease"; // short: application_name keeps 63 characters
        settings.put(RelayConfig.NAME, name);
        settings.put(RelayConfig.HA_ENABLED, "true");
        settings.put(RelayConfig.HA_LEASE_MS, "1000");
        settings.put(RelayConfig.RESTART_ENABLED, "true");
        settings.put(RelayConfig.RESTART_BACKOFF_INITIAL_MS, "1500");
        settings.put(RelayConfig.RESTART_BACKOFF_MAX_MS, "2000");
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        RestartEvents events = new RestartEvents(Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.")
                .build()), db::connect);
        try (Relay relay = Relay.builder(RelayConfig.of(settings)).meterRegistry(registry).build()) {
            relay.start();
            await().atMost(TIMEOUT).until(() -> relay.state() == Relay.State.RUNNING);
            Counter restarts = registry.get("outbox.relay.restarts").tag("relay", name).counter();
            assertThat(restarts.count()).isZero();
            events.commit(30);
            await().atMost(TIMEOUT).until(() -> relay.publishedCount() >= 30);

            assertThat(terminateLeaseSession(db, name)).as("the lease's session was found and terminated").isEqualTo(1);
            // the restart is pending for at least the backoff (1.2-1.5 s): long enough to look at it
            Relay.Restart pending = await().atMost(TIMEOUT).pollInterval(Duration.ofMillis(10))
                    .until(relay::pendingRestart, Optional::isPresent).orElseThrow();
            assertThat(relay.state()).isEqualTo(Relay.State.RESTARTING);
            assertThat(pending.failure().getMessage()).contains("lost the lease");
            assertThat(relay.failure()).as("failure() reports the last failure while restarting").containsSame(pending.failure());
            assertThat(relay.isLive()).as("live while a restart is pending").isTrue();
            assertThat(relay.isReady()).as("not ready until the next run publishes or stands by").isFalse();
            assertThat(relay.statusLine()).contains("RESTARTING").contains("lost the lease").contains("next attempt at");
            events.commit(30); // committed while the relay restarts: the next run reads them from the slot

            await().atMost(TIMEOUT).until(() -> relay.state() == Relay.State.RUNNING);
            assertThat(restarts.count()).isGreaterThanOrEqualTo(1.0);
            assertThat(relay.failure()).as("a run started again").isEmpty();
            assertThat(relay.isReady()).isTrue();
            int total = events.commit(30);
            await().atMost(TIMEOUT).pollInterval(Duration.ofMillis(500)).until(() -> events.allPublished(kafka.readAll(topic, TIMEOUT)));
            events.assertEveryEventInOrder(kafka.readAll(topic, TIMEOUT));
            assertThat(relay.publishedCount()).as("counted over both runs").isGreaterThanOrEqualTo(total);
            assertThat(registry.get("outbox.relay.leader").tag("relay", name).gauge().value())
                    .as("the gauge reads the new run").isEqualTo(1.0);
        }
        assertThat(Thread.getAllStackTraces().keySet()).as("no thread of the relay after close()")
                .noneMatch(t -> t.isAlive() && t.getName().endsWith(name) && t.getName().startsWith("outbox-relay-"));
        assertThat(registry.getMeters()).as("the relay's meters after close()").isEmpty();
    }

    /** Terminates the relay's lease session (application_name {@code <relay.name>-lease}); returns how many it found. */
    private static int terminateLeaseSession(TestDatabase db, String relayName) throws Exception {
        try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ?")) {
            ps.setString(1, relayName + "-lease");
            int n = 0;
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    n += rs.getBoolean(1) ? 1 : 0;
                }
            }
            return n;
        }
    }
}
