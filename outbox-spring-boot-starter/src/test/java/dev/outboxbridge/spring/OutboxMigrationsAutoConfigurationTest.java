package dev.outboxbridge.spring;

import static org.assertj.core.api.Assertions.assertThat;

import javax.sql.DataSource;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.jdbc.datasource.DriverManagerDataSource;

/**
 * When the starter runs the shipped migrations. The data source points at no server: a context that migrates
 * fails to connect, which shows that it tried (with the fix in the message); one that must not migrate starts.
 * The migrations themselves, beside Boot's Flyway: {@code OutboxMigrationsIT}.
 */
class OutboxMigrationsAutoConfigurationTest {

    private static final DataSource NOWHERE = new DriverManagerDataSource("jdbc:postgresql://127.0.0.1:1/none");

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(OutboxMigrationsAutoConfiguration.class));

    @Test
    void withFlywayAndADataSourceTheMigrationsRunAtStartUpByDefault() {
        runner.withBean(DataSource.class, () -> NOWHERE).run(context -> assertThat(context).hasFailed().getFailure()
                .hasStackTraceContaining("Outbox Bridge could not migrate the outbox tables")
                .hasStackTraceContaining("outbox.migrations.outbox=false"));
    }

    @Test
    void disabledByPropertyWithoutFlywayOrWithoutADataSourceNothingMigrates() {
        runner.withBean(DataSource.class, () -> NOWHERE).withPropertyValues("outbox.migrations.enabled=false")
                .run(context -> assertThat(context).hasNotFailed().doesNotHaveBean(OutboxMigrations.class));
        runner.withBean(DataSource.class, () -> NOWHERE).withClassLoader(new FilteredClassLoader(Flyway.class))
                .run(context -> assertThat(context).hasNotFailed().doesNotHaveBean(OutboxMigrations.class));
        runner.run(context -> assertThat(context).hasNotFailed().doesNotHaveBean(OutboxMigrations.class));
    }

    @Test
    void bothSidesOffMigratesNothingAndConnectsNowhere() {
        runner.withBean(DataSource.class, () -> NOWHERE)
                .withPropertyValues("outbox.migrations.outbox=false", "outbox.migrations.inbox=false")
                .run(context -> {
                    assertThat(context).hasNotFailed();
                    OutboxMigrations migrations = context.getBean(OutboxMigrations.class);
                    assertThat(migrations.outbox()).isFalse();
                    assertThat(migrations.inbox()).isFalse();
                });
    }

    @Test
    void theInboxTablesAreMigratedByDefaultOnlyWhenAConsumerIsDeclared() {
        ApplicationContextRunner outboxOff = runner.withBean(DataSource.class, () -> NOWHERE)
                .withPropertyValues("outbox.migrations.outbox=false");
        outboxOff.run(context -> assertThat(context.getBean(OutboxMigrations.class).inbox()).isFalse());
        String tried = "Outbox Bridge could not migrate the inbox tables";
        outboxOff.withPropertyValues("outbox.inbox.consumers.billing.topics=t")
                .run(context -> assertThat(context).hasFailed().getFailure().hasStackTraceContaining(tried));
        outboxOff.withBean(InboxConsumerRegistration.class, () -> InboxConsumerRegistration.of("billing",
                java.util.List.of("t"), (event, tx) -> { }))
                .run(context -> assertThat(context).hasFailed().getFailure().hasStackTraceContaining(tried));
        outboxOff.withBean(Listening.class, Listening::new)
                .run(context -> assertThat(context).hasFailed().getFailure().hasStackTraceContaining(tried));
    }

    static class Listening {
        @InboxListener(consumer = "billing", eventType = "OrderPlaced", topics = "t")
        void placed(dev.outboxbridge.inbox.InboxEvent event) {
        }
    }

    @Test
    void anOwnOutboxTableNameIsRefusedBeforeConnectingNamingTheFix() {
        runner.withBean(DataSource.class, () -> NOWHERE).withPropertyValues("outbox.table=app.events")
                .run(context -> assertThat(context).hasFailed().getFailure()
                        .hasStackTraceContaining("outbox.table=app.events")
                        .hasStackTraceContaining("set outbox.migrations.enabled=false"));
        runner.withBean(DataSource.class, () -> NOWHERE)
                .withPropertyValues("outbox.migrations.outbox=false",
                        "outbox.inbox.consumers.billing.inbox-table=billing.inbox")
                .run(context -> assertThat(context).hasFailed().getFailure()
                        .hasStackTraceContaining("outbox.inbox.consumers[billing].inbox-table=billing.inbox"));
    }

    @Test
    void aUserBeanWins() {
        OutboxMigrations own = new OutboxMigrations(NOWHERE, false, false);
        runner.withBean(DataSource.class, () -> NOWHERE).withBean(OutboxMigrations.class, () -> own)
                .run(context -> assertThat(context.getBean(OutboxMigrations.class)).isSameAs(own));
    }
}
