package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.UnprocessableRecordException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Set;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/** Turns a Kafka record into an {@link InboxEvent}, or says why it cannot be applied exactly once. */
final class RecordParser {

    private static final Set<String> RESERVED = Set.of(
            InboxEvent.ID_HEADER, InboxEvent.EVENT_TYPE_HEADER, InboxEvent.AGGREGATE_TYPE_HEADER);
    private static final int MAX_SHOWN_ID_CHARS = 64;

    private final String consumerName;

    RecordParser(String consumerName) {
        this.consumerName = consumerName;
    }

    /** @throws UnprocessableRecordException if the record has no usable event id or no value */
    InboxEvent parse(ConsumerRecord<byte[], byte[]> record) {
        UUID id = eventId(record);
        if (record.value() == null) {
            throw unprocessable(record, "it has a null value (a tombstone); outbox events always have a payload",
                    "produce events through the outbox relay, which never writes tombstones, and do not share "
                            + "the topic with other producers or enable log compaction on it");
        }
        InboxEvent.Builder event = InboxEvent.builder()
                .id(id)
                .eventType(header(record, InboxEvent.EVENT_TYPE_HEADER))
                .aggregateType(header(record, InboxEvent.AGGREGATE_TYPE_HEADER))
                .key(record.key() == null ? null : utf8(record.key()))
                .payload(record.value())
                .topic(record.topic())
                .partition(record.partition())
                .offset(record.offset())
                .committedAt(record.timestamp() >= 0 ? Instant.ofEpochMilli(record.timestamp()) : null);
        for (Header h : record.headers()) {
            if (!RESERVED.contains(h.key()) && h.value() != null) {
                event.header(h.key(), utf8(h.value()));
            }
        }
        return event.build();
    }

    /** The event, or null if the record cannot be applied exactly once. */
    InboxEvent tryParse(ConsumerRecord<byte[], byte[]> record) {
        try {
            return parse(record);
        } catch (UnprocessableRecordException e) {
            return null;
        }
    }

    private UUID eventId(ConsumerRecord<byte[], byte[]> record) {
        String fix = "produce events through the outbox relay, which always sets header '" + InboxEvent.ID_HEADER
                + "' to the event's UUID";
        String raw = header(record, InboxEvent.ID_HEADER);
        if (raw == null) {
            throw unprocessable(record, "header '" + InboxEvent.ID_HEADER + "' (the event id) is missing", fix);
        }
        try {
            UUID id = UUID.fromString(raw);
            if (!id.toString().equalsIgnoreCase(raw)) {
                throw new IllegalArgumentException("not in canonical form");
            }
            return id;
        } catch (IllegalArgumentException e) {
            throw unprocessable(record, "header '" + InboxEvent.ID_HEADER + "' is '" + shorten(raw)
                    + "', which is not a UUID (the event id)", fix);
        }
    }

    private UnprocessableRecordException unprocessable(ConsumerRecord<?, ?> record, String problem, String fix) {
        return new UnprocessableRecordException(record.topic(), record.partition(), record.offset(),
                "Inbox consumer '" + consumerName + "' cannot process the record at topic '" + record.topic()
                        + "', partition " + record.partition() + ", offset " + record.offset() + ": " + problem
                        + ". The inbox dedupes by event id, so the record is not applied; it goes to the dead-letter "
                        + "topic. Fix: " + fix + ".");
    }

    /** The last value of header {@code name} as UTF-8, or null if absent or without a value. */
    private static String header(ConsumerRecord<?, ?> record, String name) {
        Header h = record.headers().lastHeader(name);
        return h == null || h.value() == null ? null : utf8(h.value());
    }

    private static String utf8(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private static String shorten(String s) {
        return s.length() <= MAX_SHOWN_ID_CHARS ? s : s.substring(0, MAX_SHOWN_ID_CHARS) + "...";
    }
}
