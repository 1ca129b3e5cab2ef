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
import org.springframework.transaction.UnexpectedRollbackException;
import org.springframework.transaction.support.AbstractPlatformTransactionManager;
import org.springframework.transaction.support.DefaultTransactionDefinition;
import org.springframework.transaction.support.ResourceTransactionManager;
import org.springframework.transaction.support.TransactionSynchronizationManager;
import org.springframework.util.ClassUtils;

/**
 * Runs the inbox transaction (inbox insert + handler) as a Spring-managed transaction of a
 * {@link PlatformTransactionManager}, so that {@code JdbcTemplate}, jOOQ, JPA repositories and
 * {@code @Transactional} services called from the handler join it and commit or roll back together
 * with the inbox row. The connection given to the handler is the transaction's own.
 *
 * <p>Use {@link #handler(InboxHandler, boolean)} around the handler as well (the starter does). By default a batch's
 * events share one transaction optimistically, with no savepoint: the wrapped handler takes part in the inbox
 * transaction, and when an event fails the consumer rolls the whole transaction back (under JPA a new transaction
 * gets a new {@code EntityManager}), applies the events before it again and handles the failing one alone (see
 * {@link dev.outboxbridge.inbox.InboxConsumer.Builder#maxBatchSize(int)}). So that a failure is blamed on its event,
 * the wrapped handler flushes the transaction after each event (JPA: a constraint violation of the event's entities
 * surfaces there, not at commit) and fails the event if code it called marked the transaction rollback-only (e.g.
 * a {@code @Transactional} method that threw, whose exception the handler caught). Then it clears the persistence
 * context (JPA): each event's handler starts with an empty one, as in a transaction of its own.
 *
 * <p>With a savepoint per handler ({@code outbox.inbox.consumers.<name>.savepoint-per-handler}), each event's
 * handler runs in a nested transaction (a savepoint) instead, so a handler or a {@code @Transactional} service that
 * fails inside it rolls back only that event's work, and Spring's rollback-only mark is cleared with the savepoint.
 * That needs a manager of the DataSource itself ({@code JdbcTransactionManager}/{@code DataSourceTransactionManager},
 * nested transactions allowed, as by default: {@link #supportsSavepoints()} true); any other manager, e.g. a
 * {@code JpaTransactionManager} (Hibernate's persistence context is not rolled back with a savepoint, and its
 * JpaDialect has none), supports none and the consumer refuses the setting.
 * The transaction manager must bind the inbox's DataSource (a {@code JpaTransactionManager} does, given that
 * DataSource, as Boot's is), so that the inbox's own statements run in the same transaction.
 */
public final class SpringTransactionRunner implements TransactionRunner {

    private static final boolean JPA_PRESENT = ClassUtils.isPresent("org.springframework.orm.jpa.EntityManagerHolder",
            SpringTransactionRunner.class.getClassLoader());

    private final PlatformTransactionManager transactionManager;
    private final boolean savepoints;

    public SpringTransactionRunner(PlatformTransactionManager transactionManager) {
        this.transactionManager = Objects.requireNonNull(transactionManager, "transactionManager");
        this.savepoints = savepointsRollBackEverything(transactionManager);
    }

    /**
     * Whether a savepoint of the manager's transaction rolls back all a handler did: only when the manager's
     * resource is the DataSource (every write goes through its connection) and it opens nested transactions.
     */
    private static boolean savepointsRollBackEverything(PlatformTransactionManager manager) {
        if (!(manager instanceof ResourceTransactionManager r) || !(r.getResourceFactory() instanceof DataSource)) {
            return false;
        }
        return !(manager instanceof AbstractPlatformTransactionManager m) || m.isNestedTransactionAllowed();
    }

