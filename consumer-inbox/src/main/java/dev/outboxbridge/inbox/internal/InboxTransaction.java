package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.db.FaultPoint;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.inbox.TransactionRunner;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Timestamp;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies one event in one database transaction: insert the inbox row, run the handler on the same
 * connection if the row is new, commit. Any failure rolls everything back. The transaction comes from
 * the consumer's {@link TransactionRunner} (default: a connection of the data source).
 *
 * <p>A run of events shares one transaction ({@link #applyRun}), in one of two ways:
 * <ul>
 * <li>optimistically (the default, and the only way when the runner
 * {@linkplain TransactionRunner#supportsSavepoints() has no savepoints}, e.g. a JPA transaction whose
 * persistence context a savepoint would not roll back): the run is applied in one transaction with no
 * savepoint, so a batch costs one inbox insert, the handlers' own statements and one commit. When the
 * handler of event k throws, the whole transaction is rolled back (and with it an ORM's session), events
 * {@code [0, k)} are applied again in a new transaction, and k's failure is reported as with savepoints: k's
 * handler ran once, on the same state (the events before it applied, uncommitted), so the failure is k's.
 * When the work returns but the commit fails (a deferred constraint, or an ORM that flushes at commit), the
 * run is applied in halves, recursively, until a transaction of one new event fails at commit: a data or
 * constraint error ({@link #isEventsFault}) is then that event's failure, anything else the database's.
 * Cost: after a handler failure at k, the handlers of the new events before k run a second time (one more
 * transaction); a commit failure costs about {@code 2 log2(n)} transactions; nothing without failures.</li>
 * <li>with a savepoint per handler (opted in with {@code savepointPerHandler(true)}, runners with
 * savepoints only): each handler runs in a savepoint; a failing handler's savepoint is rolled back and the
 * events before it commit. Every handler runs once per call, at the cost of two more round trips per event
 * ({@code SAVEPOINT}, {@code RELEASE SAVEPOINT}).</li>
 * </ul>
 * Either way an event's effects commit with its inbox row, and the result is the same as if each event had
 * a transaction of its own: events {@code [0, committed)} committed, in order, the failure is of the next.
 */
final class InboxTransaction {

    private static final Logger LOG = LoggerFactory.getLogger(InboxTransaction.class);

    private final String consumerName;
    private final DataSource dataSource;
    private final TransactionRunner transactions;
    private final InboxHandler handler;
    private final Sql sql;
    private final Clock clock;
    private final boolean savepointPerHandler;
    private final InboxCounters counters;

    InboxTransaction(String consumerName, DataSource dataSource, TransactionRunner transactions, Sql sql,
            InboxHandler handler, Clock clock, InboxCounters counters, boolean savepointPerHandler) {
        if (savepointPerHandler && !transactions.supportsSavepoints()) {
            throw new IllegalArgumentException("savepointPerHandler needs a TransactionRunner with savepoints");
        }
        this.savepointPerHandler = savepointPerHandler;
        this.consumerName = consumerName;
        this.dataSource = dataSource;
        this.transactions = transactions;
        this.handler = handler;
        this.sql = sql;
        this.clock = clock;
        this.counters = counters;
    }

    /**
     * Applies {@code event} unless the inbox already holds it (applied or dead-lettered).
     *
     * @return true if the handler ran and the transaction committed, false if the event was a
     *         duplicate (nothing written)
     * @throws HandlerMisuseException if the handler ended the transaction itself
     * @throws Exception from the database or the handler; the transaction is rolled back
     */
    boolean apply(InboxEvent event) throws Exception {
        boolean applied = transactions.inTransaction(dataSource, connection -> {
            boolean inserted = insertInboxRow(sql.insertInbox, event, connection);
            if (inserted) {
                runHandler(event, connection);
            }
            FaultPoint.INBOX_BEFORE_DB_COMMIT.reached();
            return inserted;
        });
        FaultPoint.INBOX_AFTER_DB_COMMIT.reached();
        return applied;
    }

    /**
     * Applies a run of consecutive events of one partition in one transaction: one multi-row inbox
     * insert ({@code ON CONFLICT DO NOTHING RETURNING event_id}), then the handler of each new event.
     * When a handler throws, or {@code keepGoing} turns false, the events before it commit (the inbox
     * rows inserted for that event and the ones after it are deleted) and the failure is reported as
     * that event's, as if each event had a transaction of its own. Optimistically (the default) a
     * handler failure costs a redo of the events before it; with a savepoint per handler only the
     * failing handler's work is rolled back (see the class comment).
     *
     * @return how many events (from the start of the run) committed, whether each was applied or a
     *         duplicate, and the handler's exception of the next one, if that is why the run ended
     * @throws HandlerMisuseException if a handler ended the transaction itself
     * @throws Exception if the database failed: nothing of the run committed
     */
    RunResult applyRun(List<InboxEvent> run, BooleanSupplier keepGoing) throws Exception {
        return savepointPerHandler ? applyRunWithSavepoints(run, keepGoing) : applyRunOptimistically(run, keepGoing);
    }

    private RunResult applyRunWithSavepoints(List<InboxEvent> run, BooleanSupplier keepGoing) throws Exception {
        RunResult result = transactions.inTransaction(dataSource, connection -> {
            Set<UUID> inserted = insertInboxRows(run, connection);
            Set<UUID> claimed = new HashSet<>();
            boolean[] applied = new boolean[run.size()];
            int done = 0;
            Exception failure = null;
            for (; done < run.size(); done++) {
                if (!keepGoing.getAsBoolean()) {
                    break;
                }
                InboxEvent event = run.get(done);
                if (!inserted.contains(event.id()) || claimed.contains(event.id())) {
                    continue; // a duplicate: already in the inbox, or earlier in this run
                }
                Savepoint savepoint = connection.setSavepoint();
                try {
                    runHandler(event, connection);
                } catch (HandlerMisuseException e) {
                    throw e;
                } catch (Exception e) {
                    connection.rollback(savepoint);
                    failure = e;
                    break;
                }
                connection.releaseSavepoint(savepoint);
                claimed.add(event.id());
                applied[done] = true;
            }
            Set<UUID> undo = new HashSet<>();
            for (int i = done; i < run.size(); i++) {
                UUID id = run.get(i).id();
                if (inserted.contains(id) && !claimed.contains(id)) {
                    undo.add(id);
                }
            }
            deleteInboxRows(new ArrayList<>(undo), connection);
            FaultPoint.INBOX_BEFORE_DB_COMMIT.reached();
            return new RunResult(done, applied, failure);
        });
        FaultPoint.INBOX_AFTER_DB_COMMIT.reached();
        return result;
    }

    /** The outcome of {@link #applyRun}: events {@code [0, committed)} committed; {@code failure} is of event {@code committed}. */
    record RunResult(int committed, boolean[] applied, Exception failure) {
    }

    /**
     * {@link #applyRun} without savepoints: the run in one transaction; a handler failure rolls
     * it all back and the events before the failing one are applied again; a failed commit splits the run. See the
     * class comment.
     */
    private RunResult applyRunOptimistically(List<InboxEvent> run, BooleanSupplier keepGoing) throws Exception {
        Attempt attempt = new Attempt();
        RunResult result;
        try {
            result = transactions.inTransaction(dataSource, connection -> {
                Set<UUID> inserted = insertInboxRows(run, connection);
                attempt.inserted = inserted;
                Set<UUID> claimed = new HashSet<>();
                boolean[] applied = new boolean[run.size()];
                int done = 0;
                for (; done < run.size(); done++) {
                    if (!keepGoing.getAsBoolean()) {
                        break;
                    }
                    InboxEvent event = run.get(done);
                    if (!inserted.contains(event.id()) || claimed.contains(event.id())) {
                        continue; // a duplicate: already in the inbox, or earlier in this run
                    }
                    try {
                        runHandler(event, connection);
                    } catch (HandlerMisuseException e) {
                        throw e;
                    } catch (Exception e) {
                        throw new HandlerFailed(done, e); // the runner rolls the whole transaction back
                    }
                    claimed.add(event.id());
                    applied[done] = true;
                }
                Set<UUID> undo = new HashSet<>();
                for (int i = done; i < run.size(); i++) {
                    UUID id = run.get(i).id();
                    if (inserted.contains(id) && !claimed.contains(id)) {
                        undo.add(id);
                    }
                }
                deleteInboxRows(new ArrayList<>(undo), connection);
                FaultPoint.INBOX_BEFORE_DB_COMMIT.reached();
                attempt.worked = new RunResult(done, applied, null);
                return attempt.worked;
            });
        } catch (HandlerFailed failed) {
            return applyBeforeFailure(run, failed.index, failed.failure, attempt.inserted, keepGoing);
        } catch (Exception e) {
            if (attempt.worked == null) {
                throw e; // the database failed before the commit, or a handler misused it: nothing committed
            }
            return commitFailed(run, attempt.worked, e, keepGoing);
        }
        FaultPoint.INBOX_AFTER_DB_COMMIT.reached();
        return result;
    }

    /**
     * The handler of {@code run.get(failedAt)} threw and the whole transaction was rolled back: applies the events
     * before it again, in a transaction of their own, then reports its failure as if it had run in a savepoint. If
     * the events before it were all duplicates, nothing needs to be written again.
     */
    private RunResult applyBeforeFailure(List<InboxEvent> run, int failedAt, Exception failure, Set<UUID> inserted,
            BooleanSupplier keepGoing) throws Exception {
        boolean anyNew = false;
        for (int i = 0; i < failedAt && !anyNew; i++) {
            anyNew = inserted.contains(run.get(i).id());
        }
        if (!anyNew) {
            return new RunResult(failedAt, new boolean[run.size()], failure);
        }
        LOG.debug("Inbox consumer '{}': the handler of event {} failed in a transaction without savepoints; rolled "
                + "back, applying the {} event(s) before it again", consumerName, run.get(failedAt).id(), failedAt);
        RunResult before = applyRunOptimistically(run.subList(0, failedAt), keepGoing);
        if (before.committed() < failedAt || before.failure() != null) {
            // out of time, or an event before it failed this time: the failed event is read and run again later
            return widen(before, run.size());
        }
        return new RunResult(failedAt, widen(before, run.size()).applied(), failure);
    }

    /**
     * The work of {@code worked} returned but its commit failed. With one new event in it, the failure is that
     * event's if the database refused its data ({@link #isEventsFault}), else the database's (rethrown: nothing
     * committed, the run is retried in place). With more, the run is applied in two halves, each recursively so,
     * to find the event whose commit fails.
     */
    private RunResult commitFailed(List<InboxEvent> run, RunResult worked, Exception failure,
            BooleanSupplier keepGoing) throws Exception {
        List<Integer> applied = new ArrayList<>();
        for (int i = 0; i < worked.committed(); i++) {
            if (worked.applied()[i]) {
                applied.add(i);
            }
        }
        if (applied.isEmpty()) {
            throw failure;
        }
        if (applied.size() == 1) {
            if (!isEventsFault(failure)) {
                throw failure;
            }
            // the events before it are duplicates: done
            return new RunResult(applied.get(0), new boolean[run.size()], failure);
        }
        int half = applied.get(applied.size() / 2);
        LOG.debug("Inbox consumer '{}': the commit of {} events failed in a transaction without savepoints; applying "
                + "them in halves to find the event it failed for", consumerName, applied.size(), failure);
        RunResult left = applyRunOptimistically(run.subList(0, half), keepGoing);
        if (left.committed() < half || left.failure() != null) {
            return widen(left, run.size());
        }
        RunResult right;
        try {
            right = applyRunOptimistically(run.subList(half, worked.committed()), keepGoing);
        } catch (Exception e) {
            // the first half committed; the next run starts after it and meets this failure again
            LOG.debug("Inbox consumer '{}': applying the second half failed; the first {} events committed",
                    consumerName, half, e);
            return widen(left, run.size());
        }
        boolean[] both = widen(left, run.size()).applied();
        System.arraycopy(right.applied(), 0, both, half, right.committed());
        return new RunResult(half + right.committed(), both, right.failure());
    }

    /** {@code result} with its {@code applied} flags copied into an array of {@code size}. */
    private static RunResult widen(RunResult result, int size) {
        boolean[] applied = new boolean[size];
        System.arraycopy(result.applied(), 0, applied, 0, result.committed());
        return new RunResult(result.committed(), applied, result.failure());
    }

    /**
     * Whether a failed commit of one event's transaction is the event's fault: PostgreSQL refused its data (SQLSTATE
     * class 22 data exception, 23 integrity constraint violation, 27 triggered data change violation, P0 raised by a
     * PL/pgSQL trigger) anywhere in the cause chain. Anything else (connection lost, serialization failure) is the
     * database's and retried in place.
     */
    static boolean isEventsFault(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof SQLException e && e.getSQLState() != null) {
                String state = e.getSQLState();
                if (state.startsWith("22") || state.startsWith("23") || state.startsWith("27")
                        || state.startsWith("P0")) {
                    return true;
                }
            }
        }
        return false;
    }

    /** What the work of one transaction without savepoints got to, for when the runner throws. */
    private static final class Attempt {
        Set<UUID> inserted = Set.of();
        RunResult worked;
    }

    /** Carries a handler's exception out of the work, so that the runner rolls the whole transaction back. */
    private static final class HandlerFailed extends Exception {
        private static final long serialVersionUID = 1L;
        final int index;
        final transient Exception failure;

        HandlerFailed(int index, Exception failure) {
            super("handler of event " + index + " of the run failed", failure, false, false);
            this.index = index;
            this.failure = failure;
        }
    }

    private Set<UUID> insertInboxRows(List<InboxEvent> run, Connection connection) throws SQLException {
        UUID[] ids = new UUID[run.size()];
        Long[] offsetsOf = new Long[run.size()];
        for (int i = 0; i < run.size(); i++) {
            ids[i] = run.get(i).id();
            offsetsOf[i] = run.get(i).offset();
        }
        Set<UUID> inserted = new HashSet<>();
        Array idArray = connection.createArrayOf("uuid", ids);
        Array offsetArray = connection.createArrayOf("bigint", offsetsOf);
        try (PreparedStatement ps = connection.prepareStatement(sql.insertInboxBatch)) {
            ps.setString(1, consumerName);
            ps.setString(2, run.get(0).topic());
            ps.setInt(3, run.get(0).partition());
            ps.setTimestamp(4, Timestamp.from(clock.instant()));
            ps.setArray(5, idArray);
            ps.setArray(6, offsetArray);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    inserted.add(rs.getObject(1, UUID.class));
                }
            }
        } finally {
            idArray.free();
            offsetArray.free();
        }
        return inserted;
    }

    private void deleteInboxRows(List<UUID> ids, Connection connection) throws SQLException {
        if (ids.isEmpty()) {
            return;
        }
        Array idArray = connection.createArrayOf("uuid", ids.toArray(new UUID[0]));
        try (PreparedStatement ps = connection.prepareStatement(sql.deleteInboxRows)) {
            ps.setString(1, consumerName);
            ps.setArray(2, idArray);
            ps.executeUpdate();
        } finally {
            idArray.free();
        }
    }

    /**
     * Applies the head event of a parked key and removes it from the parked events; unparks the
     * key when it was the last one. A dead-lettered inbox row of the event is revived (redrive).
     */
    ParkedApply applyParked(InboxEvent event, ParkedKey key) throws Exception {
        ParkedApply result = transactions.inTransaction(dataSource, connection -> {
            // the key's row first (as ParkedStore.parkBehind does): the check for stored events below then sees every
            // event another member stored behind the key, and the lock order is the same in both
            ParkedStore.lockKey(connection, sql, consumerName, key.topic(), key.key());
            boolean inserted = insertInboxRow(sql.insertInboxOrRevive, event, connection);
            if (inserted) {
                runHandler(event, connection);
            }
            try (PreparedStatement ps = connection.prepareStatement(sql.deleteParkedEvent)) {
                ps.setString(1, consumerName);
                ps.setObject(2, event.id());
                ps.executeUpdate();
            }
            boolean unparked;
            try (PreparedStatement ps = connection.prepareStatement(sql.deleteKeyIfEmpty)) {
                ps.setString(1, consumerName);
                ps.setString(2, key.topic());
                ps.setString(3, key.key());
                unparked = ps.executeUpdate() == 1;
            }
            if (!unparked) {
                try (PreparedStatement ps = connection.prepareStatement(sql.resetAttempts)) {
                    ps.setTimestamp(1, Timestamp.from(clock.instant()));
                    ps.setString(2, consumerName);
                    ps.setString(3, key.topic());
                    ps.setString(4, key.key());
                    ps.executeUpdate();
                }
            }
            FaultPoint.INBOX_BEFORE_DB_COMMIT.reached();
            return new ParkedApply(inserted, unparked);
        });
        FaultPoint.INBOX_AFTER_DB_COMMIT.reached();
        return result;
    }

    /** What {@link #applyParked} did: whether the handler ran, and whether the key is unparked now. */
    record ParkedApply(boolean applied, boolean unparked) {
    }

    private void runHandler(InboxEvent event, Connection connection) throws Exception {
        long start = System.nanoTime();
        try {
            handler.handle(event, connection);
        } finally {
            counters.handlerLatency(System.nanoTime() - start);
        }
        requireOpenTransaction(connection);
    }

    private boolean insertInboxRow(String statement, InboxEvent event, Connection connection) throws SQLException {
        try (PreparedStatement ps = connection.prepareStatement(statement)) {
            ps.setString(1, consumerName);
            ps.setObject(2, event.id());
            ps.setString(3, event.topic());
            ps.setInt(4, event.partition());
            ps.setLong(5, event.offset());
            ps.setTimestamp(6, Timestamp.from(clock.instant()));
            return ps.executeUpdate() == 1;
        }
    }

    private void requireOpenTransaction(Connection connection) throws SQLException {
        if (connection.isClosed() || connection.getAutoCommit()) {
            throw new HandlerMisuseException("The handler of inbox consumer '" + consumerName + "' closed the "
                    + "connection or turned auto-commit on, which ends the inbox transaction early: the inbox row and "
                    + "the side effects no longer commit together. Fix: write through the given connection and leave "
                    + "commit, rollback, close and auto-commit to the inbox consumer");
        }
    }

    /** The handler broke the transaction contract; retrying cannot help. */
    static final class HandlerMisuseException extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        HandlerMisuseException(String message) {
            super(message);
        }
    }
}
