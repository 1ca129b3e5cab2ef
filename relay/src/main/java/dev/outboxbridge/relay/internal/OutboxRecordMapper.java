package dev.outboxbridge.relay.internal;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.outboxbridge.db.OutboxRecordFormat;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.source.SourceRecord;

/**
 * Turns a Debezium change event of the outbox table into the Kafka record of the data contract:
 * topic = prefix + aggregatetype, key = aggregateid, value = payload, headers {@code id},
 * {@code eventType}, {@code aggregateType} and the row's {@code headers}, timestamp = the
 * transaction's commit time. Inserts are published, and the rows a first-start snapshot reads (op {@code r}, timestamp =
 * the row's created_at, its transaction's start: the snapshot carries no commit time).
 */
final class OutboxRecordMapper {

    private static final Set<String> RESERVED = OutboxRecordFormat.RESERVED_HEADERS;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String topicPrefix;
    private final int maxRecordBytes;

    public OutboxRecordMapper(String topicPrefix, int maxRecordBytes) {
        this.topicPrefix = topicPrefix;
        this.maxRecordBytes = maxRecordBytes;
    }

    /** The mapped record, or {@code null} for a change event that is not an insert (skipped). */
    public ProducerRecord<byte[], byte[]> map(SourceRecord change) {
        if (!(change.value() instanceof Struct envelope) || envelope.schema().field("op") == null) {
            return null; // heartbeat, transaction marker or tombstone: nothing to publish
        }
        String op = envelope.getString("op");
        boolean snapshot = "r".equals(op);
        if (!"c".equals(op) && !snapshot) {
            return null;
        }
        Struct after = envelope.getStruct("after");
        if (after == null) {
            throw new MalformedOutboxRowException("insert event without row data at " + position(envelope)
                    + ": check the table's REPLICA IDENTITY and the publication");
        }
        String id = requiredString(after, "id", null, envelope);
        String aggregateType = requiredString(after, "aggregatetype", id, envelope);
        String aggregateId = requiredString(after, "aggregateid", id, envelope);
        String type = requiredString(after, "type", id, envelope);
        byte[] payload = bytes(after, "payload");
        if (payload == null) {
            throw new MalformedOutboxRowException("outbox row " + id + " has a null payload; a null Kafka value is a tombstone."
                    + " Fix the writer (outbox-core refuses null payloads) and republish the event with a payload");
        }
        String topic = OutboxRecordFormat.topic(topicPrefix, aggregateType);
        String topicProblem = OutboxRecordFormat.topicNameProblem(topic).orElse(null);
        if (topicProblem != null) {
            throw new MalformedOutboxRowException("outbox row " + id + " has aggregatetype '" + aggregateType
                    + "' which makes the invalid Kafka topic name '" + topic + "' (" + topicProblem
                    + "). Fix the writer; outbox-core validates this");
        }
        byte[] key = aggregateId.getBytes(StandardCharsets.UTF_8);
        byte[] typeBytes = type.getBytes(StandardCharsets.UTF_8);
        byte[] aggregateTypeBytes = aggregateType.getBytes(StandardCharsets.UTF_8);
        RecordHeaders headers = new RecordHeaders();
        headers.add(OutboxRecordFormat.HEADER_ID, id.getBytes(StandardCharsets.UTF_8));
        headers.add(OutboxRecordFormat.HEADER_EVENT_TYPE, typeBytes);
        headers.add(OutboxRecordFormat.HEADER_AGGREGATE_TYPE, aggregateTypeBytes);
        String customHeaders = optionalString(after, "headers");
        long customHeaderBytes = customHeaders == null ? 0 : addCustomHeaders(customHeaders, headers, id);
        long size = OutboxRecordFormat.estimatedRecordBytes(payload.length, key.length, typeBytes.length,
                aggregateTypeBytes.length, customHeaderBytes);
        if (size > maxRecordBytes) {
            throw new MalformedOutboxRowException("outbox row " + id + " makes a record of about " + size
                    + " bytes, more than max.record.bytes=" + maxRecordBytes + ". Fix: raise max.record.bytes together with"
                    + " kafka.producer.max.request.size and the broker's message.max.bytes, or shrink the event");
        }
        Long commitMillis = snapshot ? createdAtMillis(after) : commitTimestamp(envelope);
        return new ProducerRecord<>(topic, null, commitMillis, key, payload, headers);
    }

