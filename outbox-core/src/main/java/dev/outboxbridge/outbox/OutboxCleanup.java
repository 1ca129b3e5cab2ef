package dev.outboxbridge.outbox;

import dev.outboxbridge.db.TableName;
import java.time.Clock;
import java.time.Duration;
import java.util.Objects;
import javax.sql.DataSource;

/**
 * Retention of the outbox table on the producer's side: a job that removes rows older than a retention, so the table
 * does not grow forever. The relay reads inserts from the WAL, so a committed row is never needed for publishing
 * afterwards; the row only serves people looking at it (and a relay's first start, which publishes the rows already
 * there). See docs/outbox-retention.md for the choice between this job, deleting in the appending transaction
 * ({@link OutboxConfig.Builder#deleteInTransaction}) and the time-partitioned table.
 *
 * <p>What a run does depends on the table, read at every run:
 * <ul>
 *   <li><b>plain table</b> ({@code dev/outboxbridge/db/outbox}): deletes the rows with {@code created_at} older than
 *       now minus the retention, oldest first, in batches of {@link Builder#batchSize} rows, one short transaction
 *       each, bounded by {@link Builder#statementTimeout}. A batch locks the rows it deletes with
 *       {@code FOR UPDATE SKIP LOCKED}: it never waits for a writer (writers insert new rows; nothing it deletes is
 *       new) nor for another instance's cleanup (which skips the rows this one holds).</li>
 *   <li><b>partitioned table</b> ({@code dev/outboxbridge/db/outbox-partitioned}, one partition per UTC day): creates
 *       the partitions of today and the next {@link Builder#partitionsAhead} days that are missing, and drops each
 *       partition whose upper bound is at or before now minus the retention. Dropping a partition frees its space at
 *       once and leaves no dead tuples. The DDL needs a short exclusive lock on the table; it waits at most
 *       {@link Builder#lockTimeout} for it (so writers queued behind it wait at most that long too), then gives up
 *       until the next run. Several instances may run the job: one does the partition work at a time (an advisory
 *       lock), the others skip it.</li>
 * </ul>
 *
 * <pre>{@code
 * OutboxCleanup cleanup = OutboxCleanup.builder(dataSource).retention(Duration.ofHours(6)).build();
 * cleanup.start();   // runs every interval on its own thread, "outbox-cleanup-<table>"
 * ...
 * cleanup.close();   // stops the thread, waiting at most the shutdown timeout
 * }</pre>
 *
 * <p>The job connects as the data source's user, which needs DELETE on the table (plain) or ownership of it
 * (partitioned: CREATE TABLE ... PARTITION OF and DROP TABLE). Thread-safe.
 */
public interface OutboxCleanup extends AutoCloseable {

    /** A builder of a cleanup job that connects through {@code dataSource}. */
    static Builder builder(DataSource dataSource) {
        return new Builder(dataSource);
    }

    /**
     * Starts running {@link #runOnce()} on the job's own thread, at once and then every {@link Builder#interval}.
     * A failed run is logged as a warning and retried at the next interval.
     *
     * @throws IllegalStateException if already started or closed
     */
    void start();

    /**
     * One run, on the caller's thread: the batched deletes (plain table) or the partition maintenance (partitioned
     * table), as of the clock's now. For operators and tests; {@link #start()} calls it on schedule.
     *
     * @throws OutboxException if the database refuses (the cause is attached)
     * @throws IllegalStateException if closed
     */
    Result runOnce();

    /** Totals since the job was built: for the application's metrics (outbox-core brings no metrics library). */
    Result totals();

    /**
     * Stops the job: no new run starts, a run in progress stops after its current batch (each batch is bounded by the
     * statement timeout); waits at most the shutdown timeout for it, then interrupts it and logs a warning. Calling it
     * again does nothing.
     */
    @Override
    void close();

    /**
     * What one run (or all runs) did.
     *
     * @param deletedRows rows deleted (plain table)
     * @param createdPartitions partitions created ahead (partitioned table)
     * @param droppedPartitions partitions dropped after the retention (partitioned table)
     */
    record Result(long deletedRows, int createdPartitions, int droppedPartitions) {
        Result plus(Result other) {
            return new Result(deletedRows + other.deletedRows, createdPartitions + other.createdPartitions,
                    droppedPartitions + other.droppedPartitions);
        }
    }

    /** Builder of {@link OutboxCleanup}; every setter validates its value at once. */
    final class Builder {
        /** Default retention: rows (or day partitions) older than this are removed. */
        public static final Duration DEFAULT_RETENTION = Duration.ofDays(2);
        /** Default time between two runs. */
        public static final Duration DEFAULT_INTERVAL = Duration.ofMinutes(1);
        /** Default number of rows per delete batch (plain table). */
        public static final int DEFAULT_BATCH_SIZE = 1000;
        /** Default bound on each statement of a run. */
        public static final Duration DEFAULT_STATEMENT_TIMEOUT = Duration.ofSeconds(5);
        /** Default bound on the wait for the table lock of a partition's CREATE or DROP. */
        public static final Duration DEFAULT_LOCK_TIMEOUT = Duration.ofSeconds(1);
        /** Default number of days after today whose partitions exist ahead. */
        public static final int DEFAULT_PARTITIONS_AHEAD = 3;
        /** Default bound on {@link OutboxCleanup#close()}. */
        public static final Duration DEFAULT_SHUTDOWN_TIMEOUT = Duration.ofSeconds(10);

