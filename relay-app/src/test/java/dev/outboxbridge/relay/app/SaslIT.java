package dev.outboxbridge.relay.app;

import dev.outboxbridge.relay.ProcessSettings;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testsupport.BrokerProcess;
import dev.outboxbridge.testsupport.ChildJvm;
import dev.outboxbridge.testsupport.RelayRole;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kafka security settings pass through to every client the project creates: the relay (a separate
 * process configured by environment variables, as in production) and the inbox consumer work
 * against a broker whose client listener requires SASL/PLAIN, and no secret reaches the relay's log.
 */
@ExtendWith(OutboxBridgeExtension.class)
class SaslIT {

    private static final String RELAY_SECRET = "relay-kafka-Secret-42";
    private static final String CONSUMER_SECRET = "billing-kafka-Secret-43";

    @TempDir
    Path dir;

    private static String jaas(String user, String password) {
        return "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"" + user + "\" password=\"" + password + "\";";
    }

    private static Map<String, String> saslClient(String user, String password) {
        return Map.of("security.protocol", "SASL_PLAINTEXT", "sasl.mechanism", "PLAIN", "sasl.jaas.config", jaas(user, password));
    }

    @Test
    void relayAndConsumerWorkAgainstASaslBrokerAndNoSecretIsLogged(TestDatabase shop, TestDatabase billing) throws Exception {
        BrokerProcess broker = BrokerProcess.format(dir.resolve("kafka"), Map.of("admin", "admin-secret", "relay", RELAY_SECRET,
                "billing", CONSUMER_SECRET));
        ChildJvm brokerJvm = broker.start(0);
        ChildJvm relay = null;
        try {
            broker.awaitReady(Duration.ofSeconds(90));
            String topicPrefix = "sasl.outbox.event.";
            String topic = topicPrefix + "order";
            Map<String, Object> admin = new HashMap<>(saslClient("admin", "admin-secret"));
            admin.put("bootstrap.servers", broker.bootstrapServers());
            try (Admin a = Admin.create(admin)) {
                a.createTopics(List.of(new NewTopic(topic, Optional.of(2), Optional.empty()),
                        new NewTopic("billing.dlt", Optional.of(1), Optional.empty()))).all().get(60, TimeUnit.SECONDS);
            }

            Map<String, String> settings = ProcessSettings.of(shop, broker.bootstrapServers(), topicPrefix);
            RelayRole.provision(shop, settings);
            String dbPassword = settings.get("database.password");
            saslClient("relay", RELAY_SECRET).forEach((k, v) -> settings.put("kafka.producer." + k, v));
            Map<String, String> env = RelayConfig.toEnvironment(settings);
            env.put("OUTBOX_LOG_LEVEL", "DEBUG");
            Path relayLog = dir.resolve("relay.log");
            relay = ChildJvm.start("relay", "dev.outboxbridge.relay.app.RelayMain", List.of(), env, relayLog, "256m");
            String slot = settings.get("slot.name");
            await().atMost(Duration.ofSeconds(90)).until(() ->
                    shop.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?", slot) == 1);

            Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(topicPrefix).build());
            try (Connection c = shop.connect()) {
                c.setAutoCommit(false);
                for (int i = 0; i < 20; i++) {
                    outbox.append(c, OutboxEvent.of("order", "o-" + (i % 4), "OrderPlaced", "{\"n\":" + i + "}"));
                }
                c.commit();
            }

            try (Connection c = billing.connect(); var s = c.createStatement()) {
                s.execute("CREATE TABLE applied (event_id uuid PRIMARY KEY)");
            }
            Map<String, Object> kafka = new HashMap<>(saslClient("billing", CONSUMER_SECRET));
            kafka.put("bootstrap.servers", broker.bootstrapServers());
            kafka.put("group.id", "billing-sasl");
            try (InboxConsumer consumer = InboxConsumer.builder()
                    .consumerName("billing")
                    .kafkaProperties(kafka)
                    .topics(List.of(topic))
                    .dataSource(billing.dataSource())
                    .handler((event, tx) -> {
                        try (var ps = tx.prepareStatement("INSERT INTO applied VALUES (?)")) {
                            ps.setObject(1, event.id());
                            ps.executeUpdate();
                        }
                    })
                    .build()) {
                consumer.start();
                await().atMost(Duration.ofSeconds(90)).until(() -> billing.count("SELECT count(*) FROM applied") == 20);
            }

            assertThat(relay.isAlive()).as("relay still running").isTrue();
            assertThat(relay.terminate(Duration.ofSeconds(40))).isIn(0, 143);
            relay = null;
            String log = Files.readString(relayLog, StandardCharsets.UTF_8);
            assertThat(log).as("relay log").contains("Relay '" + ProcessSettings.NAME + "' running")
                    .doesNotContain(RELAY_SECRET).doesNotContain(dbPassword);
        } finally {
            if (relay != null) {
                relay.kill();
            }
            brokerJvm.kill();
        }
    }
}
