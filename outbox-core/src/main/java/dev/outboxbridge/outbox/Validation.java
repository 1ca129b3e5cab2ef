package dev.outboxbridge.outbox;

import dev.outboxbridge.db.OutboxRecordFormat;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;

/** The rules an event must pass before anything is written. */
final class Validation {

    static final int MAX_AGGREGATE_ID_CHARS = 255;
    static final int MAX_TYPE_CHARS = 255;

    private Validation() {
    }

    static void validate(OutboxEvent event, OutboxConfig config) {
        if (event == null) {
            throw new InvalidOutboxEventException("event is null");
        }
        String aggregateType = required(event.aggregateType(), "aggregateType", event);
        String topic = OutboxRecordFormat.topic(config.topicPrefix(), aggregateType);
        if (!OutboxRecordFormat.hasLegalTopicChars(aggregateType)) {
            throw new InvalidOutboxEventException("aggregateType '" + aggregateType + "' cannot become a Kafka topic name ('"
                    + topic + "'): use only " + OutboxRecordFormat.TOPIC_CHARS_RULE, event);
        }
        Optional<String> topicProblem = OutboxRecordFormat.topicNameProblem(topic);
        if (topicProblem.isPresent()) {
            throw new InvalidOutboxEventException("aggregateType '" + aggregateType + "' makes topic '" + topic
                    + "' which Kafka refuses: " + topicProblem.get(), event);
        }
        String aggregateId = required(event.aggregateId(), "aggregateId", event);
        if (aggregateId.length() > MAX_AGGREGATE_ID_CHARS) {
            throw new InvalidOutboxEventException("aggregateId is " + aggregateId.length() + " characters long, more than "
                    + MAX_AGGREGATE_ID_CHARS + " (the outbox column's size)", event);
        }
        String type = required(event.type(), "type", event);
        if (type.length() > MAX_TYPE_CHARS) {
            throw new InvalidOutboxEventException("type is " + type.length() + " characters long, more than "
                    + MAX_TYPE_CHARS + " (the outbox column's size)", event);
        }
        if (event.payloadUnsafe() == null) {
            throw new InvalidOutboxEventException("payload is null: give a payload (an empty one is allowed); "
                    + "a null Kafka value would be read as a tombstone", event);
        }
        long size = OutboxRecordFormat.estimatedRecordBytes(event.payloadLength(), aggregateId, type, aggregateType,
                headerBytes(event.headers(), event));
        if (size > config.maxRecordBytes()) {
            throw new InvalidOutboxEventException("event is too large for Kafka: about " + size
                    + " bytes (payload " + event.payloadLength() + " bytes) exceeds maxRecordBytes=" + config.maxRecordBytes()
                    + "; store large bodies elsewhere and send a reference (claim check), or raise maxRecordBytes together"
                    + " with the broker's message.max.bytes and the relay producer's max.request.size", event);
        }
    }

    private static long headerBytes(Map<String, String> headers, OutboxEvent event) {
        long total = 0;
        for (Map.Entry<String, String> h : headers.entrySet()) {
            String name = h.getKey();
            if (name.isBlank()) {
                throw new InvalidOutboxEventException("a header name is blank", event);
            }
            if (OutboxRecordFormat.RESERVED_HEADERS.contains(name)) {
                throw new InvalidOutboxEventException("header '" + name + "' is reserved: the relay sets "
                        + OutboxRecordFormat.RESERVED_HEADERS + " from the outbox columns; rename the header", event);
            }
            if (h.getValue() == null) {
                throw new InvalidOutboxEventException("header '" + name + "' has a null value: omit the header instead", event);
            }
            total += name.getBytes(StandardCharsets.UTF_8).length + h.getValue().getBytes(StandardCharsets.UTF_8).length;
        }
        return total;
    }

    private static String required(String value, String name, OutboxEvent event) {
        if (value == null || value.isBlank()) {
            throw new InvalidOutboxEventException(name + " is " + (value == null ? "null" : "blank") + ": it is required", event);
        }
        return value;
    }
}
