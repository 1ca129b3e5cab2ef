package dev.outboxbridge.spring.payload;

import java.lang.reflect.Type;

/**
 * Turns the payload object of a typed append ({@code SpringOutbox.append(aggregateType, aggregateId, eventType,
 * payload)}) into bytes plus a content type, and the bytes of an event back into the Java type an
 * {@code @InboxListener} method declares, reading them by the record's {@value #CONTENT_TYPE_HEADER} header.
 *
 * <p>The starter's default is {@link JacksonPayloadCodec} ({@code application/json}, with the application's
 * Boot-configured Jackson 3 {@code JsonMapper}) when Jackson 3 is on the class path. A bean of this type replaces
 * it. Without either, typed appends fail with an error naming the fix, and typed listener methods refuse the start;
 * the byte and String APIs work as before.
 *
 * <p>The contract a codec keeps for the inbox: throw {@link PayloadException} for bytes that can never be read
 * (malformed, of the wrong shape, of a content type the codec does not read); the consumer then sends the event to
 * its dead-letter topic at once, with the message, and never retries it. Any other exception counts as any handler
 * failure (retried, then dead-lettered after the consumer's {@code max-attempts}): throw those for transient
 * problems, e.g. a schema registry that cannot be reached. Implementations must be thread-safe.
 */
public interface PayloadCodec {

    /**
     * The record header holding the payload's content type: {@code content-type}, as the CloudEvents Kafka protocol
     * binding names it (binary mode: the event's {@code datacontenttype}). Read case-insensitively.
     */
    String CONTENT_TYPE_HEADER = "content-type";

    /** The content type {@link #deserialize} assumes for a record without a {@value #CONTENT_TYPE_HEADER} header. */
    String defaultContentType();

    /**
     * Serializes a payload object.
     *
     * @param payload the object to append, never null
     * @return the bytes and their content type
     * @throws PayloadException if the object cannot be serialized (nothing is appended)
     */
    EncodedPayload serialize(Object payload);

    /**
     * Reads a payload.
     *
     * @param payload the record's value
     * @param contentType the record's {@value #CONTENT_TYPE_HEADER} header, or null when it has none (then read as
     *        {@link #defaultContentType()})
     * @param type the Java type to read, e.g. the payload parameter of an {@code @InboxListener} method (generic
     *        types such as {@code List<OrderLine>} included)
     * @return the object, not null
     * @throws PayloadException if the bytes can never be read as {@code type} (the event is dead-lettered)
     */
    Object deserialize(byte[] payload, String contentType, Type type);
}
