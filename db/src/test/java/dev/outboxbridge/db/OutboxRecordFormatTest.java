package dev.outboxbridge.db;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class OutboxRecordFormatTest {

    @Test
    void acceptsWhatKafkaAcceptsAsATopicName() {
        assertThat(OutboxRecordFormat.isValidTopicName("outbox.event.order")).isTrue();
        assertThat(OutboxRecordFormat.isValidTopicName("a".repeat(OutboxRecordFormat.MAX_TOPIC_LENGTH))).isTrue();
        assertThat(OutboxRecordFormat.isValidTopicName("A-b_c.9")).isTrue();
    }

    @Test
    void namesTheRuleATopicNameBreaks() {
        assertThat(OutboxRecordFormat.topicNameProblem("")).get().asString().contains("empty");
        assertThat(OutboxRecordFormat.topicNameProblem(null)).get().asString().contains("empty");
        assertThat(OutboxRecordFormat.topicNameProblem("order placed")).get().asString()
                .contains(OutboxRecordFormat.TOPIC_CHARS_RULE);
        assertThat(OutboxRecordFormat.topicNameProblem("ordér")).get().asString()
                .contains(OutboxRecordFormat.TOPIC_CHARS_RULE);
        assertThat(OutboxRecordFormat.topicNameProblem("a".repeat(OutboxRecordFormat.MAX_TOPIC_LENGTH + 1))).get().asString()
                .contains("at most 249").contains("it has 250");
        assertThat(OutboxRecordFormat.topicNameProblem(".")).isPresent();
        assertThat(OutboxRecordFormat.topicNameProblem("..")).isPresent();
    }

    @Test
    void aTopicPrefixLeavesRoomForTheAggregateType() {
        assertThat(OutboxRecordFormat.topicPrefixProblem("")).isEmpty();
        assertThat(OutboxRecordFormat.topicPrefixProblem(OutboxRecordFormat.DEFAULT_TOPIC_PREFIX)).isEmpty();
        assertThat(OutboxRecordFormat.topicPrefixProblem("a".repeat(OutboxRecordFormat.MAX_TOPIC_PREFIX_LENGTH))).isEmpty();
        assertThat(OutboxRecordFormat.topicPrefixProblem("a".repeat(OutboxRecordFormat.MAX_TOPIC_PREFIX_LENGTH + 1))).get()
                .asString().contains("at most 200");
        assertThat(OutboxRecordFormat.topicPrefixProblem("bad prefix")).isPresent();
    }

    @Test
    void recordSizeCountsUtf8BytesOfKeyTypeAggregateTypeAndHeaders() {
        long ascii = OutboxRecordFormat.estimatedRecordBytes(100, "k1", "T", "order", 10);
        assertThat(ascii).isEqualTo(100 + 2 + 1 + 5 + 10 + OutboxRecordFormat.RECORD_OVERHEAD_BYTES);
        // 'é' is two bytes in UTF-8: the writer and the relay must count the same bytes
        assertThat(OutboxRecordFormat.estimatedRecordBytes(0, "é", "", "", 0)).isEqualTo(2 + OutboxRecordFormat.RECORD_OVERHEAD_BYTES);
        assertThat(OutboxRecordFormat.estimatedRecordBytes(0, "é", "", "", 0))
                .isEqualTo(OutboxRecordFormat.estimatedRecordBytes(0, 2, 0, 0, 0));
    }

    @Test
    void reservedHeadersAreTheOnesTheRelaySets() {
        assertThat(OutboxRecordFormat.RESERVED_HEADERS).containsExactlyInAnyOrder(
                OutboxRecordFormat.HEADER_ID, OutboxRecordFormat.HEADER_EVENT_TYPE, OutboxRecordFormat.HEADER_AGGREGATE_TYPE);
    }
}