    private static long addCustomHeaders(String json, RecordHeaders headers, String id) {
        JsonNode node;
        try {
            node = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new MalformedOutboxRowException("outbox row " + id + " has headers that are not valid JSON: " + e.getOriginalMessage());
        }
        if (node == null || node.isNull()) {
            return 0;
        }
        if (!node.isObject()) {
            throw new MalformedOutboxRowException("outbox row " + id + " has headers that are not a JSON object of strings");
        }
        long size = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (RESERVED.contains(e.getKey())) {
                throw new MalformedOutboxRowException("outbox row " + id + " has the reserved header '" + e.getKey()
                        + "' in its headers column; the relay sets " + RESERVED + " itself");
            }
            JsonNode v = e.getValue();
            String value = v.isTextual() ? v.textValue() : v.isNull() ? null : v.toString();
            byte[] bytes = value == null ? null : value.getBytes(StandardCharsets.UTF_8);
            headers.add(e.getKey(), bytes);
            size += e.getKey().getBytes(StandardCharsets.UTF_8).length + (bytes == null ? 0 : bytes.length);
        }
        return size;
    }

    private static String requiredString(Struct after, String column, String id, Struct envelope) {
        String value = optionalString(after, column);
        if (value == null || value.isBlank()) {
            throw new MalformedOutboxRowException("outbox row " + (id == null ? "at " + position(envelope) : id)
                    + " has no value in column '" + column + "'. Fix the writer: outbox-core always sets it");
        }
        return value;
    }

    private static String optionalString(Struct after, String column) {
        Field f = after.schema().field(column);
        if (f == null) {
            throw new MalformedOutboxRowException("the outbox table has no column '" + column + "': run the outbox migrations");
        }
        Object v = after.get(f);
        return v == null ? null : v.toString();
    }

    private static byte[] bytes(Struct after, String column) {
        Field f = after.schema().field(column);
        if (f == null) {
            throw new MalformedOutboxRowException("the outbox table has no column '" + column + "': run the outbox migrations");
        }
        Object v = after.get(f);
        if (v == null) {
            return null;
        }
        if (v instanceof byte[] b) {
            return b;
        }
        if (v instanceof ByteBuffer bb) {
            ByteBuffer dup = bb.duplicate();
            byte[] out = new byte[dup.remaining()];
            dup.get(out);
            return out;
        }
        return v.toString().getBytes(StandardCharsets.UTF_8); // text/json payload columns
    }

    /**
     * Where a change event stands in a first-start snapshot: {@code null} for a streamed change (or not a change event),
     * otherwise Debezium's {@code source.snapshot} marker ({@code first}, {@code true}, {@code last}...).
     */
    static String snapshotMarker(SourceRecord change) {
        if (!(change.value() instanceof Struct envelope) || envelope.schema().field("op") == null
                || !"r".equals(envelope.getString("op")) || envelope.schema().field("source") == null) {
            return null;
        }
        Struct source = envelope.getStruct("source");
        Object marker = source == null || source.schema().field("snapshot") == null ? null : source.get("snapshot");
        return marker == null ? "true" : marker.toString();
    }

    private static Long createdAtMillis(Struct after) {
        Field f = after.schema().field("created_at");
        Object v = f == null ? null : after.get(f);
        if (v instanceof String s) { // timestamptz: io.debezium.time.ZonedTimestamp, ISO-8601 with offset
            try {
                return java.time.OffsetDateTime.parse(s).toInstant().toEpochMilli();
            } catch (java.time.format.DateTimeParseException e) {
                return null;
            }
        }
        return v instanceof Long l ? l : null;
    }

    private static Long commitTimestamp(Struct envelope) {
        if (envelope.schema().field("source") != null) {
            Struct source = envelope.getStruct("source");
            if (source != null && source.schema().field("ts_ms") != null) {
                Object ts = source.get("ts_ms");
                if (ts instanceof Long l) {
                    return l;
                }
            }
        }
        return null;
    }

    private static String position(Struct envelope) {
        if (envelope.schema().field("source") != null && envelope.getStruct("source") != null) {
            Struct source = envelope.getStruct("source");
            Object lsn = source.schema().field("lsn") != null ? source.get("lsn") : null;
            Object tx = source.schema().field("txId") != null ? source.get("txId") : null;
            return "lsn " + lsn + ", txId " + tx;
        }
        return "unknown position";
    }
}
