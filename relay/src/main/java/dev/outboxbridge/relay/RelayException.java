package dev.outboxbridge.relay;

/** A relay failure; the message names the cause and, where there is one, the fix. */
public class RelayException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public RelayException(String message) {
        super(message);
    }

    public RelayException(String message, Throwable cause) {
        super(message, cause);
    }
}
