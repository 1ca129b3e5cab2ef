package dev.outboxbridge.outbox;

import dev.outboxbridge.db.TableName;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cleanup job. One run on one connection: the plain table's batches are one transaction each (so a batch's row
 * locks last one short statement), the partitioned table's CREATE and DROP one transaction each with a lock timeout
 * (a DDL statement waiting for the table's lock would make every writer queue behind it).
 */
final class OutboxCleanupImpl implements OutboxCleanup {

    private static final Logger LOG = LoggerFactory.getLogger(OutboxCleanup.class);
    private static final String LOCK_NOT_AVAILABLE = "55P03";
    private static final String INSUFFICIENT_PRIVILEGE = "42501";
    private static final String INVALID_DEFINITION = "42P17";
    private static final DateTimeFormatter DAY = DateTimeFormatter.ofPattern("yyyyMMdd");

    private enum State { NEW, RUNNING, CLOSED }

    private final DataSource dataSource;
    private final TableName table;
    private final Duration retention;
    private final Duration interval;
    private final int batchSize;
    private final Duration statementTimeout;
    private final Duration lockTimeout;
    private final int partitionsAhead;
    private final Duration shutdownTimeout;
    private final Clock clock;
    private final String threadName;
    private final String deleteSql;

    private final AtomicReference<State> state = new AtomicReference<>(State.NEW);
    private final Object totalsLock = new Object();
    private Result totals = new Result(0, 0, 0);
    private ScheduledExecutorService executor;
    private volatile Thread worker;
    /** The statement running now, if any: cancelled when close() runs out of time. */
    private volatile Statement running;

    OutboxCleanupImpl(OutboxCleanup.Builder b) {
        this.dataSource = b.dataSource;
        this.table = b.table;
        this.retention = b.retention;
        this.interval = b.interval;
        this.batchSize = b.batchSize;
        this.statementTimeout = b.statementTimeout;
        this.lockTimeout = b.lockTimeout;
        this.partitionsAhead = b.partitionsAhead;
        this.shutdownTimeout = b.shutdownTimeout;
        this.clock = b.clock;
        this.threadName = "outbox-cleanup-" + table.table();
        // oldest first, locked rows skipped: never waits for a writer or another cleaner; the subquery bounds the batch
        this.deleteSql = "DELETE FROM " + table.quoted() + " WHERE id IN (SELECT id FROM " + table.quoted()
                + " WHERE created_at < ? ORDER BY created_at LIMIT ? FOR UPDATE SKIP LOCKED)";
    }

    @Override
    public synchronized void start() {
        if (!state.compareAndSet(State.NEW, State.RUNNING)) {
            throw new IllegalStateException("OutboxCleanup of " + table + " is not in expected state NEW, current state is "
                    + state.get());
        }
        executor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, threadName);
            t.setDaemon(true);
            worker = t;
            return t;
        });
        executor.scheduleWithFixedDelay(this::scheduledRun, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
        LOG.info("Outbox cleanup of {} started: retention {}, every {}", table, retention, interval);
    }

    private void scheduledRun() {
        try {
            Result r = runOnce();
            if (r.deletedRows() > 0 || r.createdPartitions() > 0 || r.droppedPartitions() > 0) {
                LOG.info("Outbox cleanup of {}: {} row(s) deleted, {} partition(s) created, {} dropped", table,
                        r.deletedRows(), r.createdPartitions(), r.droppedPartitions());
            }
        } catch (RuntimeException e) {
            if (state.get() != State.CLOSED) {
                LOG.warn("Outbox cleanup of {} failed; next try in {}: {}", table, interval, e.getMessage(), e);
            }
        }
    }

    @Override
    public Result runOnce() {
        if (state.get() == State.CLOSED) {
            throw new IllegalStateException("OutboxCleanup of " + table + " is closed");
        }
        Result result;
        try (Connection c = dataSource.getConnection()) {
            boolean autoCommit = c.getAutoCommit();
            try {
                c.setAutoCommit(true);
                Boolean partitioned = partitioned(c);
                if (partitioned == null) {
                    throw new OutboxException("Outbox table " + table + " does not exist, so there is nothing to clean up."
                            + " Fix: run the outbox migrations (OutboxBridgeMigrations.outbox or outboxPartitioned) or set"
                            + " OutboxCleanup.Builder.table(...) to the outbox table");
                }
                c.setAutoCommit(false);
                result = partitioned ? maintainPartitions(c) : deleteRows(c);
            } finally {
                if (!c.getAutoCommit()) {
                    c.rollback();
                }
                c.setAutoCommit(autoCommit);
            }
        } catch (SQLException e) {
            throw new OutboxException("Outbox cleanup of " + table + " failed (SQLState " + e.getSQLState() + "): "
                    + e.getMessage(), e);
        }
        synchronized (totalsLock) {
            totals = totals.plus(result);
        }
        return result;
    }

    @Override
    public Result totals() {
        synchronized (totalsLock) {
            return totals;
        }
    }

    private Boolean partitioned(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(?)")) {
            ps.setString(1, table.quoted());
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getBoolean(1) : null;
            }
        }
    }

    private Result deleteRows(Connection c) throws SQLException {
        OffsetDateTime cutoff = clock.instant().minus(retention).atOffset(ZoneOffset.UTC);
        long deleted = 0;
        while (state.get() != State.CLOSED && !Thread.currentThread().isInterrupted()) {
            limitTime(c, "statement_timeout", statementTimeout);
            int n;
            try (PreparedStatement ps = c.prepareStatement(deleteSql)) {
                ps.setObject(1, cutoff);
                ps.setInt(2, batchSize);
                running = ps;
                n = ps.executeUpdate();
            } finally {
                running = null;
            }
            c.commit();
            deleted += n;
            if (n < batchSize) {
                break;
            }
        }
        return new Result(deleted, 0, 0);
    }

    /** A day partition of the table: its bounds, null for DEFAULT, MINVALUE or MAXVALUE. */
    private record Partition(String schema, String name, Instant from, Instant to) {
        String quoted() {
            return TableName.quote(schema) + "." + TableName.quote(name);
        }
    }

    private Result maintainPartitions(Connection c) throws SQLException {
        String lockKey = "outbox-cleanup:" + table;
        try (PreparedStatement ps = c.prepareStatement("SELECT pg_try_advisory_lock(hashtext(?))")) {
            ps.setString(1, lockKey);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                if (!rs.getBoolean(1)) {
                    c.commit();
                    LOG.debug("Outbox cleanup of {}: another instance maintains the partitions now; skipped", table);
                    return new Result(0, 0, 0);
                }
            }
        }
        c.commit();
        try {
            return createAndDrop(c);
        } finally {
            c.rollback();
            try (PreparedStatement ps = c.prepareStatement("SELECT pg_advisory_unlock(hashtext(?))")) {
                ps.setString(1, lockKey);
                ps.execute();
            }
            c.commit();
        }
    }

    private Result createAndDrop(Connection c) throws SQLException {
        Instant now = clock.instant();
        List<Partition> partitions = partitions(c);
        int created = 0;
        LocalDate today = LocalDate.ofInstant(now, ZoneOffset.UTC);
        for (int i = 0; i <= partitionsAhead && state.get() != State.CLOSED; i++) {
            LocalDate day = today.plusDays(i);
            Instant from = day.atStartOfDay(ZoneOffset.UTC).toInstant();
            Instant to = day.plusDays(1).atStartOfDay(ZoneOffset.UTC).toInstant();
            boolean covered = partitions.stream().anyMatch(p -> p.from() != null && p.to() != null
                    && !p.from().isAfter(from) && !p.to().isBefore(to));
            if (covered) {
                continue;
            }
            Partition p = new Partition(table.schema(), table.table() + "_p" + DAY.format(day), from, to);
            String ddl = "CREATE TABLE " + p.quoted() + " PARTITION OF " + table.quoted() + " FOR VALUES FROM ('" + from
                    + "') TO ('" + to + "')";
            if (!ddl(c, ddl, p)) {
                return new Result(0, created, 0);
            }
            created++;
            LOG.info("Outbox cleanup of {}: created partition {} for [{}, {})", table, p.name(), from, to);
        }
        Instant cutoff = now.minus(retention);
        int dropped = 0;
        for (Partition p : partitions) {
            if (state.get() == State.CLOSED) {
                break;
            }
            if (p.to() == null || p.to().isAfter(cutoff)) {
                continue; // still within the retention, or no upper bound (DEFAULT, MAXVALUE): never dropped by age
            }
            if (!ddl(c, "DROP TABLE " + p.quoted(), p)) {
                break;
            }
            dropped++;
            LOG.info("Outbox cleanup of {}: dropped partition {} (rows before {}, retention {})", table, p.name(), p.to(), retention);
        }
        return new Result(0, created, dropped);
    }

    /** Runs one DDL statement in its own transaction; false if the table's lock was not granted within the lock timeout. */
    private boolean ddl(Connection c, String sql, Partition p) throws SQLException {
        limitTime(c, "statement_timeout", statementTimeout);
        limitTime(c, "lock_timeout", lockTimeout);
        try (Statement s = c.createStatement()) {
            running = s;
            s.execute(sql);
            c.commit();
            return true;
        } catch (SQLException e) {
            c.rollback();
            if (LOCK_NOT_AVAILABLE.equals(e.getSQLState())) {
                LOG.info("Outbox cleanup of {}: the table lock for partition {} was not granted within {} (busy"
                        + " transactions); trying again at the next run", table, p.name(), lockTimeout);
                return false;
            }
            String fix = INSUFFICIENT_PRIVILEGE.equals(e.getSQLState()) // also "must be owner of table"
                    ? "creating and dropping partitions needs the table's owner: run the job as the user that ran the migration"
                    : INVALID_DEFINITION.equals(e.getSQLState())
                            ? "partitions of " + table + " must be UTC day ranges as the outbox-partitioned migration creates"
                                    + " them; a partition added by hand that overlaps a day blocks its creation: drop or detach it"
                            : "see the cause";
            throw new SQLException(e.getMessage() + " [while running: " + sql + "]. Fix: " + fix, e.getSQLState(), e);
        } finally {
            running = null;
        }
    }

    private List<Partition> partitions(Connection c) throws SQLException {
        List<Partition> result = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT n.nspname, p.relname,"
                + " (regexp_match(pg_get_expr(p.relpartbound, p.oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz,"
                + " (regexp_match(pg_get_expr(p.relpartbound, p.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz"
                + " FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid JOIN pg_namespace n ON n.oid = p.relnamespace"
                + " WHERE i.inhparent = to_regclass(?) ORDER BY 4")) {
            ps.setString(1, table.quoted());
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    OffsetDateTime from = rs.getObject(3, OffsetDateTime.class);
                    OffsetDateTime to = rs.getObject(4, OffsetDateTime.class);
                    result.add(new Partition(rs.getString(1), rs.getString(2), from == null ? null : from.toInstant(),
                            to == null ? null : to.toInstant()));
                }
            }
        }
        c.commit();
        return result;
    }

    private static void limitTime(Connection c, String setting, Duration d) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT set_config(?, ?, true)")) {
            ps.setString(1, setting);
            ps.setString(2, d.toMillis() + "ms");
            ps.execute();
        }
    }

    @Override
    public synchronized void close() {
        State before = state.getAndSet(State.CLOSED);
        if (before == State.CLOSED || executor == null) {
            return;
        }
        executor.shutdown();
        long deadline = System.nanoTime() + shutdownTimeout.toNanos();
        try {
            if (!executor.awaitTermination(shutdownTimeout.toMillis(), TimeUnit.MILLISECONDS)) {
                LOG.warn("Outbox cleanup of {} did not stop within {}; cancelling its statement and interrupting {}", table,
                        shutdownTimeout, threadName);
                Statement s = running;
                if (s != null) {
                    try {
                        s.cancel();
                    } catch (SQLException e) {
                        LOG.warn("Could not cancel the outbox cleanup's statement: {}", e.getMessage());
                    }
                }
                executor.shutdownNow();
            }
            Thread t = worker;
            if (t != null) {
                // the executor is terminated once its task is done; the thread itself ends a moment later
                t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
        LOG.info("Outbox cleanup of {} stopped", table);
    }
}
