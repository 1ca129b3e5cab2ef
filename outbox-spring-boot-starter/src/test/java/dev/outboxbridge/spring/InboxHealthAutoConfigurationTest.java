package dev.outboxbridge.spring;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.jdbc.datasource.DriverManagerDataSource;
import org.springframework.transaction.PlatformTransactionManager;

/**
 * When the inbox health indicator is defined, and what it says before any consumer started. The data
 * source points at no server: the indicator reads in-memory state only. Running, failed and stopped
 * consumers: {@code InboxHealthIT} on real PostgreSQL and Kafka.
 */
class InboxHealthAutoConfigurationTest {

    private static final DataSource NOWHERE = new DriverManagerDataSource("jdbc:postgresql://127.0.0.1:1/none");

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(OutboxAutoConfiguration.class, InboxAutoConfiguration.class,
                    InboxHealthAutoConfiguration.class))
            .withBean(DataSource.class, () -> NOWHERE)
            .withBean(PlatformTransactionManager.class, () -> new DataSourceTransactionManager(NOWHERE));

    @Test
    void withoutDeclaredConsumersTheIndicatorIsUpWithNoConsumers() {
        runner.run(context -> {
            assertThat(context).hasNotFailed();
            Health health = context.getBean(InboxHealthAutoConfiguration.BEAN_NAME, HealthIndicator.class).health();
            assertThat(health.getStatus()).isEqualTo(Status.UP);
            assertThat(health.getDetails()).containsEntry("consumers", Map.of());
        });
    }

    @Test
    void consumersNotStartedYetAreUnknownWhichDoesNotLowerTheApplicationsHealth() {
        runner.withPropertyValues("outbox.inbox.auto-startup=false",
                "outbox.inbox.consumers.billing.topics=outbox.event.order").run(context -> {
                    Health health = context.getBean(InboxConsumersHealthIndicator.class).health();
                    assertThat(health.getStatus()).isEqualTo(Status.UNKNOWN);
                    assertThat(health.getDetails()).containsEntry("consumers",
                            Map.of("billing", Map.of("state", "NOT_STARTED", "status", "UNKNOWN")));
                });
    }

    @Test
    void withoutBootsHealthSupportOnTheClassPathThereIsNoIndicator() {
        runner.withClassLoader(new FilteredClassLoader(ConditionalOnEnabledHealthIndicator.class)).run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context).hasSingleBean(SpringInboxConsumers.class);
            assertThat(context).doesNotHaveBean(InboxHealthAutoConfiguration.BEAN_NAME);
        });
    }

    @Test
    void theIndicatorCanBeSwitchedOffLikeBootsOwn() {
        runner.withPropertyValues("management.health.outbox-inbox.enabled=false")
                .run(context -> assertThat(context).doesNotHaveBean(InboxHealthAutoConfiguration.BEAN_NAME));
        runner.withPropertyValues("management.health.defaults.enabled=false")
                .run(context -> assertThat(context).doesNotHaveBean(InboxHealthAutoConfiguration.BEAN_NAME));
    }

    @Test
    void withoutTheConsumersBeanThereIsNoIndicator() {
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(OutboxAutoConfiguration.class, InboxAutoConfiguration.class,
                        InboxHealthAutoConfiguration.class))
                .run(context -> {
                    assertThat(context).doesNotHaveBean(SpringInboxConsumers.class);
                    assertThat(context).doesNotHaveBean(InboxHealthAutoConfiguration.BEAN_NAME);
                });
    }

    @Test
    void anIndicatorOfTheSameNameWins() {
        HealthIndicator own = () -> Health.up().withDetail("own", true).build();
        runner.withBean(InboxHealthAutoConfiguration.BEAN_NAME, HealthIndicator.class, () -> own).run(context -> {
            assertThat(context).doesNotHaveBean(InboxConsumersHealthIndicator.class);
            assertThat(context.getBean(InboxHealthAutoConfiguration.BEAN_NAME)).isSameAs(own);
        });
    }
}
