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

/**
 * Applies one event in one database transaction: insert the inbox row, run the handler on the same
 * connection if the row is new, commit. Any failure rolls everything back. The transaction comes from
 * the consumer's {@link TransactionRunner} (default: a connection of the data source).
 */
final class InboxTransaction {

    private final String consumerName;
    private final DataSource dataSource;
    private final TransactionRunner transactions;
    private final InboxHandler handler;
    private final Sql sql;
    private final Clock clock;
    private final InboxCounters counters;

    InboxTransaction(String consumerName, DataSource dataSource, TransactionRunner transactions, Sql sql,
            InboxHandler handler, Clock clock, InboxCounters counters) {
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
     * insert ({@code ON CONFLICT DO NOTHING RETURNING event_id}), then the handler of each new event
     * in its own savepoint. When a handler throws, or {@code keepGoing} turns false, the transaction
     * keeps the events before it: the savepoint is rolled back, the inbox rows inserted for that
     * event and the ones after it are deleted, and the rest commits. Each event's handler runs at most
     * once per call, as in a transaction of its own.
     *
     * @return how many events (from the start of the run) committed, whether each was applied or a
     *         duplicate, and the handler's exception of the next one, if that is why the run ended
     * @throws HandlerMisuseException if a handler ended the transaction itself
     * @throws Exception if the database failed: nothing of the run committed
     */
    RunResult applyRun(List<InboxEvent> run, BooleanSupplier keepGoing) throws Exception {
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
