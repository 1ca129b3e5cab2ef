package dev.outboxbridge.relay;

/**
 * Headers the relay adds to a record it sends to {@code dead.letter.topic} instead of its own topic (a record Kafka
 * refuses for good: too large for its topic, invalid topic, not authorized), next to the record's own key and headers
 * ({@code id}, event type, aggregate type, the row's headers). The value is the original payload, or absent when the
 * record was too large (the outbox row still holds it, found by the {@code id} header). All values are UTF-8 strings.
 *
 * <p>The inbox consumer's dead-letter records use other headers: {@code dev.outboxbridge.inbox.DeadLetterHeaders}.
 */
public final class DeadLetterHeaders {

    /** Why Kafka refused the record: the exception, e.g. {@code RecordTooLargeException: ...}. */
    public static final String REASON = "outbox.dlq.reason";
    /** The topic the record was meant for. */
    public static final String ORIGINAL_TOPIC = "outbox.dlq.topic";

    private DeadLetterHeaders() {
    }
}
