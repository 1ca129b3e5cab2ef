package dev.outboxbridge.relay.app;

import dev.outboxbridge.relay.ProcessSettings;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TopicReader;
import dev.outboxbridge.testsupport.BrokerProcess;
import dev.outboxbridge.testsupport.ChildJvm;
import dev.outboxbridge.testsupport.RelayRole;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kafka TLS and SASL settings pass through to every client the project creates: against a broker
 * whose only client listener is SASL_SSL (TLS with a certificate from a CA generated for this run,
 * plus SASL/PLAIN), the relay process (configured by OUTBOX_RELAY_* environment variables, as in
 * production) publishes, stores its position and checks its topics over TLS, and the inbox consumer
 * consumes, dead-letters and deduplicates over TLS. No secret reaches the relay's log, and a relay
 * that does not trust the broker's certificate stops at start-up, naming the setting and the fix.
 */
@ExtendWith(OutboxBridgeExtension.class)
class TlsIT {

    private static final String STORE_PASSWORD = "store-Secret-51";
    private static final String ADMIN_SECRET = "admin-kafka-Secret-52";
    private static final String RELAY_SECRET = "relay-kafka-Secret-53";
    private static final String CONSUMER_SECRET = "billing-kafka-Secret-54";
    private static final String TOPIC_PREFIX = "tls.outbox.event.";
    private static final String TOPIC = TOPIC_PREFIX + "order";
    private static final String DEAD_LETTER_TOPIC = "billing.dlt";
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    static Path dir;

    private static ThrowawayPki pki;
    private static BrokerProcess broker;
    private static ChildJvm brokerJvm;

    @BeforeAll
    static void startBrokerWithOnlyASaslSslClientListener() throws Exception {
        pki = ThrowawayPki.generate(dir.resolve("pki"), STORE_PASSWORD);
        broker = BrokerProcess.format(dir.resolve("kafka"), Map.of("admin", ADMIN_SECRET, "relay", RELAY_SECRET, "billing", CONSUMER_SECRET),
                new BrokerProcess.Tls(pki.brokerKeystore(), STORE_PASSWORD), List.of());
        assertThat(broker.clientSecurityProtocol()).isEqualTo("SASL_SSL");
        brokerJvm = broker.start(0);
        broker.awaitReady(Duration.ofSeconds(90));
        try (Admin admin = Admin.create(new HashMap<>(client("admin", ADMIN_SECRET, pki.truststore())))) {
            admin.createTopics(List.of(new NewTopic(TOPIC, Optional.of(2), Optional.empty()),
                    new NewTopic(DEAD_LETTER_TOPIC, Optional.of(1), Optional.empty()))).all().get(60, TimeUnit.SECONDS);
        }
    }

    @AfterAll
    static void stopBroker() throws InterruptedException {
        if (brokerJvm != null) {
            brokerJvm.kill();
        }
    }

    private static String jaas(String user, String password) {
        return "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"" + user + "\" password=\"" + password + "\";";
    }

