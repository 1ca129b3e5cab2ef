package dev.outboxbridge.spring;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.spring.payload.EncodedPayload;
import dev.outboxbridge.spring.payload.PayloadCodec;
import java.util.Map;
import java.util.Objects;

/**
 * What {@link SpringOutbox} adds to an event before the insert: the serialized payload and its content type for a
 * typed append, and the CloudEvents headers when they are enabled. Stateless apart from its settings; thread-safe.
 */
final class AppendHeaders {

    /** The message when a typed append finds no codec; the same fix as for typed listener methods. */
    static final String NO_CODEC_FIX = "Fix: add spring-boot-starter-json (Jackson 3, the default JSON codec) to "
            + "the application, or declare a bean of type " + PayloadCodec.class.getName();

    private final Outbox outbox;
    private final PayloadCodec codec;
    private final CloudEventsHeaders cloudEvents;

    /**
     * @param codec the payload codec, or null: typed appends are refused
     * @param cloudEvents the CloudEvents headers to add, or null: none
     */
    AppendHeaders(Outbox outbox, PayloadCodec codec, CloudEventsHeaders cloudEvents) {
        this.outbox = Objects.requireNonNull(outbox, "outbox");
        this.codec = codec;
        this.cloudEvents = cloudEvents;
    }

    /** The event of a typed append: the codec's bytes, its content type in the {@code content-type} header. */
    OutboxEvent typed(String aggregateType, String aggregateId, String eventType, Object payload,
            Map<String, String> headers) {
        Objects.requireNonNull(headers, "headers");
        if (payload == null) {
            throw new IllegalArgumentException("payload is null: a typed append needs an object to serialize (for an "
                    + "empty payload use append(OutboxEvent) with an empty byte array)");
        }
        if (codec == null) {
            throw new IllegalStateException("Cannot append a " + payload.getClass().getName() + " as event '"
                    + eventType + "': the outbox has no PayloadCodec to serialize it (Jackson 3 is not on the class "
                    + "path and the context has no PayloadCodec bean). " + NO_CODEC_FIX
                    + "; or append bytes with append(OutboxEvent)");
        }
        String ownContentType = SpringPayloadHeaders.contentType(headers);
        EncodedPayload encoded = codec.serialize(payload);
        if (ownContentType != null && !ownContentType.equals(encoded.contentType())) {
            throw new IllegalArgumentException("headers give " + PayloadCodec.CONTENT_TYPE_HEADER + " '"
                    + ownContentType + "', but the codec wrote the payload of event '" + eventType + "' as '"
                    + encoded.contentType() + "'. Fix: leave " + PayloadCodec.CONTENT_TYPE_HEADER + " out of the "
                    + "headers (a typed append sets it), or append your own bytes with append(OutboxEvent)");
        }
        return OutboxEvent.builder().aggregateType(aggregateType).aggregateId(aggregateId).type(eventType)
                .payload(encoded.bytes()).headers(headers)
                .header(PayloadCodec.CONTENT_TYPE_HEADER, encoded.contentType()).build();
    }

    /** The event as it is inserted: with the CloudEvents headers (and an id) when they are enabled. */
    OutboxEvent complete(OutboxEvent event) {
        return cloudEvents == null ? event : cloudEvents.addTo(event, outbox::newEventId);
    }
}
