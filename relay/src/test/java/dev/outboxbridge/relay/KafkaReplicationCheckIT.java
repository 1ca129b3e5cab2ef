package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * kafka.replication.check on the testkit's single broker, a development setup whose topics have replication factor 1 and
 * min.insync.replicas=1: refuse stops the relay before anything is sent to such a topic, warn publishes and says what to
 * fix, once per topic.
 */
@ExtendWith(OutboxBridgeExtension.class)
class KafkaReplicationCheckIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(90);

    @TempDir
    Path dir;

    private final ListAppender<ILoggingEvent> log = new ListAppender<>();
    private final Logger checkLogger = (Logger) LoggerFactory.getLogger("dev.outboxbridge.relay.internal.ReplicationCheck");

    @BeforeEach
    void captureLog() {
        log.start();
        checkLogger.addAppender(log);
    }

    @AfterEach
    void releaseLog() {
        checkLogger.detachAppender(log);
    }

    private static UUID write(TestDatabase db, TestKafka kafka, String aggregateType) throws Exception {
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            UUID id = outbox.append(c, OutboxEvent.of(aggregateType, "o-1", "Placed", "1"));
            c.commit();
            return id;
        }
    }

    private Map<String, String> settings(TestDatabase db, TestKafka kafka, String check) {
        Map<String, String> m = RelayIT.relaySettings(db, kafka, dir);
        m.put(RelayConfig.KAFKA_REPLICATION_CHECK, check);
        // a position topic of this test's own: the refusal below is about the target topic
        m.put(RelayConfig.OFFSET_STORAGE, RelayConfig.OFFSET_STORAGE_FILE);
        m.put(RelayConfig.HA_ENABLED, "false");
        return m;
    }

    @Test
    void refuseStopsTheRelayBeforeAnythingIsSentToAnUnderReplicatedTargetTopic(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 1); // replication factor 1 on the single broker
        try (Relay relay = Relay.create(RelayConfig.of(settings(db, kafka, "refuse")))) {
            relay.start();
            UUID id = write(db, kafka, "order");
            assertThat(relay.awaitTermination(TIMEOUT)).isTrue();
            assertThat(relay.state()).isEqualTo(Relay.State.FAILED);
            assertThat(relay.failure()).get().extracting(Throwable::getMessage).asString()
                    .contains("'" + topic + "'").contains("replication factor 1").contains("min.insync.replicas=1")
                    .contains("Fix:").contains("kafka.replication.check=warn");
            assertThat(relay.isReady()).isFalse();
            assertThat(kafka.readAll(topic, Duration.ofSeconds(5))).as("nothing sent to the refused topic (event %s)", id).isEmpty();
        }
    }

    @Test
    void refuseStopsTheStartWhenThePositionTopicIsUnderReplicated(TestDatabase db, TestKafka kafka) throws Exception {
        String positionTopic = kafka.topic("positions");
        kafka.admin().createTopics(List.of(new NewTopic(positionTopic, Optional.of(1), Optional.empty())
                .configs(Map.of("cleanup.policy", "compact")))).all().get(30, TimeUnit.SECONDS);
        Map<String, String> m = settings(db, kafka, "refuse");
        m.put(RelayConfig.OFFSET_STORAGE, RelayConfig.OFFSET_STORAGE_KAFKA);
        m.put(RelayConfig.OFFSET_STORAGE_TOPIC, positionTopic);
        try (Relay relay = Relay.create(RelayConfig.of(m))) {
            assertThatThrownBy(relay::start).isInstanceOf(RelayException.class)
                    .hasMessageContaining("position topic (offset.storage.topic) '" + positionTopic + "'")
                    .hasMessageContaining("replication factor 1").hasMessageContaining("Fix:");
            assertThat(relay.state()).isEqualTo(Relay.State.FAILED);
        } finally {
            kafka.admin().deleteTopics(List.of(positionTopic)).all().get(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void warnPublishesToASingleBrokerAndSaysWhatToFixOncePerTopic(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 1);
        try (Relay relay = Relay.create(RelayConfig.of(settings(db, kafka, "warn")))) {
            relay.start();
            write(db, kafka, "order");
            write(db, kafka, "order");
            assertThat(kafka.readAll(topic, 2, TIMEOUT)).hasSize(2);
            assertThat(relay.state()).isEqualTo(Relay.State.RUNNING);
            List<String> warnings = log.list.stream().filter(e -> e.getLevel() == Level.WARN).map(ILoggingEvent::getFormattedMessage)
                    .filter(msg -> msg.contains("'" + topic + "'")).toList();
            assertThat(warnings).hasSize(1);
            assertThat(warnings.get(0)).contains("replication factor 1").contains("min.insync.replicas=1")
                    .contains("Fix:").contains("kafka.replication.check");
        }
    }

    @Test
    void offChecksNothing(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 1);
        try (Relay relay = Relay.create(RelayConfig.of(settings(db, kafka, "off")))) {
            relay.start();
            write(db, kafka, "order");
            assertThat(kafka.readAll(topic, 1, TIMEOUT)).hasSize(1);
            assertThat(log.list).noneMatch(e -> e.getFormattedMessage().contains(topic));
        }
    }
}
