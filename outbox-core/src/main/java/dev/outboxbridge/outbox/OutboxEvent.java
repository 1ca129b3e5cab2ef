package dev.outboxbridge.outbox;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;

/**
 * One event to append to the outbox: it becomes one Kafka record (topic from the aggregate type,
 * key = aggregate id, value = payload, headers {@code id}, {@code eventType}, {@code aggregateType}
 * and the custom headers).
 *
 * <p>Immutable; built with {@link #builder()}. Validation of the values happens when the event is
 * appended, against the {@link OutboxConfig} in force.
 */
public final class OutboxEvent {

    private final UUID id;
    private final String aggregateType;
    private final String aggregateId;
    private final String type;
    private final byte[] payload;
    private final Map<String, String> headers;

    private OutboxEvent(Builder b) {
        this.id = b.id;
        this.aggregateType = b.aggregateType;
        this.aggregateId = b.aggregateId;
        this.type = b.type;
        this.payload = b.payload;
        this.headers = Collections.unmodifiableMap(new LinkedHashMap<>(b.headers));
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Shortcut for the common case: a UTF-8 (typically JSON) payload and no custom headers. */
    public static OutboxEvent of(String aggregateType, String aggregateId, String type, String payload) {
        return builder().aggregateType(aggregateType).aggregateId(aggregateId).type(type).payload(payload).build();
    }

    /**
     * A builder holding every value of this event (id, if supplied, payload and headers included), e.g. to add a
     * header to a copy of it.
     */
    public Builder toBuilder() {
        Builder b = builder().aggregateType(aggregateType).aggregateId(aggregateId).type(type).headers(headers);
        b.id = id;
        b.payload = payload; // shared: no event changes its array, and payload() hands out copies
        return b;
    }

    /** The caller-supplied event id, if any; otherwise a UUIDv7 is generated at append time. */
    public Optional<UUID> id() {
        return Optional.ofNullable(id);
    }

    public String aggregateType() {
        return aggregateType;
    }

    public String aggregateId() {
        return aggregateId;
    }

    public String type() {
        return type;
    }

    /** The payload bytes (a copy). */
    public byte[] payload() {
        return payload == null ? null : payload.clone();
    }

    int payloadLength() {
        return payload == null ? 0 : payload.length;
    }

    byte[] payloadUnsafe() {
        return payload;
    }

    public Map<String, String> headers() {
        return headers;
    }

    @Override
    public String toString() {
        // never the payload: it may hold personal data
        return "OutboxEvent{id=" + id + ", aggregateType=" + aggregateType + ", aggregateId=" + aggregateId
                + ", type=" + type + ", payloadBytes=" + payloadLength() + ", headers=" + headers.keySet() + '}';
    }

    /** Builder of {@link OutboxEvent}; aggregate type, aggregate id, type and payload are required. */
    public static final class Builder {
        private UUID id;
        private String aggregateType;
        private String aggregateId;
        private String type;
        private byte[] payload;
        private final Map<String, String> headers = new LinkedHashMap<>();

        private Builder() {
        }

        /** Supplies the event id (for idempotent retries of the business operation); default: a fresh UUIDv7. */
        public Builder id(UUID id) {
            this.id = id;
            return this;
        }

        public Builder aggregateType(String aggregateType) {
            this.aggregateType = aggregateType;
            return this;
        }

        public Builder aggregateId(String aggregateId) {
            this.aggregateId = aggregateId;
            return this;
        }

        public Builder type(String type) {
            this.type = type;
            return this;
        }

        public Builder payload(byte[] payload) {
            this.payload = payload == null ? null : payload.clone();
            return this;
        }

        /** A text payload, stored as UTF-8 bytes. */
        public Builder payload(String payload) {
            this.payload = payload == null ? null : payload.getBytes(StandardCharsets.UTF_8);
            return this;
        }

        /** Adds a custom header (e.g. {@code traceparent}); names must not clash with the reserved ones. */
        public Builder header(String name, String value) {
            headers.put(Objects.requireNonNull(name, "header name"), value);
            return this;
        }

        public Builder headers(Map<String, String> headers) {
            headers.forEach(this::header);
            return this;
        }

        public OutboxEvent build() {
            return new OutboxEvent(this);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof OutboxEvent e && Objects.equals(id, e.id) && Objects.equals(aggregateType, e.aggregateType)
                && Objects.equals(aggregateId, e.aggregateId) && Objects.equals(type, e.type)
                && Arrays.equals(payload, e.payload) && headers.equals(e.headers);
    }

    @Override
    public int hashCode() {
        return Objects.hash(id, aggregateType, aggregateId, type, Arrays.hashCode(payload), headers);
    }
}
