package dev.outboxbridge.db;

/** The outbox or inbox table is missing or does not have the expected columns; the message says what to fix. */
public class SchemaMismatchException extends IllegalStateException {

    private static final long serialVersionUID = 1L;

    public SchemaMismatchException(String message) {
        super(message);
    }
}
