package dev.outboxbridge.spring.payload;

import java.util.Arrays;
import java.util.Objects;

/** The bytes a {@link PayloadCodec} made of an object, and their content type (e.g. {@code application/json}). */
public final class EncodedPayload {

    private final byte[] bytes;
    private final String contentType;

    /**
     * @param bytes the payload bytes (copied)
     * @param contentType the media type of the bytes, written to the record's {@code content-type} header
     */
    public EncodedPayload(byte[] bytes, String contentType) {
        this.bytes = Objects.requireNonNull(bytes, "bytes").clone();
        this.contentType = Objects.requireNonNull(contentType, "contentType");
        if (contentType.isBlank()) {
            throw new IllegalArgumentException("contentType is blank: give the media type of the payload bytes");
        }
    }

    /** The payload bytes (a copy). */
    public byte[] bytes() {
        return bytes.clone();
    }

    /** The media type of the bytes. */
    public String contentType() {
        return contentType;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EncodedPayload p && Arrays.equals(bytes, p.bytes) && contentType.equals(p.contentType);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(bytes) + contentType.hashCode();
    }

    /** Never the bytes: they may hold personal data. */
    @Override
    public String toString() {
        return "EncodedPayload{contentType=" + contentType + ", bytes=" + bytes.length + '}';
    }
}
