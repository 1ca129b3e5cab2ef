package dev.outboxbridge.outbox;

/**
 * The connection is in auto-commit mode, so the outbox row would commit on its own, apart from the
 * business rows: an event could be published for a change that is later rolled back, or lost for
 * one that committed. Nothing was written.
 */
public class NotInTransactionException extends OutboxException {

    private static final long serialVersionUID = 1L;

    public NotInTransactionException(String message) {
        super(message);
    }
}
