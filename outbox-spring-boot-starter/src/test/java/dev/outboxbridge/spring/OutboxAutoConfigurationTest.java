package dev.outboxbridge.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.outbox.NotInTransactionException;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.kafka.autoconfigure.KafkaProperties;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.jdbc.datasource.DriverManagerDataSource;
import org.springframework.transaction.PlatformTransactionManager;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Conditions, properties and back-off of the auto-configuration. The data source here points at no
 * server: nothing in these contexts may connect (the starter is passive until asked).
 */
class OutboxAutoConfigurationTest {

    private static final DataSource NOWHERE = new DriverManagerDataSource("jdbc:postgresql://127.0.0.1:1/none");

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(OutboxAutoConfiguration.class, InboxAutoConfiguration.class));

    private ApplicationContextRunner withDataSource() {
        return runner.withBean(DataSource.class, () -> NOWHERE)
                .withBean(PlatformTransactionManager.class, () -> new DataSourceTransactionManager(NOWHERE));
    }

    @Test
    void withoutADataSourceOnlyThePlainOutboxIsDefined() {
        runner.run(context -> {
            assertThat(context).hasSingleBean(Outbox.class);
            assertThat(context).doesNotHaveBean(SpringOutbox.class);
            assertThat(context).doesNotHaveBean(SpringInboxConsumers.class);
        });
    }

    @Test
    void withADataSourceTheSpringOutboxAndTheConsumersBeanAreDefinedAndNothingRunsUndeclared() {
        withDataSource().run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context).hasSingleBean(SpringOutbox.class);
            SpringInboxConsumers consumers = context.getBean(SpringInboxConsumers.class);
            assertThat(consumers.names()).isEmpty();
            assertThat(consumers.consumers()).isEmpty();
        });
    }

    @Test
    void outboxPropertiesReachTheOutboxConfig() {
        withDataSource().withPropertyValues("outbox.table=app.events", "outbox.topic-prefix=shop.",
                "outbox.max-record-bytes=2048", "outbox.delete-in-transaction=true").run(context -> {
                    OutboxConfig config = context.getBean(Outbox.class).config();
                    assertThat(config.table().toString()).contains("app").contains("events");
                    assertThat(config.topicPrefix()).isEqualTo("shop.");
                    assertThat(config.maxRecordBytes()).isEqualTo(2048);
                    assertThat(config.deleteInTransaction()).isTrue();
                });
    }

    @Test
    void userBeansWin() {
        Outbox own = Outbox.create(OutboxConfig.builder().topicPrefix("own.").build());
        SpringOutbox ownSpring = SpringOutbox.create(own, NOWHERE);
        SpringInboxConsumers ownConsumers = new SpringInboxConsumers(new OutboxProperties.Inbox(), List.of(),
                new org.springframework.beans.factory.support.DefaultListableBeanFactory(), NOWHERE, () -> null,
                m -> Map.of(), List.of());
        withDataSource().withBean(Outbox.class, () -> own).withBean(SpringOutbox.class, () -> ownSpring)
                .withBean(SpringInboxConsumers.class, () -> ownConsumers).run(context -> {
                    assertThat(context.getBean(Outbox.class)).isSameAs(own);
                    assertThat(context.getBean(SpringOutbox.class)).isSameAs(ownSpring);
                    assertThat(context.getBean(SpringInboxConsumers.class)).isSameAs(ownConsumers);
                });
    }

    @Test
    void appendOutsideATransactionIsRefusedWithTheFixAndConnectsNowhere() {
        withDataSource().run(context -> {
            SpringOutbox outbox = context.getBean(SpringOutbox.class);
            assertThatThrownBy(() -> outbox.append(OutboxEvent.of("order", "1", "OrderPlaced", "{}")))
                    .isInstanceOf(NotInTransactionException.class)
                    .hasMessageContaining("no Spring-managed transaction is active")
                    .hasMessageContaining("@Transactional").hasMessageContaining("TransactionTemplate");
        });
    }

    @Test
    void appendInATransactionOfAnotherDataSourceIsRefused() {
        DataSource other = new DriverManagerDataSource("jdbc:postgresql://127.0.0.1:1/other");
        withDataSource().run(context -> {
            SpringOutbox outbox = context.getBean(SpringOutbox.class);
            // a transaction of another data source: getTransaction would connect, so use one that never does
            TransactionTemplate tx = new TransactionTemplate(new ResourcelessTransactionManager());
            assertThatThrownBy(() -> tx.executeWithoutResult(
                    s -> outbox.append(OutboxEvent.of("order", "1", "OrderPlaced", "{}"))))
                    .isInstanceOf(NotInTransactionException.class)
                    .hasMessageContaining("does not manage the outbox's DataSource");
            assertThat(other).isNotNull();
        });
    }

    @Test
    void kafkaSettingsComeFromSpringKafkaWithPerConsumerOverridesAndWithoutBootListenerSettings() {
        withDataSource().withPropertyValues("spring.kafka.bootstrap-servers=kafka-1:9093,kafka-2:9093",
                "spring.kafka.security.protocol=SASL_SSL", "spring.kafka.properties.sasl.mechanism=PLAIN",
                "spring.kafka.ssl.trust-store-type=PKCS12", "spring.kafka.consumer.group-id=listeners",
                "spring.kafka.consumer.enable-auto-commit=true", "spring.kafka.client-id=app")
                .run(context -> {
                    Map<String, Object> settings = kafkaSettings(context).apply(Map.of("max.poll.records", "50"));
                    assertThat(settings.get("bootstrap.servers").toString()).contains("kafka-1:9093", "kafka-2:9093");
                    assertThat(settings).containsEntry("security.protocol", "SASL_SSL")
                            .containsEntry("sasl.mechanism", "PLAIN").containsEntry("ssl.truststore.type", "PKCS12")
                            .containsEntry("max.poll.records", "50");
                    assertThat(settings).doesNotContainKeys("group.id", "enable.auto.commit", "client.id",
                            "key.deserializer", "value.deserializer");
                    assertThat(kafkaSettings(context).apply(Map.of("group.id", "billing-v2")))
                            .containsEntry("group.id", "billing-v2");
                });
    }

    @Test
    void withoutSpringBootKafkaTheSpringKafkaPropertiesAreReadDirectly() {
        withDataSource().withClassLoader(new FilteredClassLoader(KafkaProperties.class))
                .withPropertyValues("spring.kafka.bootstrap-servers=kafka-1:9093",
                        "spring.kafka.properties.security.protocol=SSL")
                .run(context -> {
                    assertThat(context).hasNotFailed();
                    assertThat(context).doesNotHaveBean(KafkaProperties.class);
                    assertThat(kafkaSettings(context).apply(Map.of())).containsEntry("bootstrap.servers", "kafka-1:9093")
                            .containsEntry("security.protocol", "SSL");
                });
    }

    @Test
    void theApplicationsMeterRegistryIsGivenToEachConsumer() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        withDataSource().withBean(MeterRegistry.class, () -> registry).run(context -> {
            List<Object> given = new ArrayList<>();
            InboxConsumer.Builder builder = recordingBuilder(given);
            context.getBeansOfType(InboxConsumerCustomizer.class).values().forEach(c -> c.customize("billing", builder));
            assertThat(given).containsExactly(registry);
        });
        withDataSource().run(context -> {
            List<Object> given = new ArrayList<>();
            InboxConsumer.Builder builder = recordingBuilder(given);
            context.getBeansOfType(InboxConsumerCustomizer.class).values().forEach(c -> c.customize("billing", builder));
            assertThat(given).isEmpty();
        });
    }

    @Test
    void consumersDeclaredInPropertiesAreBoundAndNotStartedWhenAutoStartupIsOff() {
        withDataSource().withPropertyValues("outbox.inbox.auto-startup=false",
                "outbox.inbox.consumers.billing.topics=outbox.event.order",
                "outbox.inbox.consumers.billing.kafka.max.poll.records=10",
                "outbox.inbox.consumers.billing.max-batch-size=1").run(context -> {
                    SpringInboxConsumers consumers = context.getBean(SpringInboxConsumers.class);
                    assertThat(consumers.names()).containsExactly("billing");
                    assertThat(consumers.isRunning()).isFalse();
                    assertThat(consumers.consumers()).isEmpty();
                    OutboxProperties.Consumer billing =
                            context.getBean(OutboxProperties.class).getInbox().getConsumers().get("billing");
                    assertThat(billing.getTopics()).containsExactly("outbox.event.order");
                    assertThat(billing.getKafka()).containsEntry("max.poll.records", "10");
                    assertThat(billing.getMaxBatchSize()).isEqualTo(1);
                });
    }

    @Test
    void aConsumerWithoutAHandlerBeanFailsTheStartNamingTheFix() {
        withDataSource().withPropertyValues("outbox.inbox.consumers.billing.topics=outbox.event.order")
                .run(context -> assertThat(context).hasFailed().getFailure()
                        .hasStackTraceContaining("no InboxHandler bean named 'billing'")
                        .hasStackTraceContaining("outbox.inbox.consumers.billing.handler"));
    }

    @Test
    void aConsumerWithoutTopicsFailsTheStartNamingTheProperty() {
        withDataSource().withBean("billing", InboxHandler.class, () -> (event, tx) -> { })
                .withPropertyValues("outbox.inbox.consumers.billing.max-attempts=3")
                .run(context -> assertThat(context).hasFailed().getFailure()
                        .rootCause().hasMessageContaining("'billing' has no topics")
                        .hasMessageContaining("outbox.inbox.consumers.billing.topics"));
    }

    @Test
    void onlyATransactionManagerOfTheDataSourceThatNestsUsesSavepoints() {
        assertThat(new SpringTransactionRunner(new DataSourceTransactionManager(NOWHERE)).supportsSavepoints()).isTrue();
        DataSourceTransactionManager noNesting = new DataSourceTransactionManager(NOWHERE);
        noNesting.setNestedTransactionAllowed(false);
        assertThat(new SpringTransactionRunner(noNesting).supportsSavepoints())
                .as("no nested transactions: no savepoints").isFalse();
        assertThat(new SpringTransactionRunner(new ResourcelessTransactionManager()).supportsSavepoints())
                .as("not a manager of the DataSource (e.g. JPA): a savepoint would not roll back all").isFalse();
    }

    @Test
    void aSavepointPerHandlerIsRefusedWhereSavepointsWouldNotRollBackEverything() {
        SpringTransactionRunner noSavepoints = new SpringTransactionRunner(new ResourcelessTransactionManager());
        assertThat(noSavepoints.handler((event, tx) -> { }, false)).as("optimistic batches need no savepoint").isNotNull();
        assertThatThrownBy(() -> noSavepoints.handler((event, tx) -> { }, true))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("savepoint-per-handler")
                .hasMessageContaining("turn savepoint-per-handler off");
    }

    /** A transaction manager of no resource at all (like one of another data source that binds nothing of ours). */
    private static final class ResourcelessTransactionManager
            extends org.springframework.transaction.support.AbstractPlatformTransactionManager {
        @Override
        protected Object doGetTransaction() {
            return new Object();
        }

        @Override
        protected void doBegin(Object transaction, org.springframework.transaction.TransactionDefinition definition) {
        }

        @Override
        protected void doCommit(org.springframework.transaction.support.DefaultTransactionStatus status) {
        }

        @Override
        protected void doRollback(org.springframework.transaction.support.DefaultTransactionStatus status) {
        }
    }

    @SuppressWarnings("unchecked")
    private static Function<Map<String, String>, Map<String, Object>> kafkaSettings(
            org.springframework.context.ApplicationContext context) {
        return (Function<Map<String, String>, Map<String, Object>>) context.getBean(
                InboxAutoConfiguration.KAFKA_SETTINGS_BEAN);
    }

    private static InboxConsumer.Builder recordingBuilder(List<Object> meterRegistries) {
        return (InboxConsumer.Builder) Proxy.newProxyInstance(OutboxAutoConfigurationTest.class.getClassLoader(),
                new Class<?>[] { InboxConsumer.Builder.class }, (proxy, method, args) -> {
                    if (method.getName().equals("meterRegistry")) {
                        meterRegistries.add(args[0]);
                    }
                    return method.getReturnType().isInstance(proxy) ? proxy : null;
                });
    }
}