    /**
     * True for a transaction manager of the DataSource that allows nested transactions: each event's handler may then
     * run in a savepoint. False otherwise (JPA).
     */
    @Override
    public boolean supportsSavepoints() {
        return savepoints;
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
                        + "that transaction manager, or a transaction manager of the inbox's DataSource (a "
                        + "JpaTransactionManager exposes it when its DataSource is set, as Boot's is)");
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
     * transaction manager binds the data source's connection, and, when {@code savepointPerHandler}, a nested
     * transaction (a savepoint) can be opened in it. Opens and commits one empty transaction.
     *
     * @throws IllegalStateException naming the reason and the fix
     */
    public void verify(DataSource dataSource, boolean savepointPerHandler) {
        InboxHandler probe = handler((event, connection) -> { }, savepointPerHandler && savepoints);
        try {
            inTransaction(dataSource, connection -> {
                probe.handle(null, connection);
                return null;
            });
        } catch (NestedTransactionNotSupportedException e) {
            throw new IllegalStateException("Transaction manager " + transactionManager.getClass().getName()
                    + " allows nested transactions but cannot open one (" + e.getMessage() + "), which the inbox "
                    + "needs to roll back one event's handler without the rest of its batch. Fix: "
                    + "turn savepoint-per-handler off (batches then run optimistically, without savepoints), or use a "
                    + "JdbcTransactionManager/DataSourceTransactionManager of the DataSource", e);
        } catch (IllegalStateException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("Could not open a transaction of " + transactionManager.getClass().getName()
                    + " on the inbox's DataSource: " + e.getMessage(), e);
        }
    }

    /**
     * Wraps {@code handler} for the inbox transaction. By default each call takes part in the inbox transaction;
     * after it returns, the transaction is flushed (JPA: the event's entities are written now, so a constraint they
     * violate fails this event), and if the transaction is marked rollback-only the event fails with an
     * {@link UnexpectedRollbackException}: the consumer rolls the whole transaction back and applies the events
     * before it again. Otherwise the persistence context is cleared (JPA), so the next event's handler starts with
     * an empty one. With {@code savepointPerHandler} (the manager must {@linkplain #supportsSavepoints() support
     * savepoints}), each call runs in a nested Spring transaction (a savepoint) of the inbox transaction: when it
     * throws, only its own work is rolled back, and Spring's rollback-only mark set by a failing
     * {@code @Transactional} service inside it is cleared with the savepoint.
     *
     * @throws IllegalArgumentException if {@code savepointPerHandler} and the manager supports no savepoints
     */
    public InboxHandler handler(InboxHandler handler, boolean savepointPerHandler) {
        Objects.requireNonNull(handler, "handler");
        if (!savepointPerHandler) {
            return participating(handler);
        }
        if (!savepoints) {
            throw new IllegalArgumentException("savepoint-per-handler needs a transaction manager of the DataSource "
                    + "that allows nested transactions, but " + transactionManager.getClass().getName() + " supports no "
                    + "savepoints (e.g. JPA). Fix: turn savepoint-per-handler off; batches then run optimistically");
        }
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

    private InboxHandler participating(InboxHandler handler) {
        DefaultTransactionDefinition joined = new DefaultTransactionDefinition(TransactionDefinition.PROPAGATION_MANDATORY);
        joined.setName("outbox-inbox-handler");
        return (event, connection) -> {
            TransactionStatus status = transactionManager.getTransaction(joined);
            try {
                handler.handle(event, connection);
                status.flush();
                if (status.isRollbackOnly()) {
                    throw new UnexpectedRollbackException("Code called by the inbox handler" + (event == null ? ""
                            : " of event " + event.id() + " (" + event.eventType() + ")") + " marked the inbox "
                            + "transaction rollback-only (typically a @Transactional method that threw, whose "
                            + "exception the handler caught), so its work cannot commit. The transaction is rolled "
                            + "back and the event fails; the events before it are applied again. Fix: if the event "
                            + "should succeed although that method failed, run the method in a transaction of its own "
                            + "(REQUIRES_NEW) or declare noRollbackFor for the exception the handler handles");
                }
                clearPersistenceContext();
            } catch (Throwable failure) {
                rollback(status, failure); // marks the inbox transaction rollback-only: the consumer rolls it back
                throw failure;
            }
            transactionManager.commit(status);
        };
    }

    /** JPA: detaches the entities of the event just flushed; the next event starts with an empty persistence context. */
    private void clearPersistenceContext() {
        if (JPA_PRESENT && transactionManager instanceof ResourceTransactionManager r) {
            PersistenceContexts.clear(TransactionSynchronizationManager.getResource(r.getResourceFactory()));
        }
    }

    /** Kept apart so that spring-orm is loaded only when it is on the class path. */
    private static final class PersistenceContexts {
        static void clear(Object resource) {
            if (resource instanceof org.springframework.orm.jpa.EntityManagerHolder holder) {
                holder.getEntityManager().clear();
            }
        }
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
