package dev.outboxbridge.dockertests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.demo.DemoRun;
import dev.outboxbridge.demo.HistoryChecker;
import dev.outboxbridge.demo.RelayProcesses;
import dev.outboxbridge.demo.Workload;
import dev.outboxbridge.demo.Workload.WrittenEvent;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.testkit.DockerServers;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import dev.outboxbridge.testsupport.RelayRole;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.output.Slf4jLogConsumer;
import org.testcontainers.containers.wait.strategy.Wait;

/**
 * The relay image as it is deployed, a container next to the testkit's PostgreSQL and Kafka
 * containers on their Docker network, configured by {@code OUTBOX_RELAY_*} variables and running as
 * the least-privilege role of the docs. A writer commits under load (paced, rollbacks and savepoints
 * included); once the relay has published some of it and while the writer commits, the relay container
 * gets a {@code docker kill} (SIGKILL: no shutdown, no last flush of its position), the writer carries
 * on, and a new container starts on the same slot and the same position topic. The history
 * checker proves nothing lost, nothing invented, per-aggregate order kept (first occurrences in
 * Kafka in version order, effects applied in commit order) and every effect applied exactly once:
 * the only slack the at-least-once contract allows is duplicates in Kafka, which the inbox absorbs.
 */
@ExtendWith(OutboxBridgeExtension.class)
class RelayContainerRestartIT {

    private static final Logger LOG = LoggerFactory.getLogger(RelayContainerRestartIT.class);
    /** Written first, until the relay publishes. */
    private static final int EVENTS_BEFORE = 500;
    /** Written from just before the kill on: while the relay dies, while none runs and while the next one starts. */
    private static final int EVENTS_DURING = 1_500;
    private static final int EVENTS_PER_SECOND = 400;
    /** The first relay is killed once the consumer has this many events from it. */
    private static final int PUBLISHED_BEFORE_KILL = 100;
    private static final int OPERATIONS_PORT = 8080;
    private static final Duration RELAY_READY_TIMEOUT = Duration.ofMinutes(2);
    private static final Duration DRAIN_TIMEOUT = Duration.ofMinutes(2);
    /** The leader gauge at 1 in a /metrics scrape (the wait strategy reads the body without its line breaks). */
    private static final Pattern LEADS = Pattern.compile(RelayProcesses.LEADER_GAUGE + "(\\{[^}]*})? 1\\.0");

    @TempDir
    Path workDir;

    @BeforeEach
    void docker() {
        DockerAssumptions.assumeDockerWithImages(DockerAssumptions.RELAY_IMAGE);
    }

