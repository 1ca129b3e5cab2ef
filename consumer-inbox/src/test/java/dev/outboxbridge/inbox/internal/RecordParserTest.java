package dev.outboxbridge.inbox.internal;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.UnprocessableRecordException;
import java.time.Instant;
import java.util.Optional;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

class RecordParserTest {

    private static final UUID ID = UUID.fromString("0190f3a1-7b2c-7def-8a12-3456789abcde");
    private static final long COMMIT_MS = 1_732_000_000_123L;

    private final RecordParser parser = new RecordParser("billing");

    private static ConsumerRecord<byte[], byte[]> record(RecordHeaders headers, byte[] key, byte[] value) {
        return new ConsumerRecord<>("outbox.event.order", 2, 17L, COMMIT_MS, TimestampType.CREATE_TIME,
                key == null ? -1 : key.length, value == null ? -1 : value.length, key, value, headers, Optional.empty());
    }

    private static RecordHeaders relayHeaders() {
        RecordHeaders headers = new RecordHeaders();
        headers.add("id", ID.toString().getBytes(UTF_8));
        headers.add("eventType", "OrderPlaced".getBytes(UTF_8));
        headers.add("aggregateType", "order".getBytes(UTF_8));
        return headers;
    }

    @Test
    void parsesARelayRecord() {
        RecordHeaders headers = relayHeaders();
        headers.add("traceparent", "00-abc-def-01".getBytes(UTF_8));
        headers.add("tenant", "a".getBytes(UTF_8));
        headers.add("tenant", "b".getBytes(UTF_8));
        headers.add("empty", null);

        InboxEvent event = parser.parse(record(headers, "order-42".getBytes(UTF_8), "{\"total\":5}".getBytes(UTF_8)));

        assertThat(event.id()).isEqualTo(ID);
        assertThat(event.eventType()).isEqualTo("OrderPlaced");
        assertThat(event.aggregateType()).isEqualTo("order");
        assertThat(event.key()).isEqualTo("order-42");
        assertThat(event.payloadAsString()).isEqualTo("{\"total\":5}");
        assertThat(event.payload()).isEqualTo("{\"total\":5}".getBytes(UTF_8));
        assertThat(event.headers()).containsExactly(
                org.assertj.core.api.Assertions.entry("traceparent", "00-abc-def-01"),
                org.assertj.core.api.Assertions.entry("tenant", "b"));
        assertThat(event.topic()).isEqualTo("outbox.event.order");
        assertThat(event.partition()).isEqualTo(2);
        assertThat(event.offset()).isEqualTo(17L);
        assertThat(event.committedAt()).isEqualTo(Instant.ofEpochMilli(COMMIT_MS));
        assertThat(event.toString()).doesNotContain("total").contains(ID.toString()).contains("outbox.event.order-2@17");
    }

    @Test
    void eventTypeAggregateTypeAndKeyMayBeAbsent() {
        RecordHeaders headers = new RecordHeaders();
        headers.add("id", ID.toString().getBytes(UTF_8));

        InboxEvent event = parser.parse(record(headers, null, new byte[0]));

        assertThat(event.eventType()).isNull();
        assertThat(event.aggregateType()).isNull();
        assertThat(event.key()).isNull();
        assertThat(event.payload()).isEmpty();
        assertThat(event.headers()).isEmpty();
    }

    @Test
    void theLastIdHeaderWins() {
        RecordHeaders headers = new RecordHeaders();
        headers.add("id", "garbage".getBytes(UTF_8));
        headers.add("id", ID.toString().getBytes(UTF_8));

        assertThat(parser.parse(record(headers, null, new byte[] {1})).id()).isEqualTo(ID);
    }

    @Test
    void missingIdHeaderIsUnprocessable() {
        RecordHeaders headers = new RecordHeaders();
        headers.add("eventType", "OrderPlaced".getBytes(UTF_8));

        assertThatThrownBy(() -> parser.parse(record(headers, null, new byte[] {1})))
                .isInstanceOfSatisfying(UnprocessableRecordException.class, e -> {
                    assertThat(e.topic()).isEqualTo("outbox.event.order");
                    assertThat(e.partition()).isEqualTo(2);
                    assertThat(e.offset()).isEqualTo(17L);
                })
                .hasMessageContaining("'outbox.event.order', partition 2, offset 17")
                .hasMessageContaining("header 'id'")
                .hasMessageContaining("missing")
                .hasMessageContaining("produce events through the outbox relay, which always sets header 'id'")
                .hasMessageContaining("billing");
    }

    @Test
    void idHeaderWithoutValueIsUnprocessable() {
        RecordHeaders headers = new RecordHeaders();
        headers.add("id", null);

        assertThatThrownBy(() -> parser.parse(record(headers, null, new byte[] {1})))
                .isInstanceOf(UnprocessableRecordException.class)
                .hasMessageContaining("missing");
    }

    @Test
    void idThatIsNotAUuidIsUnprocessable() {
        for (String bad : new String[] {"42", "", "1-2-3-4-5", ID + " "}) {
            RecordHeaders headers = new RecordHeaders();
            headers.add("id", bad.getBytes(UTF_8));

            assertThatThrownBy(() -> parser.parse(record(headers, null, new byte[] {1})))
                    .isInstanceOf(UnprocessableRecordException.class)
                    .hasMessageContaining("'" + bad + "'")
                    .hasMessageContaining("not a UUID")
                    .hasMessageContaining("offset 17");
        }
    }

    @Test
    void tombstoneIsUnprocessable() {
        assertThatThrownBy(() -> parser.parse(record(relayHeaders(), "order-42".getBytes(UTF_8), null)))
                .isInstanceOf(UnprocessableRecordException.class)
                .hasMessageContaining("null value")
                .hasMessageContaining("tombstone")
                .hasMessageContaining("offset 17")
                .hasMessageContaining("goes to the dead-letter topic");
    }

    @Test
    void recordWithoutTimestampHasNoCommitTime() {
        ConsumerRecord<byte[], byte[]> record = new ConsumerRecord<>("t", 0, 0L, -1L, TimestampType.NO_TIMESTAMP_TYPE,
                -1, 1, null, new byte[] {1}, relayHeaders(), Optional.empty());

        assertThat(parser.parse(record).committedAt()).isNull();
    }
}
