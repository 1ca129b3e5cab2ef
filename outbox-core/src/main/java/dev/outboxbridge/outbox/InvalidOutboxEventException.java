package dev.outboxbridge.outbox;

/** An event failed validation; nothing was written. The message names the field and the rule. */
public class InvalidOutboxEventException extends OutboxException {

    private static final long serialVersionUID = 1L;

    public InvalidOutboxEventException(String message) {
        super("Invalid outbox event: " + message);
    }

    InvalidOutboxEventException(String message, OutboxEvent event) {
        super("Invalid outbox event " + event + ": " + message);
    }
}
