package dev.outboxbridge.inbox;

/**
 * A Kafka record the inbox cannot apply exactly once: it has no usable event id or no value. The
 * consumer sends such a record to the dead-letter topic with reason
 * {@value DeadLetterHeaders#REASON_BAD_RECORD} and this exception's class and message in the
 * headers, and goes on with the next record.
 */
public final class UnprocessableRecordException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String topic;
    private final int partition;
    private final long offset;

    /**
     * @param topic the record's topic
     * @param partition the record's partition
     * @param offset the record's offset
     * @param message what is wrong and how to fix it
     */
    public UnprocessableRecordException(String topic, int partition, long offset, String message) {
        super(message);
        this.topic = topic;
        this.partition = partition;
        this.offset = offset;
    }

    /** The record's topic. */
    public String topic() {
        return topic;
    }

    /** The record's partition. */
    public int partition() {
        return partition;
    }

    /** The record's offset; the consumer group's committed offset of the partition is at most this. */
    public long offset() {
        return offset;
    }
}
