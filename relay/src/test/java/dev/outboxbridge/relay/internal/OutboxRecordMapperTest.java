package dev.outboxbridge.relay.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaBuilder;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.source.SourceRecord;
import org.junit.jupiter.api.Test;

/** The mapping on change events shaped as Debezium's Postgres connector emits them for the outbox table. */
class OutboxRecordMapperTest {

    private static final Schema ROW = SchemaBuilder.struct().optional()
            .field("id", Schema.STRING_SCHEMA)
            .field("aggregatetype", Schema.OPTIONAL_STRING_SCHEMA)
            .field("aggregateid", Schema.OPTIONAL_STRING_SCHEMA)
            .field("type", Schema.OPTIONAL_STRING_SCHEMA)
            .field("payload", Schema.OPTIONAL_BYTES_SCHEMA)
            .field("headers", Schema.OPTIONAL_STRING_SCHEMA)
            .field("created_at", Schema.OPTIONAL_STRING_SCHEMA)
            .build();
    private static final Schema SOURCE = SchemaBuilder.struct().field("ts_ms", Schema.INT64_SCHEMA)
            .field("lsn", Schema.OPTIONAL_INT64_SCHEMA).field("txId", Schema.OPTIONAL_INT64_SCHEMA).build();
    private static final Schema ENVELOPE = SchemaBuilder.struct()
            .field("before", ROW).field("after", ROW).field("source", SOURCE).field("op", Schema.STRING_SCHEMA).build();

    private final OutboxRecordMapper mapper = new OutboxRecordMapper("outbox.event.", 1_000_000);

    private static Struct row(String id, String aggregateType, String aggregateId, String type, byte[] payload, String headers) {
        return new Struct(ROW).put("id", id).put("aggregatetype", aggregateType).put("aggregateid", aggregateId)
                .put("type", type).put("payload", payload == null ? null : ByteBuffer.wrap(payload)).put("headers", headers);
    }

    private static SourceRecord change(String op, Struct after) {
        Struct source = new Struct(SOURCE).put("ts_ms", 1_764_150_000_123L).put("lsn", 42L).put("txId", 7L);
        Struct env = new Struct(ENVELOPE).put("after", after).put("source", source).put("op", op);
        return new SourceRecord(Map.of(), Map.of(), "ignored", null, null, ENVELOPE, env);
    }

    private static String header(ProducerRecord<byte[], byte[]> r, String name) {
        return new String(r.headers().lastHeader(name).value(), StandardCharsets.UTF_8);
    }

    @Test
    void mapsAnInsertToTheRecordOfTheDataContract() {
        byte[] payload = "{\"total\":12}".getBytes(StandardCharsets.UTF_8);
        ProducerRecord<byte[], byte[]> r = mapper.map(change("c",
                row("0190f0a0-0000-7000-8000-000000000001", "order", "o-17", "OrderPlaced", payload, "{\"traceparent\":\"00-ab-cd-01\"}")));
        assertThat(r.topic()).isEqualTo("outbox.event.order");
        assertThat(new String(r.key(), StandardCharsets.UTF_8)).isEqualTo("o-17");
        assertThat(r.value()).isEqualTo(payload);
        assertThat(r.timestamp()).isEqualTo(1_764_150_000_123L);
        assertThat(header(r, "id")).isEqualTo("0190f0a0-0000-7000-8000-000000000001");
        assertThat(header(r, "eventType")).isEqualTo("OrderPlaced");
        assertThat(header(r, "aggregateType")).isEqualTo("order");
        assertThat(header(r, "traceparent")).isEqualTo("00-ab-cd-01");
        assertThat(r.partition()).isNull();
    }

    @Test
    void skipsEverythingButInsertsAndSnapshotRows() {
        Struct row = row("id-1", "order", "o-1", "T", new byte[0], null);
        assertThat(mapper.map(change("u", row))).isNull();
        assertThat(mapper.map(change("d", row))).isNull();
        assertThat(mapper.map(new SourceRecord(Map.of(), Map.of(), "t", null, null, null, null))).isNull();
    }

    @Test
    void aSnapshotRowIsPublishedWithItsCreationTimeAsTimestamp() {
        Struct row = row("id-2", "order", "o-2", "T", new byte[] {1}, null).put("created_at", "2026-12-05T00:30:53.123456Z");
        SourceRecord snapshotRow = change("r", row);
        ProducerRecord<byte[], byte[]> r = mapper.map(snapshotRow);
        assertThat(r.topic()).isEqualTo("outbox.event.order");
        assertThat(header(r, "id")).isEqualTo("id-2");
        assertThat(r.timestamp()).as("created_at, not the snapshot's read time").isEqualTo(java.time.Instant.parse("2026-12-05T00:30:53.123Z").toEpochMilli());
        assertThat(OutboxRecordMapper.snapshotMarker(snapshotRow)).isNotNull();
        assertThat(OutboxRecordMapper.snapshotMarker(change("c", row))).isNull();
    }

