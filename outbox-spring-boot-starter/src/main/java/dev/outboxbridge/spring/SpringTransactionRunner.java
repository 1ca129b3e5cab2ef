package dev.outboxbridge.spring;

import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.inbox.TransactionRunner;
import java.sql.Connection;
import java.util.Objects;
import javax.sql.DataSource;
import org.springframework.jdbc.datasource.DataSourceUtils;
import org.springframework.transaction.NestedTransactionNotSupportedException;
import org.springframework.transaction.PlatformTransactionManager;
import org.springframework.transaction.TransactionDefinition;
import org.springframework.transaction.TransactionStatus;
import org.springframework.transaction.support.AbstractPlatformTransactionManager;
import org.springframework.transaction.support.DefaultTransactionDefinition;
import org.springframework.transaction.support.TransactionSynchronizationManager;

/**
 * Runs the inbox transaction (inbox insert + handler) as a Spring-managed transaction of a
 * {@link PlatformTransactionManager}, so that {@code JdbcTemplate}, jOOQ, repositories and
 * {@code @Transactional} services called from the handler join it and commit or roll back together
 * with the inbox row. The connection given to the handler is the transaction's own.
 *
 * <p>Use {@link #handler(InboxHandler)} around the handler as well (the starter does): it runs each
 * event's handler in a nested transaction (a savepoint), so a {@code @Transactional} service that
 * fails inside the handler rolls back only that event's work, not the events of the batch before it.
 * The transaction manager must therefore allow nested transactions
 * ({@code JdbcTransactionManager}/{@code DataSourceTransactionManager} do by default).
 */
public final class SpringTransactionRunner implements TransactionRunner {

    private final PlatformTransactionManager transactionManager;

    public SpringTransactionRunner(PlatformTransactionManager transactionManager) {
        this.transactionManager = Objects.requireNonNull(transactionManager, "transactionManager");
        if (transactionManager instanceof AbstractPlatformTransactionManager m && !m.isNestedTransactionAllowed()) {
            throw new IllegalArgumentException("Transaction manager " + transactionManager.getClass().getName()
                    + " does not allow nested transactions, which the inbox needs to roll back one event's handler "
                    + "without the rest of the batch. Fix: setNestedTransactionAllowed(true) on it (JDBC savepoints), "
                    + "or give the inbox a JdbcTransactionManager of the same DataSource");
        }
    }

    @Override
    public <T> T inTransaction(DataSource dataSource, Work<T> work) throws Exception {
        if (TransactionSynchronizationManager.isActualTransactionActive()) {
            throw new IllegalStateException("The inbox transaction must be a transaction of its own, but thread '"
                    + Thread.currentThread().getName() + "' already has a Spring-managed transaction open");
        }
        DefaultTransactionDefinition definition =
                new DefaultTransactionDefinition(TransactionDefinition.PROPAGATION_REQUIRES_NEW);
        definition.setName("outbox-inbox");
        TransactionStatus status = transactionManager.getTransaction(definition);
        T result;
        try {
            if (TransactionSynchronizationManager.getResource(dataSource) == null) {
                throw new IllegalStateException("Transaction manager " + transactionManager.getClass().getName()
                        + " does not manage the inbox's DataSource (" + dataSource.getClass().getName() + "): the "
                        + "handler's writes would not commit with the inbox row. Fix: give the inbox the DataSource of "
                        + "that transaction manager, or a transaction manager of the inbox's DataSource");
            }
            Connection connection = DataSourceUtils.getConnection(dataSource);
            try {
                result = work.run(connection);
            } finally {
                DataSourceUtils.releaseConnection(connection, dataSource);
            }
        } catch (Throwable failure) {
            rollback(status, failure);
            throw failure;
        }
        transactionManager.commit(status);
        return result;
    }

    /**
     * Checks once, before any event, that this runner works on {@code dataSource}: a transaction of the
     * transaction manager binds the data source's connection, and a nested transaction (a savepoint)
     * can be opened in it. Opens and commits one empty transaction.
     *
     * @throws IllegalStateException naming the reason and the fix
     */
    public void verify(DataSource dataSource) {
        InboxHandler probe = handler((event, connection) -> { });
        try {
            inTransaction(dataSource, connection -> {
                probe.handle(null, connection);
                return null;
            });
        } catch (NestedTransactionNotSupportedException e) {
            throw new IllegalStateException("Transaction manager " + transactionManager.getClass().getName()
                    + " cannot open a nested transaction (" + e.getMessage() + "), which the inbox needs to roll back "
                    + "one event's handler without the rest of its batch. A JpaTransactionManager over Hibernate "
                    + "supports no savepoints: the starter cannot run inbox handlers in JPA transactions yet. Fix: "
                    + "use a JdbcTransactionManager/DataSourceTransactionManager of the DataSource", e);
        } catch (IllegalStateException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("Could not open a transaction of " + transactionManager.getClass().getName()
                    + " on the inbox's DataSource: " + e.getMessage(), e);
        }
    }

    /**
     * Wraps {@code handler} so that each call runs in a nested Spring transaction (a savepoint) of the
     * inbox transaction: when it throws, only its own work is rolled back, and Spring's rollback-only
     * mark set by a failing {@code @Transactional} service inside it is cleared with the savepoint.
     */
    public InboxHandler handler(InboxHandler handler) {
        Objects.requireNonNull(handler, "handler");
        DefaultTransactionDefinition nested = new DefaultTransactionDefinition(TransactionDefinition.PROPAGATION_NESTED);
        nested.setName("outbox-inbox-handler");
        return (event, connection) -> {
            TransactionStatus status = transactionManager.getTransaction(nested);
            try {
                handler.handle(event, connection);
            } catch (Throwable failure) {
                rollback(status, failure);
                throw failure;
            }
            transactionManager.commit(status);
        };
    }

    private void rollback(TransactionStatus status, Throwable failure) {
        try {
            transactionManager.rollback(status);
        } catch (RuntimeException | Error e) {
            failure.addSuppressed(e);
        }
    }

    @Override
    public String toString() {
        return "SpringTransactionRunner{" + transactionManager.getClass().getName() + '}';
    }
}