        final DataSource dataSource;
        TableName table = TableName.parse(OutboxConfig.DEFAULT_TABLE);
        Duration retention = DEFAULT_RETENTION;
        Duration interval = DEFAULT_INTERVAL;
        int batchSize = DEFAULT_BATCH_SIZE;
        Duration statementTimeout = DEFAULT_STATEMENT_TIMEOUT;
        Duration lockTimeout = DEFAULT_LOCK_TIMEOUT;
        int partitionsAhead = DEFAULT_PARTITIONS_AHEAD;
        Duration shutdownTimeout = DEFAULT_SHUTDOWN_TIMEOUT;
        Clock clock = Clock.systemUTC();

        private Builder(DataSource dataSource) {
            this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
        }

        /** {@code table} or {@code schema.table}; default {@value OutboxConfig#DEFAULT_TABLE}. */
        public Builder table(String qualifiedName) {
            this.table = TableName.parse(qualifiedName);
            return this;
        }

        /**
         * How long a row stays (plain table), or how long after its day ends a day's partition stays; default 2 days.
         * Keep it longer than the time an operator needs to look at a row (e.g. the CLI's {@code trace}); the relay
         * does not need the row at all.
         */
        public Builder retention(Duration retention) {
            this.retention = positive(retention, "retention", "e.g. Duration.ofHours(6)");
            return this;
        }

        /** Time between two runs of the started job; default 1 minute. */
        public Builder interval(Duration interval) {
            this.interval = positive(interval, "interval", "e.g. Duration.ofMinutes(1)");
            return this;
        }

        /** Rows deleted per batch (one short transaction each), 1 to 100,000; default 1000. */
        public Builder batchSize(int batchSize) {
            if (batchSize < 1 || batchSize > 100_000) {
                throw new IllegalArgumentException("Invalid batchSize " + batchSize + ": must be 1 to 100000;"
                        + " small batches keep each transaction short (default " + DEFAULT_BATCH_SIZE + ")");
            }
            this.batchSize = batchSize;
            return this;
        }

        /** Bound on each statement (PostgreSQL {@code statement_timeout}), at least 1 ms; default 5 s. */
        public Builder statementTimeout(Duration statementTimeout) {
            this.statementTimeout = atLeastOneMilli(statementTimeout, "statementTimeout");
            return this;
        }

        /** Bound on the wait for the table lock of a partition's CREATE or DROP ({@code lock_timeout}); default 1 s. */
        public Builder lockTimeout(Duration lockTimeout) {
            this.lockTimeout = atLeastOneMilli(lockTimeout, "lockTimeout");
            return this;
        }

        /**
         * Days after today (UTC) whose partitions the job keeps created ahead, 1 to 60; default 3. If the job stops
         * running for longer, inserts fail with "no partition of relation ... found for row" (loudly: nothing is lost).
         */
        public Builder partitionsAhead(int partitionsAhead) {
            if (partitionsAhead < 1 || partitionsAhead > 60) {
                throw new IllegalArgumentException("Invalid partitionsAhead " + partitionsAhead + ": must be 1 to 60"
                        + " (days of partitions created ahead; default " + DEFAULT_PARTITIONS_AHEAD + ")");
            }
            this.partitionsAhead = partitionsAhead;
            return this;
        }

        /** Bound on {@link OutboxCleanup#close()}; default 10 s. Keep it above the statement timeout. */
        public Builder shutdownTimeout(Duration shutdownTimeout) {
            this.shutdownTimeout = positive(shutdownTimeout, "shutdownTimeout", "e.g. Duration.ofSeconds(10)");
            return this;
        }

        /** The clock that says what "now" is (inject a fixed one in tests). */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        public OutboxCleanup build() {
            if (shutdownTimeout.compareTo(statementTimeout) <= 0) {
                throw new IllegalArgumentException("Invalid shutdownTimeout " + shutdownTimeout + ": must be longer than"
                        + " statementTimeout " + statementTimeout + ", or close() would interrupt a batch it could have"
                        + " waited for. Fix: raise shutdownTimeout or lower statementTimeout");
            }
            return new OutboxCleanupImpl(this);
        }

        private static Duration positive(Duration d, String name, String example) {
            Objects.requireNonNull(d, name);
            if (d.isZero() || d.isNegative()) {
                throw new IllegalArgumentException("Invalid " + name + " " + d + ": must be positive, " + example);
            }
            return d;
        }

        private static Duration atLeastOneMilli(Duration d, String name) {
            Objects.requireNonNull(d, name);
            if (d.toMillis() < 1) {
                throw new IllegalArgumentException("Invalid " + name + " " + d + ": must be at least 1 ms");
            }
            return d;
        }
    }
}
