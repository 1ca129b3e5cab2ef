package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.RelayException;

/** An outbox row that cannot become a valid Kafka record; the relay stops rather than skip it. */
final class MalformedOutboxRowException extends RelayException {

    private static final long serialVersionUID = 1L;

    public MalformedOutboxRowException(String message) {
        super("Malformed outbox row: " + message + ". The relay stopped before this event; nothing after it was published.");
    }
}
