package dev.outboxbridge.spring.payload;

/**
 * A payload that a {@link PayloadCodec} can never serialize or read: malformed bytes, the wrong shape for the
 * requested type, a content type the codec does not read. Not retriable: an {@code @InboxListener} whose payload
 * throws this is dead-lettered at once with the message.
 */
public class PayloadException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** @param message what cannot be read or written, and why */
    public PayloadException(String message) {
        super(message);
    }

    /**
     * @param message what cannot be read or written, and why
     * @param cause the parser's or serializer's exception
     */
    public PayloadException(String message, Throwable cause) {
        super(message, cause);
    }
}
