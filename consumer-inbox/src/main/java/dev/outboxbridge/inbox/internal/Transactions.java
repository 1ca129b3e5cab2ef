package dev.outboxbridge.inbox.internal;

import java.sql.Connection;
import java.sql.SQLException;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Runs a body in one database transaction on a borrowed connection: commit on return, roll back on any throw. */
final class Transactions {

    private static final Logger LOG = LoggerFactory.getLogger(Transactions.class);

    /** A body of a transaction. */
    interface Body<T> {
        T run(Connection connection) throws Exception;
    }

    private Transactions() {
    }

    static <T> T inTransaction(DataSource dataSource, Body<T> body) throws Exception {
        try (Connection connection = dataSource.getConnection()) {
            boolean autoCommit = connection.getAutoCommit();
            connection.setAutoCommit(false);
            try {
                boolean committed = false;
                try {
                    T result = body.run(connection);
                    connection.commit();
                    committed = true;
                    return result;
                } finally {
                    if (!committed) {
                        rollback(connection);
                    }
                }
            } finally {
                restoreAutoCommit(connection, autoCommit);
            }
        }
    }

    private static void rollback(Connection connection) {
        try {
            if (!connection.isClosed()) {
                connection.rollback();
            }
        } catch (SQLException e) {
            LOG.debug("Rollback failed; closing the connection discards the transaction", e);
        }
    }

    private static void restoreAutoCommit(Connection connection, boolean autoCommit) {
        try {
            if (autoCommit && !connection.isClosed()) {
                connection.setAutoCommit(true);
            }
        } catch (SQLException e) {
            LOG.debug("Could not restore auto-commit", e);
        }
    }
}