    @Test
    void relayContainerKilledUnderLoadAndReplacedLosesNothingAndKeepsOrder(PostgresServer pg, TestKafka ns) throws Exception {
        try (TestDatabase shop = pg.createDatabase("tc_shop").migrateOutbox();
                TestDatabase billing = pg.createDatabase("tc_billing").migrateInbox()) {
            Workload.createSchema(shop.dataSource());
            Billing.createSchema(billing);
            String topicPrefix = ns.prefix() + OutboxConfig.DEFAULT_TOPIC_PREFIX;
            String topic = topicPrefix + Workload.AGGREGATE_TYPE;
            ns.createTopic(topic, 3);
            ns.createTopic(ns.topic(DemoRun.DEAD_LETTER_TOPIC), 1);
            // the relay container reaches the servers by their names on the Docker network, not through the host
            Map<String, String> settings = DemoRun.relaySettings(shop, DockerServers.KAFKA_NETWORK_BOOTSTRAP_SERVERS, topicPrefix,
                    workDir);
            settings.put(RelayConfig.DATABASE_HOSTNAME, DockerServers.POSTGRES_NETWORK_HOST);
            settings.put(RelayConfig.DATABASE_PORT, String.valueOf(DockerServers.POSTGRES_NETWORK_PORT));
            String role = RelayRole.provision(shop, settings);
            ExecutorService writer = Executors.newSingleThreadExecutor(r -> new Thread(r, "docker-test-writer"));
            GenericContainer<?> first = relay(settings, "relay-1");
            GenericContainer<?> second = relay(settings, "relay-2");
            try (HikariDataSource shopPool = DemoRun.pool(shop, "shop", 2);
                    HikariDataSource billingPool = DemoRun.pool(billing, "billing", 4);
                    InboxConsumer consumer = Billing.consumer(billingPool, ns, topic)) {
                consumer.start();
                first.start(); // returns once it leads: the slot exists and it publishes
                Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(topicPrefix).build());
                // two paced runs on one writer thread: the first gets the relay publishing; the second starts once the
                // relay has published, is under way when the relay dies and keeps writing while no relay runs
                Workload before = new Workload(shopPool, outbox,
                        new Workload.Settings(EVENTS_BEFORE, 100, 2, 10, 0.1, 17, EVENTS_PER_SECOND));
                Workload during = new Workload(shopPool, outbox,
                        new Workload.Settings(EVENTS_DURING, 100, 2, 10, 0.1, 18, EVENTS_PER_SECOND));
                Future<?> writingBefore = writer.submit(() -> {
                    before.run(committed -> {
                    });
                    return null;
                });
                await().atMost(DRAIN_TIMEOUT).until(() -> consumer.stats().processed() >= PUBLISHED_BEFORE_KILL);
                Future<?> writingDuring = writer.submit(() -> {
                    during.run(committed -> {
                    });
                    return null;
                });
                await().atMost(DRAIN_TIMEOUT).pollInterval(Duration.ofMillis(10)).until(() -> during.committedCount() > 0);
                first.getDockerClient().killContainerCmd(first.getContainerId()).withSignal("KILL").exec();
                long committedAtKill = before.committedCount() + during.committedCount();
                long duringAtKill = during.committedCount();
                long consumedAtKill = consumer.stats().processed();
                await().atMost(Duration.ofSeconds(30)).until(() -> !first.isRunning());
                Long exitCode = first.getDockerClient().inspectContainerCmd(first.getContainerId()).exec().getState().getExitCodeLong();
                LOG.info("relay-1 killed (SIGKILL, exit code {}) with {} events committed and {} consumed", exitCode,
                        committedAtKill, consumedAtKill);
                first.stop();

                second.start(); // the same slot, and the position the first one stored in Kafka
                LOG.info("relay-2 leads, {} events committed so far", before.committedCount() + during.committedCount());
                writingBefore.get(DRAIN_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
                writingDuring.get(DRAIN_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
                long expected = before.expectedEffects() + during.expectedEffects();
                await().atMost(DRAIN_TIMEOUT).until(() -> consumer.stats().processed() >= expected
                        || consumer.state() == InboxConsumer.State.FAILED || !second.isRunning());
                assertThat(second.isRunning()).as("relay-2 still runs").isTrue();
                assertThat(consumer.state()).as("consumer failure: %s", consumer.failure()).isEqualTo(InboxConsumer.State.RUNNING);
                assertThat(exitCode).as("docker kill sent SIGKILL (128 + 9)").isEqualTo(137L);
                assertThat(duringAtKill).as("the writer was committing when the relay died (paced: %s events take %s s)",
                        EVENTS_DURING, EVENTS_DURING / EVENTS_PER_SECOND).isBetween(1L, EVENTS_DURING - 1L);

                List<WrittenEvent> committed = new ArrayList<>(before.committed());
                committed.addAll(during.committed()); // the order rows carry on: versions stay consecutive per order
                List<UUID> rolledBack = new ArrayList<>(before.rolledBack());
                rolledBack.addAll(during.rolledBack());
                HistoryChecker.Verdict v = HistoryChecker.check(committed, rolledBack, ns.bootstrapServers(),
                        topic, billingPool, DemoRun.EFFECTS_TABLE);
                LOG.info("{} committed, {} records in Kafka ({} duplicates), {} effects applied", v.committed(), v.kafkaRecords(),
                        v.kafkaDuplicates(), v.effectsApplied());
                assertThat(v.committed()).isEqualTo(EVENTS_BEFORE + EVENTS_DURING);
                assertThat(v.lost()).as("L: committed events missing from Kafka").isEmpty();
                assertThat(v.phantoms()).as("P: events in Kafka that never committed").isEmpty();
                assertThat(v.orderViolations()).as("O: first occurrences per aggregate in version order, one partition").isEmpty();
                assertThat(v.effectViolations()).as("X: every effect applied exactly once, duplicates absorbed").isEmpty();
                assertThat(v.effectsApplied()).isEqualTo(EVENTS_BEFORE + EVENTS_DURING);
                assertThat(Billing.applyOrderViolations(billingPool)).as("per order, effects applied in commit order").isEmpty();
            } finally {
                writer.shutdownNow();
                writer.awaitTermination(30, TimeUnit.SECONDS);
                first.stop();
                second.stop();
                RelayRole.dropQuietly(shop, role); // after the relays stopped
            }
        }
    }

    /** A relay container on the servers' network, configured like the deployed sidecar; started by the caller. */
    private static GenericContainer<?> relay(Map<String, String> settings, String name) {
        Map<String, String> env = RelayConfig.toEnvironment(settings);
        env.put(RelayConfig.environmentVariable(RelayConfig.NAME), "docker-" + name);
        return new GenericContainer<>(DockerAssumptions.RELAY_IMAGE)
                .withNetwork(DockerServers.network())
                .withEnv(env)
                .withExposedPorts(OPERATIONS_PORT)
                .withLogConsumer(new Slf4jLogConsumer(LoggerFactory.getLogger("docker." + name)))
                .waitingFor(Wait.forHttp("/metrics").forPort(OPERATIONS_PORT)
                        .forResponsePredicate(body -> LEADS.matcher(body).find())
                        .withStartupTimeout(RELAY_READY_TIMEOUT));
    }
}
