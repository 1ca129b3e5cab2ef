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
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
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

    /** Aggregate types whose topic is cached; more are checked per event (outbox tables have a handful). */
    private static final int MAX_CACHED_TOPICS = 10_000;

    private final String topicPrefix;
    private final int maxRecordBytes;
    // per-schema and per-aggregate-type lookups, done once instead of per event; Debezium keeps one schema instance per
    // table version, so the identity check hits except after a schema change. Volatile: read on the engine's threads
    private volatile EnvelopeFields lastEnvelope;
    private volatile RowFields lastRow;
    private final Map<String, TopicOf> topics = new ConcurrentHashMap<>();

    public OutboxRecordMapper(String topicPrefix, int maxRecordBytes) {
        this.topicPrefix = topicPrefix;
        this.maxRecordBytes = maxRecordBytes;
    }

    /** The mapped record, or {@code null} for a change event that is not an insert (skipped). */
    public ProducerRecord<byte[], byte[]> map(SourceRecord change) {
        if (!(change.value() instanceof Struct envelope)) {
            return null; // tombstone
        }
        EnvelopeFields e = envelopeFields(envelope.schema());
        if (e.op == null) {
            return null; // heartbeat, transaction marker: nothing to publish
        }
        Object op = envelope.get(e.op);
        boolean snapshot = "r".equals(op);
        if (!"c".equals(op) && !snapshot) {
            return null;
        }
        Struct after = e.after == null ? null : (Struct) envelope.get(e.after);
        if (after == null) {
            throw new MalformedOutboxRowException("insert event without row data at " + position(envelope)
                    + ": check the table's REPLICA IDENTITY and the publication");
        }
        RowFields row = rowFields(after.schema());
        String id = requiredString(after, row.id, "id", null, envelope);
        String aggregateType = requiredString(after, row.aggregateType, "aggregatetype", id, envelope);
        String aggregateId = requiredString(after, row.aggregateId, "aggregateid", id, envelope);
        String type = requiredString(after, row.type, "type", id, envelope);
        byte[] payload = bytes(after, row.payload);
        if (payload == null) {
            throw new MalformedOutboxRowException("outbox row " + id + " has a null payload; a null Kafka value is a tombstone."
                    + " Fix the writer (outbox-core refuses null payloads) and republish the event with a payload");
        }
        TopicOf t = topicOf(aggregateType, id);
        byte[] key = aggregateId.getBytes(StandardCharsets.UTF_8);
        byte[] typeBytes = type.getBytes(StandardCharsets.UTF_8);
        RecordHeaders headers = new RecordHeaders();
        headers.add(OutboxRecordFormat.HEADER_ID, id.getBytes(StandardCharsets.UTF_8));
        headers.add(OutboxRecordFormat.HEADER_EVENT_TYPE, typeBytes);
        headers.add(OutboxRecordFormat.HEADER_AGGREGATE_TYPE, t.aggregateTypeBytes);
        Object customHeaders = after.get(row.headers);
        long customHeaderBytes = customHeaders == null ? 0 : addCustomHeaders(customHeaders.toString(), headers, id);
        long size = OutboxRecordFormat.estimatedRecordBytes(payload.length, key.length, typeBytes.length,
                t.aggregateTypeBytes.length, customHeaderBytes);
        if (size > maxRecordBytes) {
            throw new MalformedOutboxRowException("outbox row " + id + " makes a record of about " + size
                    + " bytes, more than max.record.bytes=" + maxRecordBytes + ". Fix: raise max.record.bytes together with"
                    + " kafka.producer.max.request.size and the broker's message.max.bytes, or shrink the event");
        }
        Long commitMillis = snapshot ? createdAtMillis(after, row.createdAt) : commitTimestamp(envelope, e);
        return new ProducerRecord<>(t.topic, null, commitMillis, key, payload, headers);
    }

    /** The Connect fields of one envelope schema, looked up once per schema instead of once per event. */
    private record EnvelopeFields(Schema schema, Field op, Field after, Field source, Field tsMs) {
    }

    /** The outbox columns of one row schema, looked up once per schema; {@code createdAt} may be absent. */
    private record RowFields(Schema schema, Field id, Field aggregateType, Field aggregateId, Field type, Field payload,
            Field headers, Field createdAt) {
    }

    /** A valid topic and the aggregate type's UTF-8 bytes, checked once per aggregate type. */
    private record TopicOf(String topic, byte[] aggregateTypeBytes) {
    }

    private EnvelopeFields envelopeFields(Schema schema) {
        EnvelopeFields cached = lastEnvelope;
        if (cached != null && cached.schema == schema) {
            return cached;
        }
        Field source = schema.type() == Schema.Type.STRUCT ? schema.field("source") : null;
        Field tsMs = source == null || source.schema().type() != Schema.Type.STRUCT ? null : source.schema().field("ts_ms");
        EnvelopeFields fresh = schema.type() == Schema.Type.STRUCT
                ? new EnvelopeFields(schema, schema.field("op"), schema.field("after"), source, tsMs)
                : new EnvelopeFields(schema, null, null, null, null);
        lastEnvelope = fresh;
        return fresh;
    }

    private RowFields rowFields(Schema schema) {
        RowFields cached = lastRow;
        if (cached != null && cached.schema == schema) {
            return cached;
        }
        RowFields fresh = new RowFields(schema, column(schema, "id"), column(schema, "aggregatetype"), column(schema, "aggregateid"),
                column(schema, "type"), column(schema, "payload"), column(schema, "headers"), schema.field("created_at"));
        lastRow = fresh;
        return fresh;
    }

    private static Field column(Schema schema, String column) {
        Field f = schema.field(column);
        if (f == null) {
            throw new MalformedOutboxRowException("the outbox table has no column '" + column + "': run the outbox migrations");
        }
        return f;
    }

    private TopicOf topicOf(String aggregateType, String id) {
        TopicOf t = topics.get(aggregateType);
        if (t != null) {
            return t;
        }
        String topic = OutboxRecordFormat.topic(topicPrefix, aggregateType);
        String topicProblem = OutboxRecordFormat.topicNameProblem(topic).orElse(null);
        if (topicProblem != null) {
            throw new MalformedOutboxRowException("outbox row " + id + " has aggregatetype '" + aggregateType
                    + "' which makes the invalid Kafka topic name '" + topic + "' (" + topicProblem
                    + "). Fix the writer; outbox-core validates this");
        }
        t = new TopicOf(topic, aggregateType.getBytes(StandardCharsets.UTF_8));
        if (topics.size() < MAX_CACHED_TOPICS) {
            topics.put(aggregateType, t);
        }
        return t;
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

    private static String requiredString(Struct after, Field f, String column, String id, Struct envelope) {
        Object v = after.get(f);
        String value = v == null ? null : v.toString();
        if (value == null || value.isBlank()) {
            throw new MalformedOutboxRowException("outbox row " + (id == null ? "at " + position(envelope) : id)
                    + " has no value in column '" + column + "'. Fix the writer: outbox-core always sets it");
        }
        return value;
    }

    private static byte[] bytes(Struct after, Field f) {
        Object v = after.get(f);
        if (v == null) {
            return null;
        }
        if (v instanceof byte[] b) {
            return b;
        }
        if (v instanceof ByteBuffer bb) {
            if (bb.hasArray() && bb.arrayOffset() == 0 && bb.position() == 0 && bb.remaining() == bb.array().length) {
                return bb.array(); // Debezium wraps the decoded bytea whole: no copy (nothing writes to it)
            }
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

    private static Long createdAtMillis(Struct after, Field f) {
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

    private static Long commitTimestamp(Struct envelope, EnvelopeFields e) {
        if (e.source == null || e.tsMs == null) {
            return null;
        }
        Struct source = (Struct) envelope.get(e.source);
        if (source == null) {
            return null;
        }
        Field tsMs = source.schema() == e.source.schema() ? e.tsMs : source.schema().field("ts_ms");
        return tsMs != null && source.get(tsMs) instanceof Long l ? l : null;
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
