package dev.outboxbridge.spring;

import java.util.Set;
import org.springframework.boot.sql.init.dependency.AbstractBeansOfTypeDatabaseInitializerDetector;

/**
 * Tells Boot that an {@link OutboxMigrations} bean initializes the database, so that the beans that use the
 * database wait for it. Ordered after Boot's Flyway detectors (0 and 1): Boot makes each later batch of
 * initializers depend on the earlier ones, so the application's Flyway migrations run first, on a schema that
 * holds none of the outbox's tables yet (no baseline needed).
 */
final class OutboxMigrationsDatabaseInitializerDetector extends AbstractBeansOfTypeDatabaseInitializerDetector {

    static final int ORDER = 10;

    @Override
    protected Set<Class<?>> getDatabaseInitializerBeanTypes() {
        return Set.of(OutboxMigrations.class);
    }

    @Override
    public int getOrder() {
        return ORDER;
    }
}
