package dev.outboxbridge.db;

import javax.sql.DataSource;
import org.flywaydb.core.Flyway;

/**
 * The Flyway migrations shipped in this jar, configured so they live beside an application's own
 * migrations without clashing: each side has its own location and its own schema history table.
 *
 * <pre>{@code
 * OutboxBridgeMigrations.outbox(dataSource).migrate();   // producer's database
 * OutboxBridgeMigrations.inbox(dataSource).migrate();    // consumer's database
 * }</pre>
 *
 * <p>The outbox table comes in two variants; choose one per database (see docs/outbox-retention.md):
 * {@link #outbox} (a plain table: keep rows, delete them in the appending transaction, or delete them by
 * age with {@code OutboxCleanup}) or {@link #outboxPartitioned} (one partition per UTC day, dropped whole
 * by {@code OutboxCleanup}). Both share {@link #OUTBOX_HISTORY_TABLE}, so running the other variant on a
 * migrated database fails Flyway's validation instead of creating a second table.
 *
 * <p>Flyway is an optional dependency of this module: applications that run migrations their own
 * way can use the SQL files under {@link #OUTBOX_LOCATION} and {@link #INBOX_LOCATION} directly.
 */
public final class OutboxBridgeMigrations {

    /** Classpath folder of the outbox-side migrations. */
    public static final String OUTBOX_LOCATION = "dev/outboxbridge/db/outbox";
    /** Classpath folder of the time-partitioned variant of the outbox-side migrations (same columns). */
    public static final String OUTBOX_PARTITIONED_LOCATION = "dev/outboxbridge/db/outbox-partitioned";
    /** Classpath folder of the inbox-side migrations. */
    public static final String INBOX_LOCATION = "dev/outboxbridge/db/inbox";
    /** Flyway history table of the outbox-side migrations. */
    public static final String OUTBOX_HISTORY_TABLE = "outbox_bridge_outbox_history";
    /** Flyway history table of the inbox-side migrations. */
    public static final String INBOX_HISTORY_TABLE = "outbox_bridge_inbox_history";

    private OutboxBridgeMigrations() {
    }

    /** A Flyway instance for the outbox table, in the data source's default schema. */
    public static Flyway outbox(DataSource dataSource) {
        return configure(dataSource, OUTBOX_LOCATION, OUTBOX_HISTORY_TABLE);
    }

    /**
     * A Flyway instance for the time-partitioned outbox table (partitioned by range on {@code created_at}, one
     * partition per UTC day, the first eight created by the migration), in the data source's default schema.
     * The relay's publication must publish through the partition root ({@code publish_via_partition_root = true});
     * the relay creates it so. Run {@code OutboxCleanup} to create later partitions ahead and drop old ones.
     */
    public static Flyway outboxPartitioned(DataSource dataSource) {
        return configure(dataSource, OUTBOX_PARTITIONED_LOCATION, OUTBOX_HISTORY_TABLE);
    }

    /** A Flyway instance for the inbox table, in the data source's default schema. */
    public static Flyway inbox(DataSource dataSource) {
        return configure(dataSource, INBOX_LOCATION, INBOX_HISTORY_TABLE);
    }

    private static Flyway configure(DataSource dataSource, String location, String historyTable) {
        return Flyway.configure()
                .dataSource(dataSource)
                .locations("classpath:" + location)
                .table(historyTable)
                // the schema usually holds the application's tables already
                .baselineOnMigrate(true)
                .baselineVersion("0")
                .load();
    }
}