    /** SASL_SSL client settings: SASL/PLAIN over TLS, trusting the certificates in {@code truststore}. */
    private static Map<String, Object> client(String user, String password, Path truststore) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("bootstrap.servers", broker.bootstrapServers());
        m.put("security.protocol", "SASL_SSL");
        m.put("sasl.mechanism", "PLAIN");
        m.put("sasl.jaas.config", jaas(user, password));
        m.put("ssl.truststore.type", "PKCS12");
        m.put("ssl.truststore.location", truststore.toString());
        m.put("ssl.truststore.password", STORE_PASSWORD);
        return m;
    }

    /** The relay's settings: as the demo's, least-privilege database role, Kafka security through kafka.producer.*. */
    private static Map<String, String> relaySettings(TestDatabase shop, Path workDir, Path truststore) throws Exception {
        Map<String, String> settings = ProcessSettings.of(shop, broker.bootstrapServers(), TOPIC_PREFIX);
        RelayRole.provision(shop, settings);
        client("relay", RELAY_SECRET, truststore).forEach((k, v) -> {
            if (!k.equals("bootstrap.servers")) {
                settings.put(RelayConfig.PRODUCER_PREFIX + k, String.valueOf(v));
            }
        });
        return settings;
    }

    /** Starts RelayMain as its own process, settings in OUTBOX_RELAY_* variables, Kafka clients' configurations in its log. */
    private static ChildJvm startRelay(Map<String, String> settings, Path log) throws Exception {
        Map<String, String> env = RelayConfig.toEnvironment(settings);
        env.put("OUTBOX_LOG_LEVEL", "DEBUG");
        env.put("JAVA_TOOL_OPTIONS", "-Dlogback.configurationFile=relay-client-configs-logback.xml");
        return ChildJvm.start("relay", "dev.outboxbridge.relay.app.RelayMain", List.of(), env, log, "256m");
    }

    @Test
    void relayAndConsumerWorkOverSaslSsl(TestDatabase shop, TestDatabase billing) throws Exception {
        Path workDir = Files.createDirectories(dir.resolve("relay-" + UUID.randomUUID()));
        Map<String, String> settings = relaySettings(shop, workDir, pki.truststore());
        String dbPassword = settings.get(RelayConfig.DATABASE_PASSWORD);
        Path relayLog = workDir.resolve("relay.log");
        ChildJvm relay = startRelay(settings, relayLog);
        try {
            String slot = settings.get(RelayConfig.SLOT_NAME);
            await().atMost(Duration.ofSeconds(90)).until(() -> !relay.isAlive()
                    || shop.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ? AND active", slot) == 1);
            assertThat(relay.isAlive()).as("relay process running; log: %s", relayLog).isTrue();

            int events = 40;
            List<UUID> published = new ArrayList<>();
            UUID poison;
            Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(TOPIC_PREFIX).build());
            try (Connection c = shop.connect()) {
                c.setAutoCommit(false);
                for (int i = 0; i < events; i++) {
                    published.add(outbox.append(c, OutboxEvent.of("order", "o-" + (i % 4), "OrderPlaced", "{\"n\":" + i + "}")));
                }
                // on its own aggregate: the consumer dead-letters it, which parks only that key
                poison = outbox.append(c, OutboxEvent.of("order", "o-poison", "OrderFromTheFuture", "{}"));
                c.commit();
            }

            try (Connection c = billing.connect(); var s = c.createStatement()) {
                s.execute("CREATE TABLE applied (event_id uuid PRIMARY KEY)");
            }
            InboxHandler handler = (event, tx) -> {
                if (event.eventType().equals("OrderFromTheFuture")) {
                    throw FatalEventException.unknownEventType(event);
                }
                try (var ps = tx.prepareStatement("INSERT INTO applied VALUES (?)")) {
                    ps.setObject(1, event.id());
                    ps.executeUpdate();
                }
            };
            try (InboxConsumer consumer = consumer(billing, "billing-tls", handler)) {
                consumer.start();
                await().atMost(WAIT).until(() -> billing.count("SELECT count(*) FROM applied") == events
                        && consumer.stats().deadLettered() == 1);
            }
            assertThat(appliedIds(billing)).as("no loss: every committed event applied once").containsExactlyInAnyOrderElementsOf(published);
            List<ConsumerRecord<byte[], byte[]>> deadLetters = readAll(DEAD_LETTER_TOPIC, 1);
            assertThat(deadLetters).hasSize(1);
            assertThat(new String(deadLetters.get(0).headers().lastHeader("outbox.dlt.event.id").value(), StandardCharsets.UTF_8))
                    .as("the dead-letter producer (built from the consumer's TLS settings) sent the poison event")
                    .isEqualTo(poison.toString());

            // a second consumer group of the same inbox reads everything again: every event is a duplicate
            try (InboxConsumer replay = consumer(billing, "billing-tls-replay", (event, tx) -> {
                throw new AssertionError("handler ran again for " + event.id());
            })) {
                replay.start();
                await().atMost(WAIT).until(() -> replay.stats().lastCommittedOffsets().values().stream()
                        .mapToLong(Long::longValue).sum() == events + 1);
                assertThat(replay.stats().processed()).as("events applied again").isZero();
                assertThat(replay.stats().duplicates()).as("redelivered events skipped by the inbox").isEqualTo(events + 1);
            }
            assertThat(billing.count("SELECT count(*) FROM applied")).isEqualTo(events);

            assertThat(relay.isAlive()).as("relay still running").isTrue();
            assertThat(relay.terminate(Duration.ofSeconds(40))).as("relay exit code after SIGTERM").isZero();

            // the position store's producer wrote the relay's position over TLS (the relay knows no other way to the broker)
            String positionTopic = RelayConfig.of(settings).getString(RelayConfig.OFFSET_STORAGE_TOPIC);
            List<ConsumerRecord<byte[], byte[]>> positions = readAll(positionTopic, 1);
            assertThat(positions).as("positions in %s", positionTopic)
                    .anySatisfy(r -> assertThat(new String(r.key(), StandardCharsets.UTF_8))
                            .contains(RelayConfig.of(settings).offsetServerName()));

            String log = Files.readString(relayLog, StandardCharsets.UTF_8);
            assertThat(log).as("relay log").contains("Relay '" + ProcessSettings.NAME + "' running");
            assertNoSecret(log, dbPassword);
            assertThat(log).as("no TLS or SASL failure of any relay client")
                    .doesNotContain("SSL handshake failed").doesNotContain("terminated during authentication")
                    .doesNotContain("Authentication failed");
            Map<String, Map<String, String>> clients = kafkaClientConfigurations(log);
            assertThat(clients.keySet()).as("Kafka clients the relay created (type/client.id)")
                    .contains("AdminClientConfig/" + ProcessSettings.NAME + "-admin", "ProducerConfig/" + ProcessSettings.NAME + "-producer",
                            "AdminClientConfig/outbox-relay-position-admin")
                    .anyMatch(id -> id.startsWith("ConsumerConfig/")) // the position store's
                    .filteredOn(id -> id.startsWith("ProducerConfig/")).hasSizeGreaterThanOrEqualTo(2); // the relay's and the position store's
            clients.forEach((id, config) -> {
                assertThat(config.get("security.protocol")).as("security.protocol of %s", id).isEqualTo("SASL_SSL");
                assertThat(config.get("ssl.truststore.location")).as("ssl.truststore.location of %s", id)
                        .isEqualTo(pki.truststore().toString());
                assertThat(config.get("sasl.mechanism")).as("sasl.mechanism of %s", id).isEqualTo("PLAIN");
            });
        } finally {
            if (relay.isAlive()) {
                relay.kill();
            }
            RelayRole.dropQuietly(shop, settings.get(RelayConfig.DATABASE_USER));
        }
    }

    @Test
    void untrustedBrokerCertificateFailsAtStartupWithFix(TestDatabase shop) throws Exception {
        Path workDir = Files.createDirectories(dir.resolve("relay-" + UUID.randomUUID()));
        Map<String, String> settings = relaySettings(shop, workDir, pki.untrustedTruststore());
        String log = relayFailingAtStartup(shop, settings, workDir);
        assertThat(log).as("relay log").contains("Relay could not start: Cannot reach Kafka at " + broker.bootstrapServers())
                .contains("SslAuthenticationException: SSL handshake failed (root cause: ")
                .contains("Fix: the relay does not trust the brokers' certificate. Point kafka.producer.ssl.truststore.location");
        assertNoSecret(log, settings.get(RelayConfig.DATABASE_PASSWORD));
    }

    @Test
    void wrongTruststorePasswordFailsAtStartupWithFix(TestDatabase shop) throws Exception {
        Path workDir = Files.createDirectories(dir.resolve("relay-" + UUID.randomUUID()));
        Map<String, String> settings = relaySettings(shop, workDir, pki.truststore());
        String wrongPassword = "not-the-Store-password-55";
        settings.put(RelayConfig.PRODUCER_PREFIX + "ssl.truststore.password", wrongPassword);
        String log = relayFailingAtStartup(shop, settings, workDir);
        assertThat(log).as("relay log").contains("Relay could not start: Cannot create a Kafka client from the kafka.producer.* settings")
                .contains("Fix: check that kafka.producer.ssl.truststore.location names a readable truststore")
                .contains("kafka.producer.ssl.truststore.password")
                .doesNotContain(wrongPassword);
        assertNoSecret(log, settings.get(RelayConfig.DATABASE_PASSWORD));
    }

    /** Runs the relay process, which must exit on its own with {@link RelayMain#EXIT_FAILED} before running; returns its log. */
    private static String relayFailingAtStartup(TestDatabase shop, Map<String, String> settings, Path workDir) throws Exception {
        Path relayLog = workDir.resolve("relay.log");
        ChildJvm relay = startRelay(settings, relayLog);
        try {
            assertThat(relay.waitFor(Duration.ofSeconds(90))).as("relay stopped on its own; log: %s", relayLog).isTrue();
            assertThat(relay.exitValue()).as("exit code").isEqualTo(RelayMain.EXIT_FAILED);
        } finally {
            if (relay.isAlive()) {
                relay.kill();
            }
            RelayRole.dropQuietly(shop, settings.get(RelayConfig.DATABASE_USER));
        }
        String log = Files.readString(relayLog, StandardCharsets.UTF_8);
        assertThat(log).as("relay log").doesNotContain("Relay '" + ProcessSettings.NAME + "' running");
        return log;
    }

    private static void assertNoSecret(String log, String dbPassword) {
        assertThat(log).as("relay log").doesNotContain(RELAY_SECRET).doesNotContain(STORE_PASSWORD).doesNotContain(dbPassword);
    }

    private InboxConsumer consumer(TestDatabase billing, String groupId, InboxHandler handler) {
        Map<String, Object> kafka = client("billing", CONSUMER_SECRET, pki.truststore());
        kafka.put("group.id", groupId);
        return InboxConsumer.builder()
                .consumerName("billing")
                .kafkaProperties(kafka)
                .topics(List.of(TOPIC))
                .deadLetterTopic(DEAD_LETTER_TOPIC)
                .dataSource(billing.dataSource())
                .handler(handler)
                .build();
    }

    private static Set<UUID> appliedIds(TestDatabase billing) throws Exception {
        Set<UUID> ids = new HashSet<>();
        try (Connection c = billing.connect(); var s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT event_id FROM applied")) {
            while (rs.next()) {
                ids.add(rs.getObject(1, UUID.class));
            }
        }
        return ids;
    }

    /** All records of {@code topic} (read over SASL_SSL as admin) to its end offsets, once there are at least {@code atLeast}. */
    private static List<ConsumerRecord<byte[], byte[]>> readAll(String topic, int atLeast) {
        Properties props = new Properties();
        props.putAll(client("admin", ADMIN_SECRET, pki.truststore()));
        return TopicReader.readAtLeast(props, topic, atLeast, WAIT);
    }

    /**
     * The configurations Kafka clients print when they are created ("ProducerConfig values:" and one
     * tab-indented "key = value" line per setting), by "type/client.id".
     */
    static Map<String, Map<String, String>> kafkaClientConfigurations(String log) {
        Map<String, Map<String, String>> clients = new LinkedHashMap<>();
        Map<String, String> current = null;
        String clientType = null;
        for (String line : log.split("\n")) {
            int at = line.indexOf("Config values:");
            if (at >= 0) {
                String type = line.substring(line.lastIndexOf(' ', at) + 1, at + "Config".length());
                current = List.of("ProducerConfig", "ConsumerConfig", "AdminClientConfig").contains(type) ? new HashMap<>() : null;
                if (current != null) {
                    clientType = type;
                }
            } else if (current != null && line.startsWith("\t")) {
                String entry = line.substring(1).stripTrailing();
                int eq = entry.indexOf(" =");
                String key = eq < 0 ? entry : entry.substring(0, eq);
                String value = eq < 0 ? "" : entry.substring(eq + 2).strip();
                current.put(key, value);
                if (key.equals("client.id")) {
                    clients.put(clientType + "/" + value, current);
                }
            } else {
                current = null;
            }
        }
        return clients;
    }
}
