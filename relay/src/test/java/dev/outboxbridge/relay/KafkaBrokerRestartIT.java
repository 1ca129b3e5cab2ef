package dev.outboxbridge.relay;

import dev.outboxbridge.testsupport.SequenceWriter;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TopicReader;
import dev.outboxbridge.testsupport.BrokerProcess;
import dev.outboxbridge.testsupport.ChildJvm;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** The only Kafka broker is killed (kill -9) under load and restarted on its log directory: the running relay carries on. */
@ExtendWith(OutboxBridgeExtension.class)
class KafkaBrokerRestartIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(120);

    @TempDir
    Path dir;

    @Test
    void continuesAfterKafkaBrokerRestart(TestDatabase db) throws Exception {
        BrokerProcess broker = BrokerProcess.format(dir.resolve("kafka"), Map.of(), List.of());
        ChildJvm brokerJvm = broker.start(0);
        String topicPrefix = "restart.outbox.event.";
        String topic = topicPrefix + "order";
        SequenceWriter writer = null;
        try {
            broker.awaitReady(Duration.ofSeconds(90));
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers()))) {
                admin.createTopics(List.of(new NewTopic(topic, Optional.of(3), Optional.empty()))).all().get(60, TimeUnit.SECONDS);
            }
            Map<String, String> settings = ProcessSettings.of(db, broker.bootstrapServers(), topicPrefix);
            Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(topicPrefix).build());
            try (Relay relay = Relay.create(RelayConfig.of(settings))) {
                relay.start();
                writer = new SequenceWriter(db, outbox);
                await().atMost(TIMEOUT).until(() -> relay.publishedCount() >= 200);

                brokerJvm.kill(); // kill -9 of the only broker, with sends in flight
                Thread.sleep(2_000);
                brokerJvm = broker.start(1); // the same log directory, listeners and cluster id
                broker.awaitReady(Duration.ofSeconds(90));

                SequenceWriter w = writer;
                int after = w.committedCount() + 200;
                await().atMost(TIMEOUT).until(() -> w.committedCount() >= after);
                List<UUID> all = writer.stop();
                await().atMost(TIMEOUT).until(() -> relay.publishedCount() >= all.size());
                assertThat(relay.state()).as("the relay carried on; failure: %s", relay.failure()).isEqualTo(Relay.State.RUNNING);
                List<ConsumerRecord<byte[], byte[]>> records = TopicReader.readAtLeast(TopicReader.committedReader(broker.bootstrapServers()),
                        topic, all.size(), TIMEOUT);
                SequenceWriter.assertFirstOccurrencesInOrder(records);
                Set<UUID> seen = new HashSet<>();
                records.forEach(r -> seen.add(UUID.fromString(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8))));
                assertThat(seen).as("lost").containsAll(all);
                assertThat(seen).as("phantoms").hasSameSizeAs(new HashSet<>(all));
            }
        } finally {
            if (writer != null) {
                writer.close();
            }
            brokerJvm.kill();
        }
    }
}
