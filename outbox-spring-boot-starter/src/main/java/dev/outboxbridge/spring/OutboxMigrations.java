package dev.outboxbridge.spring;

import dev.outboxbridge.db.OutboxBridgeMigrations;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.output.MigrateResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.InitializingBean;

/**
 * Runs the shipped Flyway migrations ({@link OutboxBridgeMigrations}) of the outbox table and/or the inbox
 * tables when the bean is initialized, each with its own schema history table
 * ({@value OutboxBridgeMigrations#OUTBOX_HISTORY_TABLE}, {@value OutboxBridgeMigrations#INBOX_HISTORY_TABLE}),
 * so they never mix with the application's own Flyway versions; a start on an up-to-date schema applies
 * nothing.
 *
 * <p>The starter registers it as a database initializer with Boot (as Boot's own Flyway initializer is): it runs
 * after the application's Flyway migrations (which may therefore start from an empty schema and need no
 * baseline, but cannot refer to the outbox and inbox tables) and before the beans that use the database
 * ({@code JdbcTemplate}, jOOQ's {@code DSLContext}, JPA, {@code @DependsOnDatabaseInitialization}). The inbox
 * consumers start later still, after the context is refreshed.
 *
 * <p>The Flyway instances are deliberately not beans: a {@code Flyway} bean would make Boot's Flyway
 * auto-configuration back off, and the application's own migrations would no longer run.
 */
public final class OutboxMigrations implements InitializingBean {

    private static final Logger LOG = LoggerFactory.getLogger(OutboxMigrations.class);

    private final DataSource dataSource;
    private final boolean outbox;
    private final boolean inbox;

    /**
     * @param outbox whether to migrate the outbox table
     * @param inbox whether to migrate the inbox tables
     */
    public OutboxMigrations(DataSource dataSource, boolean outbox, boolean inbox) {
        this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
        this.outbox = outbox;
        this.inbox = inbox;
    }

    /** Whether the outbox table is migrated. */
    public boolean outbox() {
        return outbox;
    }

    /** Whether the inbox tables are migrated. */
    public boolean inbox() {
        return inbox;
    }

    @Override
    public void afterPropertiesSet() {
        migrate();
    }

    /**
     * Applies the pending migrations of the chosen sides.
     *
     * @return the number of migrations applied (0: the schema was up to date)
     * @throws IllegalStateException naming the side, the cause and the fix, if a migration fails
     */
    public int migrate() {
        List<String> applied = new ArrayList<>();
        int count = 0;
        if (outbox) {
            count += migrate("outbox", OutboxBridgeMigrations.outbox(dataSource), OutboxBridgeMigrations.OUTBOX_HISTORY_TABLE,
                    applied);
        }
        if (inbox) {
            count += migrate("inbox", OutboxBridgeMigrations.inbox(dataSource), OutboxBridgeMigrations.INBOX_HISTORY_TABLE,
                    applied);
        }
        if (count > 0) {
            LOG.info("Outbox Bridge migrations applied: {}", applied);
        } else {
            LOG.debug("Outbox Bridge migrations: schema up to date (outbox: {}, inbox: {})", outbox, inbox);
        }
        return count;
    }

    private static int migrate(String side, Flyway flyway, String historyTable, List<String> applied) {
        MigrateResult result;
        try {
            result = flyway.migrate();
        } catch (RuntimeException e) {
            throw new IllegalStateException("Outbox Bridge could not migrate the " + side + " tables (Flyway history "
                    + "table " + historyTable + "): " + e.getMessage() + ". Fix: if your own migrations already create "
                    + "these tables, set outbox.migrations." + side + "=false (or outbox.migrations.enabled=false); "
                    + "for PostgreSQL, Flyway needs org.flywaydb:flyway-database-postgresql on the class path; the "
                    + "database user needs the right to create tables in its default schema", e);
        }
        result.migrations.forEach(m -> applied.add(side + " V" + m.version + " " + m.description));
        return result.migrationsExecuted;
    }

    @Override
    public String toString() {
        return "OutboxMigrations{outbox=" + outbox + ", inbox=" + inbox + '}';
    }
}
