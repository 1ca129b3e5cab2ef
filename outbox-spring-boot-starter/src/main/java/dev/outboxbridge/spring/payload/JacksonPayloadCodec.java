package dev.outboxbridge.spring.payload;

import java.lang.reflect.Type;
import java.util.Objects;
import org.springframework.util.InvalidMimeTypeException;
import org.springframework.util.MimeType;
import org.springframework.util.MimeTypeUtils;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JavaType;
import tools.jackson.databind.json.JsonMapper;

/**
 * The default {@link PayloadCodec}: JSON with Jackson 3. Writes {@value #CONTENT_TYPE}; reads {@code application/json}
 * and {@code application/*+json} (parameters such as {@code charset} allowed), and a record without a content-type
 * header as JSON. The starter builds it on the application's {@code JsonMapper} bean (Boot's
 * {@code spring-boot-jackson} / {@code spring-boot-starter-json} configure it with {@code spring.jackson.*}), or on a
 * default {@code JsonMapper} when the context has none.
 *
 * <p>Unreadable input (malformed JSON, a shape that does not fit the type, a JSON {@code null}, a content type that
 * is not JSON) throws {@link PayloadException} naming the content type, the Java type and Jackson's message.
 */
public final class JacksonPayloadCodec implements PayloadCodec {

    /** The content type written: {@value}. */
    public static final String CONTENT_TYPE = "application/json";

    private final JsonMapper mapper;

    /** @param mapper the mapper to write and read with (e.g. the application's) */
    public JacksonPayloadCodec(JsonMapper mapper) {
        this.mapper = Objects.requireNonNull(mapper, "mapper");
    }

    @Override
    public String defaultContentType() {
        return CONTENT_TYPE;
    }

    @Override
    public EncodedPayload serialize(Object payload) {
        Objects.requireNonNull(payload, "payload");
        try {
            return new EncodedPayload(mapper.writeValueAsBytes(payload), CONTENT_TYPE);
        } catch (JacksonException e) {
            throw new PayloadException("Jackson cannot write a " + payload.getClass().getName() + " as JSON: "
                    + e.getOriginalMessage() + ". Fix: make the type serializable by the application's JsonMapper "
                    + "(getters or a record, @JsonProperty), or declare a PayloadCodec bean for it", e);
        }
    }

    @Override
    public Object deserialize(byte[] payload, String contentType, Type type) {
        Objects.requireNonNull(payload, "payload");
        Objects.requireNonNull(type, "type");
        String effective = contentType == null ? CONTENT_TYPE : contentType;
        if (!isJson(effective)) {
            throw new PayloadException("content type '" + effective + "' is not JSON: the JSON codec reads "
                    + "application/json and application/*+json. Fix: declare a PayloadCodec bean that reads '"
                    + effective + "', or append the event with a JSON payload");
        }
        JavaType javaType = mapper.getTypeFactory().constructType(type);
        Object value;
        try {
            value = mapper.readValue(payload, javaType);
        } catch (JacksonException e) {
            throw new PayloadException("cannot read " + payload.length + " bytes of " + effective + " as "
                    + javaType.toCanonical() + ": " + e.getOriginalMessage(), e);
        }
        if (value == null) {
            throw new PayloadException("the payload is the JSON null, not a " + javaType.toCanonical());
        }
        return value;
    }

    private static boolean isJson(String contentType) {
        MimeType mime;
        try {
            mime = MimeTypeUtils.parseMimeType(contentType);
        } catch (InvalidMimeTypeException e) {
            return false;
        }
        return "application".equalsIgnoreCase(mime.getType())
                && ("json".equalsIgnoreCase(mime.getSubtype()) || mime.getSubtype().toLowerCase(java.util.Locale.ROOT).endsWith("+json"));
    }

    @Override
    public String toString() {
        return "JacksonPayloadCodec{" + CONTENT_TYPE + '}';
    }
}
