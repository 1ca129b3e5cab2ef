package dev.outboxbridge.spring;

import dev.outboxbridge.spring.payload.PayloadCodec;
import java.util.Map;

/** Reads the content type of an event's headers (the header name case-insensitively, as HTTP's). */
final class SpringPayloadHeaders {

    private SpringPayloadHeaders() {
    }

    /** The {@code content-type} header's value, or null. */
    static String contentType(Map<String, String> headers) {
        String exact = headers.get(PayloadCodec.CONTENT_TYPE_HEADER);
        if (exact != null) {
            return exact;
        }
        for (Map.Entry<String, String> header : headers.entrySet()) {
            if (header.getKey().equalsIgnoreCase(PayloadCodec.CONTENT_TYPE_HEADER)) {
                return header.getValue();
            }
        }
        return null;
    }
}
