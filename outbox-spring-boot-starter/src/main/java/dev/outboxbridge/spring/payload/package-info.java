/**
 * Typed payloads: the {@link dev.outboxbridge.spring.payload.PayloadCodec} SPI that turns an object into the bytes of
 * an outbox event (with a content type, written to the record's {@code content-type} header) and back, and its
 * default, {@link dev.outboxbridge.spring.payload.JacksonPayloadCodec} (JSON with Jackson 3).
 */
package dev.outboxbridge.spring.payload;
