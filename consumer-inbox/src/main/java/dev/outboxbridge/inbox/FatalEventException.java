package dev.outboxbridge.inbox;

/**
 * Thrown by a handler for an event that can never succeed, whatever the number of attempts: a payload
 * its deserializer rejects, an event type it does not know, a violated business invariant. The
 * consumer sends such an event to the dead-letter topic at once, without retrying, records it as
 * dead-lettered in the inbox, and parks its key (later events of the same aggregate wait until an
 * operator redrives it; see {@link InboxConsumer#redrive(String, String, InboxConsumer.RedriveMode)}).
 *
 * <p>Other exceptions count as fatal too when the builder's
 * {@link InboxConsumer.Builder#fatalExceptions(java.util.Collection)} or
 * {@link InboxConsumer.Builder#fatalWhen(java.util.function.Predicate)} say so.
 */
public class FatalEventException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** @param message why the event can never be applied; goes into the dead-letter record's headers */
    public FatalEventException(String message) {
        super(message);
    }

    /**
     * @param message why the event can never be applied; goes into the dead-letter record's headers
     * @param cause e.g. the deserializer's exception
     */
    public FatalEventException(String message, Throwable cause) {
        super(message, cause);
    }

    /** For a handler that receives an event type it does not know. */
    public static FatalEventException unknownEventType(InboxEvent event) {
        return new FatalEventException("unknown event type '" + event.eventType() + "' of event " + event.id());
    }

    /** For a handler whose deserializer rejects the payload. */
    public static FatalEventException undeserializable(InboxEvent event, Throwable cause) {
        return new FatalEventException("the payload of event " + event.id() + " (type " + event.eventType()
                + ") cannot be deserialized: " + cause.getMessage(), cause);
    }
}
