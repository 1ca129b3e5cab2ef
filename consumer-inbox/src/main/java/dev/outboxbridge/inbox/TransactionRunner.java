package dev.outboxbridge.inbox;

import java.sql.Connection;
import javax.sql.DataSource;

/**
 * Where the inbox transaction comes from: runs a piece of work (the inbox insert, the
 * {@link InboxHandler}, the bookkeeping of parked keys) in one database transaction and commits it.
 * The default ({@link #jdbc()}) borrows a connection from the data source, turns auto-commit off,
 * commits when the work returns and rolls back when it throws. A framework integration supplies its
 * own with {@link InboxConsumer.Builder#transactionRunner(TransactionRunner)}, e.g. the Spring Boot
 * starter, which runs the work in a Spring-managed transaction so that {@code JdbcTemplate},
 * repositories and {@code @Transactional} services called from the handler join it.
 *
 * <p>Contract of {@link #inTransaction}:
 * <ul>
 * <li>give the work a connection of {@code dataSource} with auto-commit off, in a transaction of its
 * own (never one the calling thread already has open: the consumer's polling thread never has one);</li>
 * <li>when the work returns, commit, and return its result only once the commit succeeded; a failed
 * commit throws;</li>
 * <li>when the work throws, roll back and rethrow the very same exception (the consumer classifies it:
 * handler failure, fatal event, handler misuse);</li>
 * <li>leave savepoints the work sets on the connection alone (with
 * {@link InboxConsumer.Builder#savepointPerHandler(boolean)} the consumer rolls back one event's work to its
 * savepoint and commits the rest).</li>
 * </ul>
 * Only the transactions that run the handler go through this runner; the consumer's own bookkeeping
 * outside them (parking keys, retention cleanup, schema check) uses plain connections of the data source.
 */
public interface TransactionRunner {

    /** Work done inside one transaction, on the transaction's connection. */
    @FunctionalInterface
    interface Work<T> {
        T run(Connection connection) throws Exception;
    }

    /**
     * Runs {@code work} in one transaction on a connection of {@code dataSource} and commits it.
     *
     * @throws Exception the work's own exception (after rolling back), or the database's
     */
    <T> T inTransaction(DataSource dataSource, Work<T> work) throws Exception;

    /**
     * Whether rolling the connection back to a savepoint rolls back everything the handler's code did since,
     * so that the consumer may undo one event's work and commit the rest of the batch; default true (plain
     * JDBC, jOOQ, Spring's {@code JdbcTransactionManager}: every write goes through the connection).
     *
     * <p>Return false when the transaction holds state the database's savepoint cannot roll back, e.g. a JPA
     * transaction: Hibernate keeps the handler's entities and pending writes in its persistence context and
     * supports no savepoints. The consumer then refuses {@link InboxConsumer.Builder#savepointPerHandler(boolean)}
     * and runs batches optimistically (its default anyway): when an event's handler fails it rolls the whole
     * transaction back, applies the events before it again in a new transaction and handles the failing one as
     * usual (parked, retried or dead-lettered); if the commit of a batch fails (a constraint checked at commit),
     * it applies the batch in halves until it finds the event whose commit fails (see
     * {@link InboxConsumer.Builder#maxBatchSize(int)}).
     */
    default boolean supportsSavepoints() {
        return true;
    }

    /** The default: a connection borrowed from the data source, auto-commit off, commit or roll back, return it. */
    static TransactionRunner jdbc() {
        return dev.outboxbridge.inbox.internal.JdbcTransactionRunner.INSTANCE;
    }
}
