package dev.outboxbridge.spring;

import dev.outboxbridge.db.OutboxBridgeMigrations;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.outbox.OutboxConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnSingleCandidate;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.core.MethodIntrospector;
import org.springframework.core.annotation.AnnotatedElementUtils;
import org.springframework.util.ReflectionUtils;

/**
 * Runs the shipped migrations ({@link OutboxMigrations}) at start-up when Flyway is on the class path and the
 * application has one {@code DataSource}, unless {@code outbox.migrations.enabled=false}. The outbox table is
 * migrated unless {@code outbox.migrations.outbox=false}; the inbox tables when
 * {@code outbox.migrations.inbox=true} or, unset, when the application declares an inbox consumer (in the
 * properties, by an {@link InboxConsumerRegistration} bean, or by {@link InboxListener} methods of a bean whose
 * declared type shows them).
 */
@AutoConfiguration(afterName = {
        "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration",
        "org.springframework.boot.flyway.autoconfigure.FlywayAutoConfiguration" })
@ConditionalOnClass(name = { "org.flywaydb.core.Flyway", "dev.outboxbridge.db.OutboxBridgeMigrations" })
@ConditionalOnSingleCandidate(DataSource.class)
@ConditionalOnBooleanProperty(name = "outbox.migrations.enabled", matchIfMissing = true)
@EnableConfigurationProperties(OutboxProperties.class)
public class OutboxMigrationsAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    OutboxMigrations outboxMigrations(OutboxProperties properties, DataSource dataSource,
            ConfigurableListableBeanFactory beanFactory) {
        OutboxProperties.Migrations migrations = properties.getMigrations();
        boolean inbox = migrations.getInbox() != null ? migrations.getInbox()
                : !properties.getInbox().getConsumers().isEmpty()
                        // names only: instantiating the registrations could reach beans that wait for this one
                        || beanFactory.getBeanNamesForType(InboxConsumerRegistration.class, true, false).length > 0
                        || hasInboxListeners(beanFactory);
        checkTableNames(properties, migrations.isOutbox(), inbox);
        return new OutboxMigrations(dataSource, migrations.isOutbox(), inbox);
    }

    /** Whether a bean's type (as declared, without creating it) has {@link InboxListener} methods. */
    private static boolean hasInboxListeners(ConfigurableListableBeanFactory beanFactory) {
        for (String name : beanFactory.getBeanDefinitionNames()) {
            Class<?> type = beanFactory.getType(name, false);
            if (type != null && !type.getName().startsWith("org.springframework.")
                    && !MethodIntrospector.selectMethods(type, (ReflectionUtils.MethodFilter) method ->
                            AnnotatedElementUtils.hasAnnotation(method, InboxListener.class)).isEmpty()) {
                return true;
            }
        }
        return false;
    }

    /** The shipped migrations create the default tables only: refuse other names rather than miss them at run time. */
    private static void checkTableNames(OutboxProperties properties, boolean outbox, boolean inbox) {
        List<String> problems = new ArrayList<>();
        if (outbox && !isDefault(properties.getTable(), OutboxConfig.DEFAULT_TABLE)) {
            problems.add("outbox.table=" + properties.getTable());
        }
        if (inbox) {
            for (Map.Entry<String, OutboxProperties.Consumer> e : properties.getInbox().getConsumers().entrySet()) {
                String table = e.getValue().getInboxTable();
                if (!isDefault(table, InboxConsumer.Builder.DEFAULT_INBOX_TABLE)) {
                    problems.add("outbox.inbox.consumers[" + e.getKey() + "].inbox-table=" + table);
                }
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalStateException("The shipped migrations (" + OutboxBridgeMigrations.OUTBOX_LOCATION + ", "
                    + OutboxBridgeMigrations.INBOX_LOCATION + ") create the default tables in the data source's "
                    + "default schema, but " + String.join(", ", problems) + ". Fix: create those tables with your "
                    + "own migrations (from the shipped SQL) and set outbox.migrations.enabled=false (or "
                    + "outbox.migrations.outbox / outbox.migrations.inbox=false), or use the default table names");
        }
    }

    private static boolean isDefault(String table, String defaultTable) {
        if (table == null) {
            return true;
        }
        String name = table.trim().toLowerCase(java.util.Locale.ROOT);
        String plain = defaultTable.substring(defaultTable.indexOf('.') + 1);
        return name.equals(defaultTable) || name.equals(plain);
    }

    /** Boot's mechanism that makes the database's users wait for its initializers (ours among them). */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.boot.sql.init.dependency.DatabaseInitializationDependencyConfigurer")
    @Import(org.springframework.boot.sql.init.dependency.DatabaseInitializationDependencyConfigurer.class)
    static class DatabaseInitializationDependencies {
    }
}
