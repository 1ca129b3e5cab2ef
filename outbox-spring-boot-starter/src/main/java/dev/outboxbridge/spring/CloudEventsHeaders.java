package dev.outboxbridge.spring;

import dev.outboxbridge.outbox.InvalidOutboxEventException;
import dev.outboxbridge.outbox.OutboxEvent;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Clock;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import java.util.function.Supplier;

/**
 * CloudEvents 1.0 attributes as Kafka record headers, binary content mode of the CloudEvents Kafka protocol
 * binding: the record value is the event data and each attribute is a {@code ce_} header. With
 * {@code outbox.cloudevents.enabled=true} every append of the {@link SpringOutbox} adds
 * <ul>
 * <li>{@value #SPECVERSION} = {@value #SPEC_VERSION};
 * <li>{@value #ID} = the event id (generated before the insert when the event has none, so the header and the
 *     {@code id} column agree);
 * <li>{@value #TYPE} = the event type;
 * <li>{@value #SOURCE} = {@code outbox.cloudevents.source};
 * <li>{@value #TIME} = the time of the append, RFC 3339 in UTC, from the application's {@code java.time.Clock} bean
 *     (the system UTC clock when it has none);
 * <li>and {@code datacontenttype} is the {@code content-type} header (set by typed appends, or your own), as the
 *     binding says.
 * </ul>
 * An event that already has one of these headers keeps its own {@value #TYPE}, {@value #SOURCE} and {@value #TIME};
 * a {@value #ID} other than the event id or a {@value #SPECVERSION} other than {@value #SPEC_VERSION} is refused
 * ({@code InvalidOutboxEventException}). None of these names is one of the outbox's reserved headers.
 */
public final class CloudEventsHeaders {

    /** The CloudEvents version written: {@value}. */
    public static final String SPEC_VERSION = "1.0";
    /** Header {@value}. */
    public static final String SPECVERSION = "ce_specversion";
    /** Header {@value}: the event id. */
    public static final String ID = "ce_id";
    /** Header {@value}: the event type. */
    public static final String TYPE = "ce_type";
    /** Header {@value}: {@code outbox.cloudevents.source}. */
    public static final String SOURCE = "ce_source";
    /** Header {@value}: the time of the append, RFC 3339. */
    public static final String TIME = "ce_time";

    private final String source;
    private final Clock clock;

    private CloudEventsHeaders(String source, Clock clock) {
        this.source = source;
        this.clock = clock;
    }

    /**
     * @param source the CloudEvents {@code source} of this application's events: a non-empty URI-reference, e.g.
     *        {@code /orders-service} or {@code https://shop.example.com/orders}
     * @param clock the clock of {@value #TIME}
     * @throws IllegalArgumentException if {@code source} is missing or not a URI-reference
     */
    public static CloudEventsHeaders binaryMode(String source, Clock clock) {
        Objects.requireNonNull(clock, "clock");
        if (source == null || source.isBlank()) {
            throw new IllegalArgumentException("outbox.cloudevents.source is " + (source == null ? "not set" : "blank")
                    + ", and outbox.cloudevents.enabled=true needs it: the CloudEvents 'source' of this application's "
                    + "events (ce_source). Fix: set outbox.cloudevents.source to a URI-reference such as "
                    + "/orders-service or https://shop.example.com/orders, or set outbox.cloudevents.enabled=false");
        }
        try {
            new URI(source);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("Invalid value '" + source + "' for outbox.cloudevents.source: not a "
                    + "URI-reference (" + e.getReason() + " at index " + e.getIndex() + "). Fix: use a URI-reference "
                    + "such as /orders-service or https://shop.example.com/orders (percent-encode spaces and other "
                    + "characters a URI does not allow)", e);
        }
        return new CloudEventsHeaders(source, clock);
    }

    /** The {@value #SOURCE} value. */
    public String source() {
        return source;
    }

    /**
     * The event with the CloudEvents headers added, and an id ({@code ids}) when it had none.
     *
     * @throws InvalidOutboxEventException if the event's own {@value #ID} or {@value #SPECVERSION} contradicts
     */
    OutboxEvent addTo(OutboxEvent event, Supplier<UUID> ids) {
        Objects.requireNonNull(event, "event");
        UUID id = event.id().orElseGet(ids);
        Map<String, String> own = event.headers();
        check(own, ID, id.toString(), "the event id", event);
        check(own, SPECVERSION, SPEC_VERSION, "the CloudEvents version this outbox writes", event);
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put(SPECVERSION, SPEC_VERSION);
        headers.put(ID, id.toString());
        headers.put(TYPE, event.type() == null ? "" : event.type());
        headers.put(SOURCE, source);
        headers.put(TIME, DateTimeFormatter.ISO_INSTANT.format(clock.instant()));
        headers.putAll(own); // the event's own ce_type, ce_source, ce_time win; ce_id, ce_specversion agree
        return OutboxEvent.builder().id(id).aggregateType(event.aggregateType()).aggregateId(event.aggregateId())
                .type(event.type()).payload(event.payload()).headers(headers).build();
    }

    private static void check(Map<String, String> own, String name, String expected, String what, OutboxEvent event) {
        String value = own.get(name);
        if (value != null && !value.equals(expected)) {
            throw new InvalidOutboxEventException(event + ": header '" + name + "' is '" + value + "', but with "
                    + "outbox.cloudevents.enabled=true it must be " + what + " ('" + expected + "'). Fix: remove the "
                    + "header (the outbox sets it)" + (name.equals(ID) ? ", or give the event that id" : ""));
        }
    }

    @Override
    public String toString() {
        return "CloudEventsHeaders{binary mode, source=" + source + '}';
    }
}
