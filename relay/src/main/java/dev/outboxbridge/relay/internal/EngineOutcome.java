package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;

/**
 * What the end of the Debezium engine means for the relay: a stop it asked for, the race of its own stop, or a
 * failure, translated into a {@link RelayException} that names the cause and the fix.
 */
final class EngineOutcome {

    private EngineOutcome() {
    }

    /**
     * True when close() stopped Debezium's record pool before its polling thread: changes polled in between are
     * rejected. The publisher had already stopped, so nothing was sent or marked for them.
     */
    static boolean isShutdownRace(Throwable error) {
        for (Throwable t = error; t != null; t = t.getCause()) {
            if (t instanceof java.util.concurrent.RejectedExecutionException || t instanceof InterruptedException
                    || t instanceof java.util.concurrent.CancellationException) {
                return true;
            }
        }
        return false;
    }

    /** The failure the engine ended with (error may be null: then its message), with what to do about it. */
    static Throwable failure(RelayConfig config, String message, Throwable error) {
        Throwable cause = error != null ? rootRelayException(error) : new RelayException("Debezium engine stopped: " + message);
        if (cause.getMessage() != null && (cause.getMessage().contains("can no longer get changes from replication slot")
                || cause.getMessage().contains("has been invalidated"))) {
            return Preflight.slotLost(config.slotName());
        }
        if (cause.getMessage() != null && cause.getMessage().contains("no longer available on the server")) {
            return new RelayException("The stored position is behind replication slot '" + config.slotName() + "': the slot was"
                    + " dropped and recreated (or advanced by hand), or PostgreSQL failed over to a standby that did not have it"
                    + " (no failover slot: PostgreSQL < 17, " + RelayConfig.SLOT_FAILOVER + "=false, or a standby without"
                    + " sync_replication_slots) and a new slot was created there; the WAL in between is gone, so outbox events committed"
                    + " in between may never have been published. The relay refuses to resume from a wrong position. Fix: find"
                    + " and republish the outbox rows committed since the relay last ran, then reset the stored position (point "
                    + RelayConfig.OFFSET_STORAGE_TOPIC + " at a new topic, or delete " + RelayConfig.OFFSET_FILE
                    + ") and restart; see " + FailoverSlots.RUNBOOK + ". Debezium said: " + cause.getMessage(), cause);
        }
        return cause;
    }

    private static Throwable rootRelayException(Throwable error) {
        for (Throwable t = error; t != null; t = t.getCause()) {
            if (t instanceof RelayException) {
                return t;
            }
        }
        return error;
    }
}
