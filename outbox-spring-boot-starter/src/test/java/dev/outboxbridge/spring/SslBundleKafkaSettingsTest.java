package dev.outboxbridge.spring;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;
import javax.net.ssl.SSLEngine;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.security.ssl.DefaultSslEngineFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.ssl.SslAutoConfiguration;
import org.springframework.boot.kafka.autoconfigure.KafkaAutoConfiguration;
import org.springframework.boot.test.context.assertj.AssertableApplicationContext;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.jdbc.datasource.DriverManagerDataSource;
import org.springframework.transaction.PlatformTransactionManager;

/**
 * {@code spring.kafka.ssl.bundle}: the bundle Boot would give Spring Kafka's clients, taken from Boot's SslBundles,
 * reaches the inbox consumers' and the embedded relay's Kafka settings as PEM settings that Kafka's own
 * {@link DefaultSslEngineFactory} builds a client TLS engine from; what cannot be mapped is refused at start-up.
 * Nothing connects here; a TLS broker: {@code SslBundleIT}.
 */
class SslBundleKafkaSettingsTest {

    private static final String PASSWORD = "bundle-Secret-61";

    @TempDir
    static Path dir;

    private static TestCertificates certificates;

    @BeforeAll
    static void generate() throws Exception {
        certificates = TestCertificates.generate(dir.resolve("pki"), PASSWORD);
    }

    private static ApplicationContextRunner runner() {
        DriverManagerDataSource nowhere = new DriverManagerDataSource("jdbc:postgresql://127.0.0.1:1/none");
        return new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(SslAutoConfiguration.class, KafkaAutoConfiguration.class,
                        OutboxAutoConfiguration.class, InboxAutoConfiguration.class, RelayAutoConfiguration.class))
                .withBean(javax.sql.DataSource.class, () -> nowhere)
                .withBean(PlatformTransactionManager.class, () -> new DataSourceTransactionManager(nowhere))
                .withPropertyValues("spring.datasource.url=jdbc:postgresql://127.0.0.1:1/none",
                        "spring.datasource.username=shop", "spring.kafka.bootstrap-servers=localhost:1",
                        "spring.kafka.security.protocol=SSL", "outbox.relay.enabled=true", "outbox.relay.auto-startup=false",
                        "spring.ssl.bundle.jks.kafka.keystore.location=file:" + certificates.clientKeystore(),
                        "spring.ssl.bundle.jks.kafka.keystore.password=" + PASSWORD,
                        "spring.ssl.bundle.jks.kafka.keystore.type=PKCS12",
                        "spring.ssl.bundle.jks.kafka.truststore.location=file:" + certificates.truststore(),
                        "spring.ssl.bundle.jks.kafka.truststore.password=" + PASSWORD,
                        "spring.ssl.bundle.jks.kafka.truststore.type=PKCS12",
                        "spring.ssl.bundle.jks.kafka.options.enabled-protocols=TLSv1.3");
    }

    @Test
    void theBundlesStoresReachTheRelayAndTheInboxConsumersAsSettingsKafkaBuildsATlsEngineFrom() {
        runner().withPropertyValues("spring.kafka.ssl.bundle=kafka").run(context -> {
            assertThat(context).hasNotFailed();
            Map<String, String> relay = context.getBean(SpringRelay.class).config().producerOverrides();
            assertThat(relay).containsEntry("security.protocol", "SSL").containsEntry("ssl.keystore.type", "PEM")
                    .containsEntry("ssl.truststore.type", "PEM").containsEntry("ssl.enabled.protocols", "TLSv1.3");
            assertThat(relay.get("ssl.keystore.key")).startsWith("-----BEGIN PRIVATE KEY-----");
            assertThat(relay.get("ssl.truststore.certificates")).startsWith("-----BEGIN CERTIFICATE-----");
            assertThat(context.getBean(SpringRelay.class).config().describe()).doesNotContain("BEGIN PRIVATE KEY");
            assertKafkaBuildsAClientEngine(relay);

            @SuppressWarnings("unchecked")
            Function<Map<String, String>, Map<String, Object>> inbox = context.getBean(
                    InboxAutoConfiguration.KAFKA_SETTINGS_BEAN, Function.class);
            Map<String, Object> consumer = inbox.apply(Map.of());
            assertThat(consumer).containsEntry("security.protocol", "SSL").containsEntry("ssl.keystore.type", "PEM")
                    .containsEntry("ssl.keystore.key", relay.get("ssl.keystore.key"))
                    .containsEntry("ssl.truststore.certificates", relay.get("ssl.truststore.certificates"));
            Map<String, String> strings = new LinkedHashMap<>();
            consumer.forEach((k, v) -> {
                if (k.startsWith("ssl.")) {
                    strings.put(k, String.valueOf(v));
                }
            });
            assertKafkaBuildsAClientEngine(strings);
        });
    }

    @Test
    void aMissingBundleIsRefusedNamingIt() {
        runner().withPropertyValues("spring.kafka.ssl.bundle=nope")
                .run(context -> assertFailure(context, "nope"));
    }

    @Test
    void aBundleAndTlsStoresInTheKafkaPropertiesAreRefusedNotMerged() {
        runner().withPropertyValues("spring.kafka.ssl.bundle=kafka",
                "spring.kafka.properties.ssl.truststore.location=/etc/kafka/truststore.p12").run(context -> assertFailure(
                        context, "spring.kafka.ssl.bundle=kafka and the Kafka setting ssl.truststore.location both configure"
                                + " the TLS stores", "Fix: keep one"));
    }

    private static void assertKafkaBuildsAClientEngine(Map<String, String> settings) throws Exception {
        Map<String, String> ssl = new HashMap<>();
        settings.forEach((k, v) -> {
            if (k.startsWith("ssl.")) {
                ssl.put(k, v);
            }
        });
        // parsed as a Kafka client parses its settings (types, defaults), then given to Kafka's own engine factory
        Map<String, Object> parsed = new ConfigDef().withClientSslSupport().parse(ssl);
        try (DefaultSslEngineFactory factory = new DefaultSslEngineFactory()) {
            factory.configure(parsed);
            SSLEngine engine = factory.createClientSslEngine("localhost", 9093, "https");
            assertThat(engine.getUseClientMode()).isTrue();
            assertThat(factory.keystore().aliases().hasMoreElements()).as("the client key").isTrue();
            assertThat(factory.truststore().size()).isEqualTo(1);
        }
    }

    private static void assertFailure(AssertableApplicationContext context, String... parts) {
        assertThat(context).hasFailed();
        StringBuilder messages = new StringBuilder();
        for (Throwable t = context.getStartupFailure(); t != null; t = t.getCause()) {
            messages.append(t.getMessage()).append('\n');
        }
        for (String part : parts) {
            assertThat(messages.toString()).contains(part);
        }
        assertThat(messages.toString()).doesNotContain(PASSWORD);
    }
}
