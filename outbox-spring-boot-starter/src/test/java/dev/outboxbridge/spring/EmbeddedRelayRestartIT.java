package dev.outboxbridge.spring;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import dev.outboxbridge.testkit.TopicReader;
import io.micrometer.core.instrument.MeterRegistry;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.health.registry.HealthContributorRegistry;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * The embedded relay's in-process restart in a real Spring Boot application on the testkit's PostgreSQL and Kafka.
 * Its lease session is terminated under it (as when the database connection is cut): by default
 * ({@code outbox.relay.restart.enabled} unset) the health contributor reports {@code restarting} (OUT_OF_SERVICE, not
 * DOWN, with the failure and the next attempt), the relay stays live, and the same application publishes on, every
 * event included; with {@code outbox.relay.restart.enabled=false} it reports {@code failed} (DOWN), as before.
 */
@ExtendWith(OutboxBridgeExtension.class)
class EmbeddedRelayRestartIT {

    private static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    void theEmbeddedRelayRestartsItselfAfterAFailureAndItsHealthSaysSo(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = prepare(db, kafka);
        String name = "shop-restart";
        Map<String, Object> properties = properties(db, kafka, name);
        properties.put("outbox.relay.properties.restart.backoff.initial.ms", "1500");
        try (ConfigurableApplicationContext app = TestApplications.run(EmbeddedRelayIT.ShopApp.class, properties)) {
            SpringRelay springRelay = app.getBean(SpringRelay.class);
            assertThat(springRelay.config().getBoolean(RelayConfig.RESTART_ENABLED)).as("the starter's default").isTrue();
            Relay relay = springRelay.relay().orElseThrow();
            await().atMost(WAIT).until(() -> "leader".equals(health(app).getDetails().get("state")));
            EmbeddedRelayIT.Orders orders = app.getBean(EmbeddedRelayIT.Orders.class);
            for (int i = 0; i < 5; i++) {
                orders.place("before-" + i, 0, false);
            }
            await().atMost(WAIT).until(() -> relay.publishedCount() >= 5);

            assertThat(terminateLeaseSession(db, name)).isEqualTo(1);
            // the restart is pending for at least the backoff (1.2-1.5 s)
            Health restarting = await().atMost(WAIT).pollInterval(Duration.ofMillis(10))
                    .until(() -> health(app), h -> "restarting".equals(h.getDetails().get("state")));
            assertThat(restarting.getStatus()).as("not DOWN: the relay restarts itself").isEqualTo(Status.OUT_OF_SERVICE);
            assertThat(restarting.getDetails()).containsKeys("failure", "nextAttemptAt", "failuresInARow");
            assertThat((String) restarting.getDetails().get("failure")).contains("lost the lease");
            assertThat(relay.isLive()).as("live: no reason for Kubernetes to kill the application").isTrue();
            for (int i = 0; i < 5; i++) {
                orders.place("during-" + i, 0, false); // appended while the relay restarts
            }

            await().atMost(WAIT).until(() -> "leader".equals(health(app).getDetails().get("state")));
            assertThat(health(app).getStatus()).isEqualTo(Status.UP);
            assertThat(health(app).getDetails()).doesNotContainKeys("failure", "nextAttemptAt");
            assertThat(springRelay.relay()).as("the same relay, restarted in the process").containsSame(relay);
            for (int i = 0; i < 5; i++) {
                orders.place("after-" + i, 0, false);
            }
            Set<String> expected = new TreeSet<>();
            for (String phase : new String[] {"before-", "during-", "after-"}) {
                for (int i = 0; i < 5; i++) {
                    expected.add(phase + i);
                }
            }
            await().atMost(WAIT).pollInterval(Duration.ofMillis(500)).until(() -> keys(kafka, topic).containsAll(expected));
            assertThat(app.getBean(MeterRegistry.class).get("outbox.relay.restarts").tag("relay", name).counter().count())
                    .isGreaterThanOrEqualTo(1.0);
        }
    }

    @Test
    void withRestartDisabledAFailedEmbeddedRelayIsDown(TestDatabase db, TestKafka kafka) throws Exception {
        prepare(db, kafka);
        String name = "shop-norestart";
        Map<String, Object> properties = properties(db, kafka, name);
        properties.put("outbox.relay.restart.enabled", "false");
        try (ConfigurableApplicationContext app = TestApplications.run(EmbeddedRelayIT.ShopApp.class, properties)) {
            assertThat(app.getBean(SpringRelay.class).config().getBoolean(RelayConfig.RESTART_ENABLED)).isFalse();
            await().atMost(WAIT).until(() -> "leader".equals(health(app).getDetails().get("state")));
            assertThat(terminateLeaseSession(db, name)).isEqualTo(1);
            await().atMost(WAIT).until(() -> "failed".equals(health(app).getDetails().get("state")));
            assertThat(health(app).getStatus()).isEqualTo(Status.DOWN);
            assertThat((String) health(app).getDetails().get("failure")).contains("lost the lease");
            assertThat(health(app).getDetails()).doesNotContainKey("nextAttemptAt");
        }
    }

    private static Set<String> keys(TestKafka kafka, String topic) {
        Set<String> keys = new TreeSet<>();
        for (ConsumerRecord<byte[], byte[]> r : TopicReader.readToEnd(TopicReader.committedReader(kafka.bootstrapServers()),
                topic, WAIT)) {
            keys.add(new String(r.key(), UTF_8));
        }
        return keys;
    }

    private static String prepare(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE orders (id text NOT NULL, seq int NOT NULL, PRIMARY KEY (id, seq))");
        }
        return topic;
    }

    private static Map<String, Object> properties(TestDatabase db, TestKafka kafka, String name) {
        Map<String, Object> p = TestApplications.database(db);
        p.put("spring.kafka.bootstrap-servers", kafka.bootstrapServers());
        p.put("outbox.topic-prefix", kafka.prefix() + "outbox.event.");
        p.put("outbox.relay.enabled", "true");
        p.put("outbox.relay.name", name);
        p.put("outbox.relay.slot-name", db.uniqueName("slot"));
        p.put("outbox.relay.publication-name", db.uniqueName("pub"));
        p.put("outbox.relay.properties.offset.storage.topic", kafka.topic("relay-offsets"));
        p.put("outbox.relay.properties.ha.lease.ms", "1000");
        return p;
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

    private static Health health(ConfigurableApplicationContext app) {
        return (Health) ((HealthIndicator) app.getBean(HealthContributorRegistry.class).getContributor("outboxRelay"))
                .health();
    }
}
