package dev.outboxbridge.inbox;

/**
 * Headers the inbox consumer adds to a record it sends to the dead-letter topic, next to the
 * original record's key, value and headers. All values are UTF-8 strings.
 */
public final class DeadLetterHeaders {

    /** The topic the record was read from. */
    public static final String ORIGINAL_TOPIC = "outbox.dlt.original.topic";
    /** The partition the record was read from. */
    public static final String ORIGINAL_PARTITION = "outbox.dlt.original.partition";
    /** The record's offset. */
    public static final String ORIGINAL_OFFSET = "outbox.dlt.original.offset";
    /** The event id, when the record has a usable one (else absent). */
    public static final String EVENT_ID = "outbox.dlt.event.id";
    /** The consumer name that dead-lettered the record. */
    public static final String CONSUMER = "outbox.dlt.consumer";
    /**
     * Why: {@code handler-failed} (the handler kept failing: attempts exhausted),
     * {@code handler-fatal} (a fatal exception), or {@code bad-record} (no usable event id or a tombstone).
     */
    public static final String REASON = "outbox.dlt.reason";
    /** The class of the last exception. */
    public static final String EXCEPTION_CLASS = "outbox.dlt.exception.class";
    /** The message of the last exception (at most 4,000 characters). */
    public static final String EXCEPTION_MESSAGE = "outbox.dlt.exception.message";
    /** How many times the handler ran for the record (0 for a bad record). */
    public static final String ATTEMPTS = "outbox.dlt.attempts";

    /** Value of {@link #REASON}: the retriable failures exhausted the attempts. */
    public static final String REASON_HANDLER_FAILED = "handler-failed";
    /** Value of {@link #REASON}: the failure was classified as fatal. */
    public static final String REASON_HANDLER_FATAL = "handler-fatal";
    /** Value of {@link #REASON}: the record cannot be deduplicated (no usable id, or no value). */
    public static final String REASON_BAD_RECORD = "bad-record";

    private DeadLetterHeaders() {
    }
}
