package dev.outboxbridge.spring;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TopicReader;
import dev.outboxbridge.testsupport.BrokerProcess;
import dev.outboxbridge.testsupport.ChildJvm;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.transaction.annotation.Transactional;

/**
 * {@code spring.kafka.ssl.bundle} against a broker whose only client listener is TLS (a certificate generated for
 * this run, trusted only through the bundle's trust store): the embedded relay publishes, stores its position and
 * checks its topics over TLS, and the inbox consumer consumes over TLS, both configured by nothing but Boot's
 * {@code spring.kafka.*} and {@code spring.ssl.bundle.*}.
 */
@ExtendWith(OutboxBridgeExtension.class)
class SslBundleIT {

    private static final String PASSWORD = "bundle-Secret-71";
    private static final String TOPIC_PREFIX = "tls.outbox.event.";
    private static final String TOPIC = TOPIC_PREFIX + "order";
    private static final String CONSUMER = "billing";
    private static final Duration WAIT = Duration.ofSeconds(90);

    @TempDir
    static Path dir;

    private static TestCertificates certificates;
    private static BrokerProcess broker;
    private static ChildJvm brokerJvm;

    @BeforeAll
    static void startBrokerWithOnlyATlsClientListener() throws Exception {
        certificates = TestCertificates.generate(dir.resolve("pki"), PASSWORD);
        broker = BrokerProcess.format(dir.resolve("kafka"), Map.of(),
                new BrokerProcess.Tls(certificates.brokerKeystore(), PASSWORD), List.of());
        assertThat(broker.clientSecurityProtocol()).isEqualTo("SSL");
        brokerJvm = broker.start(0);
        broker.awaitReady(WAIT);
        try (Admin admin = Admin.create(tlsClient())) {
            admin.createTopics(List.of(new NewTopic(TOPIC, Optional.of(2), Optional.empty()),
                    new NewTopic(CONSUMER + ".dlt", Optional.of(1), Optional.empty()))).all().get(60, TimeUnit.SECONDS);
        }
    }

    @AfterAll
    static void stopBroker() throws InterruptedException {
        if (brokerJvm != null) {
            brokerJvm.kill();
        }
    }

    /** The test's own TLS client settings (a trust store file): to create topics and read what was published. */
    private static Properties tlsClient() {
        Properties p = TopicReader.committedReader(broker.bootstrapServers());
        p.put("security.protocol", "SSL");
        p.put("ssl.truststore.type", "PKCS12");
        p.put("ssl.truststore.location", certificates.truststore().toString());
        p.put("ssl.truststore.password", PASSWORD);
        return p;
    }

    @Test
    void theEmbeddedRelayAndTheInboxConsumerReachATlsOnlyBrokerThroughTheSslBundle(TestDatabase db) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE orders (id text PRIMARY KEY)");
            st.execute("CREATE TABLE invoice (order_id text PRIMARY KEY)");
        }
        Map<String, Object> p = TestApplications.database(db);
        p.put("spring.kafka.bootstrap-servers", broker.bootstrapServers());
        p.put("spring.kafka.security.protocol", "SSL");
        p.put("spring.ssl.bundle.jks.kafka.truststore.location", "file:" + certificates.truststore());
        p.put("spring.ssl.bundle.jks.kafka.truststore.password", PASSWORD);
        p.put("spring.ssl.bundle.jks.kafka.truststore.type", "PKCS12");
        p.put("spring.kafka.ssl.bundle", "kafka");
        p.put("outbox.topic-prefix", TOPIC_PREFIX);
        p.put("outbox.relay.enabled", "true");
        p.put("outbox.relay.name", "tls-relay");
        p.put("outbox.relay.slot-name", db.uniqueName("slot"));
        p.put("outbox.relay.publication-name", db.uniqueName("pub"));
        p.put("outbox.relay.properties.ha.lease.ms", "1000");
        p.put("outbox.inbox.consumers[" + CONSUMER + "].topics", TOPIC);
        p.put("outbox.inbox.consumers[" + CONSUMER + "].handler", "billingHandler");
        try (ConfigurableApplicationContext app = TestApplications.run(TlsShopApp.class, p)) {
            Orders orders = app.getBean(Orders.class);
            for (int i = 0; i < 5; i++) {
                orders.place("o-" + i);
            }
            await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM invoice") == 5);
        }
        List<ConsumerRecord<byte[], byte[]>> records = TopicReader.readAtLeast(tlsClient(), TOPIC, 5, WAIT);
        assertThat(records).extracting(r -> new String(r.key(), UTF_8))
                .containsExactlyInAnyOrder("o-0", "o-1", "o-2", "o-3", "o-4");
    }

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class TlsShopApp {
        @Bean
        Orders orders(JdbcTemplate jdbc, SpringOutbox outbox) {
            return new Orders(jdbc, outbox);
        }

        @Bean
        InboxHandler billingHandler(JdbcTemplate jdbc) {
            return (event, connection) -> jdbc.update("INSERT INTO invoice (order_id) VALUES (?)", event.key());
        }
    }

    static class Orders {
        private final JdbcTemplate jdbc;
        private final SpringOutbox outbox;

        Orders(JdbcTemplate jdbc, SpringOutbox outbox) {
            this.jdbc = jdbc;
            this.outbox = outbox;
        }

        @Transactional
        public void place(String id) {
            jdbc.update("INSERT INTO orders (id) VALUES (?)", id);
            outbox.append(OutboxEvent.of("order", id, "OrderPlaced", "{}"));
        }
    }
}