    @Test
    void aRowWithoutAggregateIdStopsTheRelayNamingTheEvent() {
        assertThatThrownBy(() -> mapper.map(change("c", row("ev-1", "order", null, "T", new byte[1], null))))
                .isInstanceOf(MalformedOutboxRowException.class).hasMessageContaining("ev-1").hasMessageContaining("aggregateid");
    }

    @Test
    void aNullPayloadIsNotSentAsATombstone() {
        assertThatThrownBy(() -> mapper.map(change("c", row("ev-2", "order", "o", "T", null, null))))
                .isInstanceOf(MalformedOutboxRowException.class).hasMessageContaining("ev-2").hasMessageContaining("tombstone");
    }

    @Test
    void anAggregateTypeThatIsNotATopicNameIsRefused() {
        assertThatThrownBy(() -> mapper.map(change("c", row("ev-3", "order lines", "o", "T", new byte[1], null))))
                .isInstanceOf(MalformedOutboxRowException.class).hasMessageContaining("invalid Kafka topic name");
    }

    @Test
    void anOversizedRowIsRefusedBeforeSending() {
        OutboxRecordMapper small = new OutboxRecordMapper("outbox.event.", 2048);
        assertThatThrownBy(() -> small.map(change("c", row("ev-4", "order", "o", "T", new byte[4096], null))))
                .isInstanceOf(MalformedOutboxRowException.class).hasMessageContaining("ev-4").hasMessageContaining("max.record.bytes");
    }

    @Test
    void headersThatAreNotAJsonObjectAreRefused() {
        assertThatThrownBy(() -> mapper.map(change("c", row("ev-5", "order", "o", "T", new byte[1], "[1,2]"))))
                .isInstanceOf(MalformedOutboxRowException.class).hasMessageContaining("not a JSON object");
        assertThatThrownBy(() -> mapper.map(change("c", row("ev-6", "order", "o", "T", new byte[1], "{\"id\":\"forged\"}"))))
                .isInstanceOf(MalformedOutboxRowException.class).hasMessageContaining("reserved header 'id'");
    }

    @Test
    void followsAChangeOfTheRowSchemaBetweenEvents() {
        // a first-start snapshot's rows carry every column; the stream's rows only the publication's column list
        // (no created_at): the per-schema lookups the mapper keeps must follow the schema of each event
        Schema streamed = SchemaBuilder.struct().optional()
                .field("headers", Schema.OPTIONAL_STRING_SCHEMA)
                .field("payload", Schema.OPTIONAL_BYTES_SCHEMA)
                .field("type", Schema.OPTIONAL_STRING_SCHEMA)
                .field("aggregateid", Schema.OPTIONAL_STRING_SCHEMA)
                .field("aggregatetype", Schema.OPTIONAL_STRING_SCHEMA)
                .field("id", Schema.STRING_SCHEMA)
                .build();
        Schema envelope = SchemaBuilder.struct()
                .field("op", Schema.STRING_SCHEMA).field("source", SOURCE).field("before", streamed).field("after", streamed).build();
        byte[] payload = {1, 2, 3};
        ProducerRecord<byte[], byte[]> first = mapper.map(change("r",
                row("id-a", "order", "o-a", "A", payload, null).put("created_at", "2026-12-05T00:30:53Z")));
        Struct after = new Struct(streamed).put("id", "id-b").put("aggregatetype", "invoice").put("aggregateid", "i-b")
                .put("type", "B").put("payload", ByteBuffer.wrap(payload, 1, 2)).put("headers", null);
        Struct source = new Struct(SOURCE).put("ts_ms", 5L).put("lsn", 43L).put("txId", 8L);
        ProducerRecord<byte[], byte[]> second = mapper.map(new SourceRecord(Map.of(), Map.of(), "ignored", null, null, envelope,
                new Struct(envelope).put("op", "c").put("source", source).put("after", after)));
        ProducerRecord<byte[], byte[]> third = mapper.map(change("c", row("id-c", "order", "o-c", "C", payload, null)));

        assertThat(first.timestamp()).isEqualTo(1_796_430_653_000L);
        assertThat(header(first, "id")).isEqualTo("id-a");
        assertThat(second.topic()).isEqualTo("outbox.event.invoice");
        assertThat(new String(second.key(), StandardCharsets.UTF_8)).isEqualTo("i-b");
        assertThat(second.value()).as("a slice of a buffer is copied").containsExactly(2, 3);
        assertThat(second.timestamp()).isEqualTo(5L);
        assertThat(header(second, "eventType")).isEqualTo("B");
        assertThat(header(third, "id")).isEqualTo("id-c");
        assertThat(third.value()).isEqualTo(payload);
    }
}
