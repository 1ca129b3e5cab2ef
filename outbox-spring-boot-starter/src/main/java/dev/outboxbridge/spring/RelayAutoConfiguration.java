package dev.outboxbridge.spring;

import dev.outboxbridge.relay.RelayConfig;
import io.micrometer.core.instrument.MeterRegistry;
import java.sql.SQLException;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.apache.kafka.common.config.ConfigException;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingClass;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;
import org.springframework.util.ClassUtils;

/**
 * The relay embedded in the application ({@link SpringRelay}), when {@code outbox.relay.enabled=true} and
 * {@code outbox-relay} is on the class path. Its settings ({@link RelayProperties}) are resolved and checked when
 * the bean is created, so a bad setting fails the context's refresh with the relay's own message; it connects
 * only when the context starts. The application's {@code MeterRegistry} and {@code Clock} beans are used (the
 * {@code @Primary} one of several; several without a primary fail the start).
 */
@AutoConfiguration(after = { OutboxAutoConfiguration.class, OutboxMigrationsAutoConfiguration.class }, afterName = {
        "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration",
        "org.springframework.boot.autoconfigure.ssl.SslAutoConfiguration",
        "org.springframework.boot.kafka.autoconfigure.KafkaAutoConfiguration" })
@ConditionalOnClass(name = "dev.outboxbridge.relay.Relay")
@ConditionalOnBooleanProperty("outbox.relay.enabled")
@EnableConfigurationProperties({ RelayProperties.class, OutboxProperties.class })
public class RelayAutoConfiguration {

    /** The bean holding the relay producer's {@code spring.kafka.*} connection settings (a user bean of this name replaces it). */
    public static final String KAFKA_SETTINGS_BEAN = "outboxRelayKafkaSettings";

    @Bean
    @ConditionalOnMissingBean
    SpringRelay outboxSpringRelay(RelayProperties relay, OutboxProperties outbox, ObjectProvider<DataSource> dataSources,
            Environment environment, @Qualifier(KAFKA_SETTINGS_BEAN) Supplier<Map<String, String>> kafkaSettings,
            ObjectProvider<MeterRegistry> meterRegistries, ObjectProvider<Clock> clocks) {
        EmbeddedRelaySettings.DataSourceAddress address = address(dataSources.getIfUnique(), environment);
        Map<String, String> settings = EmbeddedRelaySettings.resolve(relay, outbox, address, kafkaSettings.get());
        RelayConfig config;
        try {
            config = RelayConfig.of(settings);
        } catch (ConfigException e) {
            throw new IllegalStateException("The embedded relay's settings (outbox.relay.*, with the application's"
                    + " spring.datasource.*, spring.kafka.* and outbox.*) are invalid: " + e.getMessage(), e);
        }
        // the @Primary one of several; several without one fail the start naming them (no silent private default)
        return new SpringRelay(config, meterRegistries.getIfAvailable(), clocks.getIfAvailable(), relay.isAutoStartup());
    }

    /** The application's database: its Hikari pool's URL and credentials, else {@code spring.datasource.*}. */
    private static EmbeddedRelaySettings.DataSourceAddress address(DataSource dataSource, Environment environment) {
        if (dataSource != null && ClassUtils.isPresent("com.zaxxer.hikari.HikariDataSource",
                RelayAutoConfiguration.class.getClassLoader())) {
            EmbeddedRelaySettings.DataSourceAddress hikari = Hikari.address(dataSource);
            if (hikari != null) {
                return hikari;
            }
        }
        Binder binder = Binder.get(environment);
        String url = binder.bind("spring.datasource.url", String.class).orElse(null);
        if (url == null) {
            return null;
        }
        return new EmbeddedRelaySettings.DataSourceAddress(url, binder.bind("spring.datasource.username", String.class)
                .orElse(null), binder.bind("spring.datasource.password", String.class).orElse(null), "spring.datasource.url");
    }

    /** Only loaded with HikariCP on the class path. */
    private static final class Hikari {
        static EmbeddedRelaySettings.DataSourceAddress address(DataSource dataSource) {
            try {
                if (!dataSource.isWrapperFor(com.zaxxer.hikari.HikariDataSource.class)) {
                    return null;
                }
                com.zaxxer.hikari.HikariDataSource hikari = dataSource.unwrap(com.zaxxer.hikari.HikariDataSource.class);
                return hikari.getJdbcUrl() == null ? null : new EmbeddedRelaySettings.DataSourceAddress(hikari.getJdbcUrl(),
                        hikari.getUsername(), hikari.getPassword(), "the DataSource's JDBC URL (spring.datasource.url)");
            } catch (SQLException e) {
                return null; // not a Hikari pool after all: spring.datasource.* is read instead
            }
        }
    }

    /** Kafka's connection settings from Boot's KafkaProperties and connection details (SSL bundles included). */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.boot.kafka.autoconfigure.KafkaProperties")
    @EnableConfigurationProperties(org.springframework.boot.kafka.autoconfigure.KafkaProperties.class)
    static class BootKafkaSettingsConfiguration {

        @Bean(KAFKA_SETTINGS_BEAN)
        @ConditionalOnMissingBean(name = KAFKA_SETTINGS_BEAN)
        Supplier<Map<String, String>> outboxRelayKafkaSettings(org.springframework.boot.kafka.autoconfigure.KafkaProperties kafka,
                ObjectProvider<org.springframework.boot.kafka.autoconfigure.KafkaConnectionDetails> connectionDetails,
                ObjectProvider<org.springframework.boot.ssl.SslBundles> sslBundles) {
            return () -> BootKafkaSettings.relayProducer(kafka, connectionDetails.getIfAvailable(), sslBundles.getIfAvailable());
        }
    }

    /** Without spring-boot-kafka: {@code spring.kafka.bootstrap-servers} and the client properties, read directly. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnMissingClass("org.springframework.boot.kafka.autoconfigure.KafkaProperties")
    static class EnvironmentKafkaSettingsConfiguration {

        @Bean(KAFKA_SETTINGS_BEAN)
        @ConditionalOnMissingBean(name = KAFKA_SETTINGS_BEAN)
        Supplier<Map<String, String>> outboxRelayKafkaSettings(Environment environment) {
            return () -> {
                Binder binder = Binder.get(environment);
                SpringKafkaSettings.refuseSslBundleWithoutBootKafka(binder);
                Map<String, String> all = new LinkedHashMap<>();
                binder.bind("spring.kafka.bootstrap-servers", Bindable.listOf(String.class))
                        .ifBound(servers -> all.put("bootstrap.servers", String.join(",", servers)));
                Bindable<Map<String, String>> map = Bindable.mapOf(String.class, String.class);
                binder.bind("spring.kafka.properties", map).ifBound(all::putAll);
                binder.bind("spring.kafka.producer.properties", map).ifBound(all::putAll);
                Map<String, String> settings = new LinkedHashMap<>();
                all.forEach((key, value) -> {
                    if (List.of("bootstrap.servers", "security.protocol").contains(key) || key.startsWith("ssl.")
                            || key.startsWith("sasl.")) {
                        settings.put(key, value);
                    }
                });
                return settings;
            };
        }
    }
}
