package dev.outboxbridge.dockertests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.demo.DemoRun;
import dev.outboxbridge.demo.HistoryChecker;
import dev.outboxbridge.demo.Workload;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.testkit.DockerServers;
import dev.outboxbridge.testkit.KafkaServer;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole path against the testkit's Testcontainers servers (PostgreSQL and Kafka in Docker
 * containers, reached through their mapped ports): the demo's workload appends with outbox-core
 * (some transactions rolled back, some events undone by savepoints), the embedded relay library
 * publishes from the WAL, the billing service applies through the inbox. The history checker proves
 * nothing lost, nothing invented, per-aggregate order in Kafka and every effect applied once; the
 * ledger proves each order's effects were applied in commit order.
 */
@ExtendWith(OutboxBridgeExtension.class)
class TestcontainersEndToEndIT {

    private static final int EVENTS = 3_000;
    private static final Duration DRAIN_TIMEOUT = Duration.ofMinutes(2);

    @TempDir
    Path workDir;

    @BeforeEach
    void docker() {
        DockerAssumptions.assumeDockerWithImages();
    }

    @Test
    void everyEventAppendedInPostgresContainerIsAppliedOnceInOrderThroughKafkaContainer(PostgresServer pg, KafkaServer kafka,
            TestKafka ns) throws Exception {
        assertThat(DockerServers.selected()).as("the testkit runs its servers in containers").isTrue();
        assertThat(pg.canRestart()).as("a container, not the embedded server").isFalse();
        assertThat(kafka.bootstrapServers()).as("the mapped port the broker advertises").isEqualTo(ns.bootstrapServers());

        try (TestDatabase shop = pg.createDatabase("tc_shop").migrateOutbox();
                TestDatabase billing = pg.createDatabase("tc_billing").migrateInbox()) {
            Workload.createSchema(shop.dataSource());
            Billing.createSchema(billing);
            String topicPrefix = ns.prefix() + OutboxConfig.DEFAULT_TOPIC_PREFIX;
            String topic = topicPrefix + Workload.AGGREGATE_TYPE;
            ns.createTopic(topic, 3);
            ns.createTopic(ns.topic(DemoRun.DEAD_LETTER_TOPIC), 1);
            Map<String, String> settings = DemoRun.relaySettings(shop, ns.bootstrapServers(), topicPrefix, workDir);
            Workload workload;
            try (HikariDataSource shopPool = DemoRun.pool(shop, "shop", 2);
                    HikariDataSource billingPool = DemoRun.pool(billing, "billing", 4);
                    Relay relay = Relay.create(RelayConfig.of(settings));
                    InboxConsumer consumer = Billing.consumer(billingPool, ns, topic)) {
                relay.start(); // returns once the slot exists: every event committed from now on is published
                consumer.start();
                workload = new Workload(shopPool, Outbox.create(OutboxConfig.builder().topicPrefix(topicPrefix).build()),
                        new Workload.Settings(EVENTS, 100, 2, 10, 0.1, 16));
                workload.run(committed -> {
                });
                await().atMost(DRAIN_TIMEOUT).until(() -> consumer.stats().processed() >= workload.expectedEffects()
                        || consumer.state() == InboxConsumer.State.FAILED || relay.state() == Relay.State.FAILED);
                assertThat(relay.state()).as("relay: %s", relay.statusLine()).isEqualTo(Relay.State.RUNNING);
                assertThat(consumer.state()).as("consumer failure: %s", consumer.failure()).isEqualTo(InboxConsumer.State.RUNNING);

                HistoryChecker.Verdict v = HistoryChecker.check(workload.committed(), workload.rolledBack(), ns.bootstrapServers(),
                        topic, billingPool, DemoRun.EFFECTS_TABLE);
                assertThat(v.committed()).isEqualTo(EVENTS);
                assertThat(v.rolledBack()).as("the workload rolled some transactions back").isPositive();
                assertThat(v.lost()).as("L: committed events missing from Kafka").isEmpty();
                assertThat(v.phantoms()).as("P: events in Kafka that never committed").isEmpty();
                assertThat(v.orderViolations()).as("O: per-aggregate order and partition in Kafka").isEmpty();
                assertThat(v.effectViolations()).as("X: effects not applied exactly once").isEmpty();
                assertThat(v.effectsApplied()).isEqualTo(EVENTS);
                assertThat(v.kafkaDuplicates()).as("nothing was restarted, so no duplicate in Kafka").isZero();
                assertThat(Billing.applyOrderViolations(billingPool)).as("per order, effects applied in commit order").isEmpty();
            }
        }
    }
}
