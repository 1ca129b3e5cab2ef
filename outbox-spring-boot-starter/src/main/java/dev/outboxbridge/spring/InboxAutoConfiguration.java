package dev.outboxbridge.spring;

import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.spring.payload.PayloadCodec;
import java.util.Map;
import java.util.function.Function;
import javax.sql.DataSource;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnSingleCandidate;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;
import org.springframework.transaction.PlatformTransactionManager;

/**
 * Inbox consumers as part of the application: a {@link SpringInboxConsumers} lifecycle bean that runs
 * the consumers declared by {@link InboxConsumerRegistration} beans and {@code outbox.inbox.consumers.*}
 * (none declared: nothing runs), each handler in a Spring-managed transaction of the application's
 * transaction manager, Kafka settings from {@code spring.kafka.*}, metrics in the application's
 * {@code MeterRegistry} when there is one.
 */
@AutoConfiguration(afterName = {
        "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration",
        "org.springframework.boot.jdbc.autoconfigure.DataSourceTransactionManagerAutoConfiguration",
        "org.springframework.boot.transaction.autoconfigure.TransactionAutoConfiguration",
        "org.springframework.boot.kafka.autoconfigure.KafkaAutoConfiguration" })
@ConditionalOnClass({ InboxConsumer.class, PlatformTransactionManager.class })
@ConditionalOnSingleCandidate(DataSource.class)
@EnableConfigurationProperties(OutboxProperties.class)
public class InboxAutoConfiguration {

    /** The name of the bean holding the Kafka settings function (a user bean of this name replaces it). */
    public static final String KAFKA_SETTINGS_BEAN = "outboxInboxKafkaSettings";

    @Bean
    @ConditionalOnMissingBean
    SpringInboxConsumers springInboxConsumers(OutboxProperties properties,
            ObjectProvider<InboxConsumerRegistration> registrations, BeanFactory beanFactory, DataSource dataSource,
            ObjectProvider<PlatformTransactionManager> transactionManagers,
            @org.springframework.beans.factory.annotation.Qualifier(KAFKA_SETTINGS_BEAN)
            Function<Map<String, String>, Map<String, Object>> kafkaSettings,
            ObjectProvider<InboxConsumerCustomizer> customizers, InboxListeners listeners,
            ObjectProvider<InboxHandlerDecorator> decorators) {
        return new SpringInboxConsumers(properties.getInbox(), registrations.orderedStream().toList(), beanFactory,
                dataSource, () -> new SpringTransactionRunner(transactionManager(transactionManagers)), kafkaSettings,
                customizers.orderedStream().toList(), listeners, decorators.orderedStream().toList());
    }

    /** The {@link InboxListener} methods of the context, by consumer; typed ones read with the {@link PayloadCodec}. */
    @Bean
    @ConditionalOnMissingBean
    InboxListeners inboxListeners(ObjectProvider<PayloadCodec> codec) {
        return new InboxListeners(codec.getIfAvailable());
    }

    /** Collects the {@link InboxListener} methods (static: a post-processor is created before the other beans). */
    @Bean
    static InboxListenerBeanPostProcessor outboxInboxListenerBeanPostProcessor(ObjectProvider<InboxListeners> listeners) {
        return new InboxListenerBeanPostProcessor(listeners::getObject);
    }

    private static PlatformTransactionManager transactionManager(ObjectProvider<PlatformTransactionManager> managers) {
        PlatformTransactionManager manager = managers.getIfUnique();
        if (manager == null) {
            throw new IllegalStateException("The inbox consumers need one PlatformTransactionManager of the DataSource "
                    + "to run their handlers in, and the context has " + (managers.stream().count() == 0 ? "none" : "several")
                    + ". Fix: add spring-boot-jdbc (JdbcTransactionManager), or mark one transaction manager @Primary");
        }
        return manager;
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.boot.kafka.autoconfigure.KafkaProperties")
    @EnableConfigurationProperties(org.springframework.boot.kafka.autoconfigure.KafkaProperties.class)
    static class BootKafkaSettingsConfiguration {

        @Bean(KAFKA_SETTINGS_BEAN)
        @ConditionalOnMissingBean(name = KAFKA_SETTINGS_BEAN)
        Function<Map<String, String>, Map<String, Object>> outboxInboxKafkaSettings(
                org.springframework.boot.kafka.autoconfigure.KafkaProperties kafka,
                ObjectProvider<org.springframework.boot.kafka.autoconfigure.KafkaConnectionDetails> connectionDetails,
                ObjectProvider<org.springframework.boot.ssl.SslBundles> sslBundles) {
            // as Boot configures Spring Kafka's consumers: the properties, then the connection details (SSL bundle)
            return new SpringKafkaSettings(() -> BootKafkaSettings.consumer(kafka, connectionDetails.getIfAvailable(),
                    sslBundles.getIfAvailable()));
        }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnMissingClass("org.springframework.boot.kafka.autoconfigure.KafkaProperties")
    static class EnvironmentKafkaSettingsConfiguration {

        @Bean(KAFKA_SETTINGS_BEAN)
        @ConditionalOnMissingBean(name = KAFKA_SETTINGS_BEAN)
        Function<Map<String, String>, Map<String, Object>> outboxInboxKafkaSettings(Environment environment) {
            return SpringKafkaSettings.fromEnvironment(environment);
        }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "io.micrometer.core.instrument.MeterRegistry")
    static class MetricsConfiguration {

        /** Gives each inbox consumer the application's MeterRegistry, if it has exactly one. */
        @Bean
        @ConditionalOnMissingBean(name = "outboxInboxMeterRegistryCustomizer")
        InboxConsumerCustomizer outboxInboxMeterRegistryCustomizer(
                ObjectProvider<io.micrometer.core.instrument.MeterRegistry> registry) {
            return (name, builder) -> registry.ifUnique(builder::meterRegistry);
        }
    }
}
