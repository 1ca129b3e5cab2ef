package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.db.TableName;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.InboxHandler;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies one event in one database transaction: insert the inbox row, run the handler on the same
 * connection if the row is new, commit. Any failure rolls everything back.
 */
final class InboxTransaction {

    private static final Logger LOG = LoggerFactory.getLogger(InboxTransaction.class);

    private final String consumerName;
    private final DataSource dataSource;
    private final InboxHandler handler;
    private final String insertSql;

    InboxTransaction(String consumerName, DataSource dataSource, TableName inboxTable, InboxHandler handler) {
        this.consumerName = consumerName;
        this.dataSource = dataSource;
        this.handler = handler;
        this.insertSql = "INSERT INTO " + inboxTable.quoted()
                + " (consumer_name, event_id, topic, kafka_partition, kafka_offset) VALUES (?, ?, ?, ?, ?)"
                + " ON CONFLICT DO NOTHING";
    }

    /**
     * Applies {@code event} unless the inbox already holds it.
     *
     * @return true if the handler ran and the transaction committed, false if the event was a
     *         duplicate (nothing written)
     * @throws HandlerMisuseException if the handler ended the transaction itself
     * @throws Exception from the database or the handler; the transaction is rolled back
     */
    boolean apply(InboxEvent event) throws Exception {
        try (Connection connection = dataSource.getConnection()) {
            boolean autoCommit = connection.getAutoCommit();
            connection.setAutoCommit(false);
            try {
                return applyInTransaction(event, connection);
            } finally {
                restoreAutoCommit(connection, autoCommit);
            }
        }
    }

    private boolean applyInTransaction(InboxEvent event, Connection connection) throws Exception {
        boolean committed = false;
        try {
            boolean inserted = insertInboxRow(event, connection);
            if (inserted) {
                handler.handle(event, connection);
                requireOpenTransaction(connection);
            }
            connection.commit();
            committed = true;
            return inserted;
        } finally {
            if (!committed) {
                rollback(connection);
            }
        }
    }

    private boolean insertInboxRow(InboxEvent event, Connection connection) throws SQLException {
        try (PreparedStatement ps = connection.prepareStatement(insertSql)) {
            ps.setString(1, consumerName);
            ps.setObject(2, event.id());
            ps.setString(3, event.topic());
            ps.setInt(4, event.partition());
            ps.setLong(5, event.offset());
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

    private void rollback(Connection connection) {
        try {
            if (!connection.isClosed()) {
                connection.rollback();
            }
        } catch (SQLException e) {
            LOG.debug("Inbox consumer '{}': rollback failed; closing the connection discards the transaction",
                    consumerName, e);
        }
    }

    private void restoreAutoCommit(Connection connection, boolean autoCommit) {
        try {
            if (autoCommit && !connection.isClosed()) {
                connection.setAutoCommit(true);
            }
        } catch (SQLException e) {
            LOG.debug("Inbox consumer '{}': could not restore auto-commit", consumerName, e);
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
