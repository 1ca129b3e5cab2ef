package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.inbox.TransactionRunner;
import javax.sql.DataSource;

/** The default {@link TransactionRunner}: {@link Transactions#inTransaction} on a connection of the data source. */
public final class JdbcTransactionRunner implements TransactionRunner {

    /** The one instance; use {@link TransactionRunner#jdbc()}. */
    public static final JdbcTransactionRunner INSTANCE = new JdbcTransactionRunner();

    private JdbcTransactionRunner() {
    }

    @Override
    public <T> T inTransaction(DataSource dataSource, Work<T> work) throws Exception {
        return Transactions.inTransaction(dataSource, work::run);
    }

    @Override
    public String toString() {
        return "TransactionRunner.jdbc()";
    }
}
