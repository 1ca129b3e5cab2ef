package dev.outboxbridge.inbox;

import dev.outboxbridge.db.OutboxRecordFormat;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;

/**
 * One outbox event as read from Kafka, handed to an {@link InboxHandler}. Immutable.
 *
 * <p>The relay maps an outbox row to a record as: key = aggregate id, value = payload, header
 * {@value #ID_HEADER} = event id, {@value #EVENT_TYPE_HEADER} = event type,
 * {@value #AGGREGATE_TYPE_HEADER} = aggregate type, and the row's own headers, all UTF-8 strings;
 * the record timestamp is the commit time of the producer's transaction.
 *
 * <p>{@link #builder()} creates events for handler unit tests.
 */
public final class InboxEvent {

    /** Header holding the event id, a UUID. */
    public static final String ID_HEADER = OutboxRecordFormat.HEADER_ID;
    /** Header holding the event type. */
    public static final String EVENT_TYPE_HEADER = OutboxRecordFormat.HEADER_EVENT_TYPE;
    /** Header holding the aggregate type. */
    public static final String AGGREGATE_TYPE_HEADER = OutboxRecordFormat.HEADER_AGGREGATE_TYPE;

    private final UUID id;
    private final String eventType;
    private final String aggregateType;
    private final String key;
    private final byte[] payload;
    private final Map<String, String> headers;
    private final String topic;
    private final int partition;
    private final long offset;
    private final Instant committedAt;

    private InboxEvent(Builder b) {
        this.id = Objects.requireNonNull(b.id, "id");
        this.eventType = b.eventType;
        this.aggregateType = b.aggregateType;
        this.key = b.key;
        this.payload = Objects.requireNonNull(b.payload, "payload").clone();
        this.headers = Collections.unmodifiableMap(new LinkedHashMap<>(b.headers));
        this.topic = Objects.requireNonNull(b.topic, "topic");
        this.partition = b.partition;
        this.offset = b.offset;
        this.committedAt = b.committedAt;
    }

    /** A builder for events, e.g. to unit-test a handler. */
    public static Builder builder() {
        return new Builder();
    }

    /** The event id (header {@value #ID_HEADER}); the inbox dedupes on it. */
    public UUID id() {
        return id;
    }

    /** The event type (header {@value #EVENT_TYPE_HEADER}), or null if the record has none. */
    public String eventType() {
        return eventType;
    }

    /** The aggregate type (header {@value #AGGREGATE_TYPE_HEADER}), or null if the record has none. */
    public String aggregateType() {
        return aggregateType;
    }

    /** The record key decoded as UTF-8: the aggregate id; null if the record has no key. */
    public String key() {
        return key;
    }

    /** The payload (the record value); a copy. */
    public byte[] payload() {
        return payload.clone();
    }

    /** The payload decoded as UTF-8. */
    public String payloadAsString() {
        return new String(payload, StandardCharsets.UTF_8);
    }

    /**
     * The custom headers, decoded as UTF-8, in record order; the last value wins for a repeated name.
     * Excludes {@value #ID_HEADER}, {@value #EVENT_TYPE_HEADER} and {@value #AGGREGATE_TYPE_HEADER},
     * which have their own accessors, and headers without a value. Unmodifiable.
     */
    public Map<String, String> headers() {
        return headers;
    }

    /** The Kafka topic the event was read from. */
    public String topic() {
        return topic;
    }

    /** The Kafka partition the event was read from. */
    public int partition() {
        return partition;
    }

    /** The record's Kafka offset. */
    public long offset() {
        return offset;
    }

    /**
     * The record timestamp: the commit time of the producer's transaction for records the relay
     * produced (unless the topic uses {@code message.timestamp.type=LogAppendTime}); null if the
     * record has no timestamp.
     */
    public Instant committedAt() {
        return committedAt;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof InboxEvent e && id.equals(e.id) && Objects.equals(eventType, e.eventType)
                && Objects.equals(aggregateType, e.aggregateType) && Objects.equals(key, e.key)
                && Arrays.equals(payload, e.payload) && headers.equals(e.headers) && topic.equals(e.topic)
                && partition == e.partition && offset == e.offset && Objects.equals(committedAt, e.committedAt);
    }

    @Override
    public int hashCode() {
        return Objects.hash(id, topic, partition, offset);
    }

    /** Names the event and its position; never includes the payload. */
    @Override
    public String toString() {
        return "InboxEvent{id=" + id + ", eventType=" + eventType + ", aggregateType=" + aggregateType
                + ", key=" + key + ", at=" + topic + '-' + partition + '@' + offset
                + ", committedAt=" + committedAt + ", payloadBytes=" + payload.length + '}';
    }

    /** Builds an {@link InboxEvent}; {@code id}, {@code payload} and {@code topic} are required. */
    public static final class Builder {
        private UUID id;
        private String eventType;
        private String aggregateType;
        private String key;
        private byte[] payload;
        private final Map<String, String> headers = new LinkedHashMap<>();
        private String topic;
        private int partition;
        private long offset;
        private Instant committedAt;

        private Builder() {
        }

        /** Required: the event id. */
        public Builder id(UUID id) {
            this.id = id;
            return this;
        }

        /** The event type; optional. */
        public Builder eventType(String eventType) {
            this.eventType = eventType;
            return this;
        }

        /** The aggregate type; optional. */
        public Builder aggregateType(String aggregateType) {
            this.aggregateType = aggregateType;
            return this;
        }

        /** The aggregate id (record key); optional. */
        public Builder key(String key) {
            this.key = key;
            return this;
        }

        /** The payload; copied. */
        public Builder payload(byte[] payload) {
            this.payload = payload;
            return this;
        }

        /** The payload, encoded as UTF-8. */
        public Builder payload(String payload) {
            this.payload = payload.getBytes(StandardCharsets.UTF_8);
            return this;
        }

        /** Adds or replaces a custom header; names and values must not be null. */
        public Builder header(String name, String value) {
            headers.put(Objects.requireNonNull(name, "header name"), Objects.requireNonNull(value, "header value"));
            return this;
        }

        /** Required: the topic. */
        public Builder topic(String topic) {
            this.topic = topic;
            return this;
        }

        /** The partition; default 0. */
        public Builder partition(int partition) {
            this.partition = partition;
            return this;
        }

        /** The offset; default 0. */
        public Builder offset(long offset) {
            this.offset = offset;
            return this;
        }

        /** The producer's commit time; optional. */
        public Builder committedAt(Instant committedAt) {
            this.committedAt = committedAt;
            return this;
        }

        /** @throws NullPointerException if {@code id}, {@code payload} or {@code topic} is missing */
        public InboxEvent build() {
            return new InboxEvent(this);
        }
    }
}
