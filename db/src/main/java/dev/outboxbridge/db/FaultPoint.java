package dev.outboxbridge.db;

import java.util.ServiceLoader;

/**
 * Named boundaries in the relay and the inbox consumer where a fault test can cut a process at a
 * precise place (after a send but before its acknowledgement, between the database commit and the
 * offset commit, ...) instead of at a random time.
 *
 * <p>{@link #reached()} is a no-op unless a {@link FaultHook} is registered on the classpath (only
 * {@code outbox-test-support} registers one, for the fault tests): then, and only then, the hook
 * decides, for example to halt the JVM where the fault test armed it. With no hook the call is a
 * test of a {@code static final} null that the JIT removes. Not a setting of the relay or the
 * consumer.
 *
 * <p>It lives in {@code outbox-db} because that is the one module both the relay and
 * {@code consumer-inbox} depend on.
 */
public enum FaultPoint {
    /** Relay: every record of a batch was handed to the producer; no acknowledgement waited for yet. Once per batch. */
    RELAY_AFTER_SEND("relay.after-send"),
    /** Relay: Kafka acknowledged a record; it is not yet marked processed. Once per acknowledged record. */
    RELAY_AFTER_ACK("relay.after-ack"),
    /**
     * Relay: records are marked processed; their position is about to be written to the position topic. Once per flush.
     * (With delivery.guarantee=exactly_once the position was written in the batch's transaction; the flush writes nothing.)
     */
    RELAY_BEFORE_POSITION_FLUSH("relay.before-position-flush"),
    /**
     * Relay: Kafka acknowledged the position write; the slot is not yet told the position
     * (Debezium confirms it to PostgreSQL after the flush). Once per flush.
     */
    RELAY_AFTER_POSITION_FLUSH("relay.after-position-flush"),
    /**
     * Relay with delivery.guarantee=exactly_once: the Kafka transaction of a batch (its events and the position after
     * them) committed; nothing is marked processed yet and the slot is not told. Once per batch.
     */
    RELAY_AFTER_TRANSACTION_COMMIT("relay.after-transaction-commit"),
    /** Inbox: the inbox rows and the handlers' writes are done; the database transaction is about to commit. */
    INBOX_BEFORE_DB_COMMIT("inbox.before-db-commit"),
    /** Inbox: the database transaction committed; its offsets are not yet recorded, let alone committed. */
    INBOX_AFTER_DB_COMMIT("inbox.after-db-commit"),
    /** Inbox: the offsets of committed records are about to be sent to Kafka (commitSync). */
    INBOX_BEFORE_OFFSET_COMMIT("inbox.before-offset-commit"),
    /** Inbox: Kafka stored the offsets; the consumer halts inside its commit, before it records that. */
    INBOX_AFTER_OFFSET_COMMIT("inbox.after-offset-commit");

    /** The registered hook, or null (always in production): found once, when the first point is reached. */
    private static final FaultHook HOOK = ServiceLoader.load(FaultHook.class, FaultPoint.class.getClassLoader())
            .findFirst().orElse(null);

    private final String id;

    FaultPoint(String id) {
        this.id = id;
    }

    /** The point's name in a fault test's spec, e.g. {@code relay.after-ack}. */
    public String id() {
        return id;
    }

    /** Marks that this point was reached: tells the registered {@link FaultHook}, if there is one; otherwise nothing. */
    public void reached() {
        if (HOOK != null) {
            HOOK.reached(this);
        }
    }
}
