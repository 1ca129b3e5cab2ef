package com.example.shop.events;

import java.nio.charset.StandardCharsets;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.json.JsonMapper;

/**
 * The one place where the shop's events become bytes and back: JSON (UTF-8) with Jackson.
 *
 * <p>Both services use it, so the format is defined once. Unknown properties are refused rather than ignored: a
 * payload this version does not understand is a poison event for billing (dead-lettered), not half an invoice.
 */
public final class ShopEventJson {

    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .build();

    private ShopEventJson() {
    }

    /** The event as a JSON document. */
    public static String write(OrderPlaced event) {
        return JSON.writeValueAsString(event);
    }

    /**
     * Reads an {@link OrderPlaced} payload.
     *
     * @throws UnreadableEventException if the bytes are not JSON, or not a valid {@code OrderPlaced}; the message says
     *         why
     */
    public static OrderPlaced readOrderPlaced(byte[] payload) {
        try {
            return JSON.readValue(payload, OrderPlaced.class);
        } catch (JacksonException e) {
            throw new UnreadableEventException("not a valid " + OrderPlaced.TYPE + " payload ("
                    + e.getOriginalMessage() + "): " + preview(payload), e);
        }
    }

    private static String preview(byte[] payload) {
        String text = new String(payload, StandardCharsets.UTF_8);
        return text.length() <= 200 ? text : text.substring(0, 200) + "...";
    }

    /** A payload that is not a valid event of the expected type; retrying cannot help. */
    public static final class UnreadableEventException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        UnreadableEventException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
