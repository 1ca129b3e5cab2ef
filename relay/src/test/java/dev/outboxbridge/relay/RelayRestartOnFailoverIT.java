package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.PostgresStandbyPair;
import dev.outboxbridge.testkit.TestKafka;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The in-process restart ({@code restart.enabled=true}, what the Spring Boot starter's embedded relay runs with) through
 * a PostgreSQL failover on {@link PostgresStandbyPair}: kill -9 of the primary and promotion of the standby. The same
 * {@link Relay} object, in the same process, stops (the primary moved), restarts, resolves the new primary from the
 * host list and resumes from the synchronized failover slot: every event committed before and after the promotion is
 * in Kafka, in order per aggregate. RelayPostgresFailoverIT shows the same with a process restart (the sidecar's way).
 */
@ExtendWith(OutboxBridgeExtension.class)
class RelayRestartOnFailoverIT {

    private static final Logger LOG = LoggerFactory.getLogger(RelayRestartOnFailoverIT.class);
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @Test
    @DisplayName("embedded relay restarts in its process after a standby promotion, nothing lost (failover slot)")
    void restartsInItsProcessAfterAStandbyPromotion(TestKafka kafka) throws Exception {
        try (PostgresStandbyPair pair = PostgresStandbyPair.start()) {
            String db = pair.createDatabase("restart");
            pair.migrateOutbox(db);
            String topic = kafka.prefix() + "outbox.event.order";
            kafka.createTopic(topic, 3);
            Map<String, String> settings = new HashMap<>();
            String name = "relay-restart-failover";
            settings.put(RelayConfig.NAME, name);
            settings.put(RelayConfig.DATABASE_HOSTNAME, pair.hostList());
            settings.put(RelayConfig.DATABASE_PORT, String.valueOf(pair.primaryPort()));
            settings.put(RelayConfig.DATABASE_DBNAME, db);
            settings.put(RelayConfig.DATABASE_USER, pair.primary().adminUser());
            settings.put(RelayConfig.DATABASE_PASSWORD, pair.primary().adminPassword());
            settings.put(RelayConfig.SLOT_NAME, "slot_" + db);
            settings.put(RelayConfig.PUBLICATION_NAME, "pub_" + db);
            settings.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, kafka.bootstrapServers());
            settings.put(RelayConfig.TOPIC_PREFIX, kafka.prefix() + "outbox.event.");
            settings.put(RelayConfig.HA_ENABLED, "false"); // one relay; the lease's session would end with the primary anyway
            settings.put(RelayConfig.HEARTBEAT_INTERVAL_MS, "1000");
            settings.put(RelayConfig.RESTART_ENABLED, "true");
            settings.put(RelayConfig.RESTART_BACKOFF_INITIAL_MS, "200");
            settings.put(RelayConfig.RESTART_BACKOFF_MAX_MS, "2000");
            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            RestartEvents events = new RestartEvents(Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix()
                    + "outbox.event.").build()), () -> pair.connect(db));
            try (Relay relay = Relay.builder(RelayConfig.of(settings)).meterRegistry(registry).build()) {
                relay.start();
                Counter restarts = registry.get("outbox.relay.restarts").tag("relay", name).counter();
                events.commit(150);
                await().atMost(TIMEOUT).until(() -> relay.publishedCount() >= 50);
                await().atMost(TIMEOUT).until(() -> registry.get("outbox.relay.slot.failover.ready").gauge().value() == 1.0);
                pair.awaitSlotSynced(settings.get(RelayConfig.SLOT_NAME), TIMEOUT);
                int before = events.commit(50); // some of them still unpublished when the primary dies

                pair.killPrimary();
                Duration promotion = pair.promoteStandby();
                long promoted = System.nanoTime();
                LOG.info("Primary killed with {} events committed ({} published); standby promoted in {} ms", before,
                        relay.publishedCount(), promotion.toMillis());
                events.commit(50); // on the new primary at once, while the relay still reads the dead one or restarts
                LOG.info("50 events committed on the new primary while the relay was {}", relay.state());

                await().atMost(TIMEOUT).until(() -> restarts.count() >= 1 && relay.state() == Relay.State.RUNNING);
                int total = events.commit(100); // on the new primary, with the same relay
                await().atMost(TIMEOUT).pollInterval(Duration.ofMillis(500))
                        .until(() -> events.allPublished(kafka.readAll(topic, TIMEOUT)));
                var records = kafka.readAll(topic, TIMEOUT);
                events.assertEveryEventInOrder(records);
                assertThat(relay.state()).as("failure: %s", relay.failure()).isEqualTo(Relay.State.RUNNING);
                assertThat(relay.publishedCount()).as("counted over the runs").isGreaterThanOrEqualTo(total);
                LOG.info("{} committed events, {} records in Kafka ({} sent again), {} restart(s); all published {} ms after the"
                        + " promotion", total, records.size(), records.size() - total, (long) restarts.count(),
                        Duration.ofNanos(System.nanoTime() - promoted).toMillis());
            }
        }
    }
}
