package dev.outboxbridge.outbox;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.NullAndEmptySource;
import org.junit.jupiter.params.provider.ValueSource;

class ValidationTest {

    private final OutboxConfig config = OutboxConfig.defaults();

    private static OutboxEvent.Builder valid() {
        return OutboxEvent.builder().aggregateType("order").aggregateId("o-1").type("OrderPlaced").payload("{}");
    }

    @Test
    void acceptsAValidEvent() {
        assertThatCode(() -> Validation.validate(valid().header("traceparent", "00-abc").build(), config)).doesNotThrowAnyException();
    }

    @ParameterizedTest
    @NullAndEmptySource
    @ValueSource(strings = {"  "})
    void rejectsMissingAggregateType(String value) {
        assertThatThrownBy(() -> Validation.validate(valid().aggregateType(value).build(), config))
                .isInstanceOf(InvalidOutboxEventException.class).hasMessageContaining("aggregateType is");
    }

    @ParameterizedTest
    @NullAndEmptySource
    @ValueSource(strings = {" \t"})
    void rejectsMissingAggregateId(String value) {
        assertThatThrownBy(() -> Validation.validate(valid().aggregateId(value).build(), config))
                .isInstanceOf(InvalidOutboxEventException.class).hasMessageContaining("aggregateId is");
    }

    @ParameterizedTest
    @NullAndEmptySource
    @ValueSource(strings = {"   "})
    void rejectsMissingType(String value) {
        assertThatThrownBy(() -> Validation.validate(valid().type(value).build(), config))
                .isInstanceOf(InvalidOutboxEventException.class).hasMessageContaining("type is");
    }

    @ParameterizedTest
    @ValueSource(strings = {"order/line", "orders with space", "commande-été", "a:b", "x*"})
    void rejectsAggregateTypesThatCannotBecomeTopicNames(String value) {
        assertThatThrownBy(() -> Validation.validate(valid().aggregateType(value).build(), config))
                .isInstanceOf(InvalidOutboxEventException.class)
                .hasMessageContaining("cannot become a Kafka topic name")
                .hasMessageContaining("outbox.event." + value);
    }

    @Test
    void rejectsAggregateTypesThatMakeATooLongTopicName() {
        String longType = "a".repeat(OutboxConfig.MAX_TOPIC_LENGTH - OutboxConfig.DEFAULT_TOPIC_PREFIX.length() + 1);
        assertThatThrownBy(() -> Validation.validate(valid().aggregateType(longType).build(), config))
                .isInstanceOf(InvalidOutboxEventException.class).hasMessageContaining("at most 249");
        String justFits = longType.substring(1);
        assertThatCode(() -> Validation.validate(valid().aggregateType(justFits).build(), config)).doesNotThrowAnyException();
    }

    @Test
    void rejectsOversizedPayloadAndNamesTheFix() {
        OutboxConfig small = OutboxConfig.builder().maxRecordBytes(4096).build();
        assertThatThrownBy(() -> Validation.validate(valid().payload(new byte[5000]).build(), small))
                .isInstanceOf(InvalidOutboxEventException.class)
                .hasMessageContaining("too large")
                .hasMessageContaining("maxRecordBytes=4096")
                .hasMessageContaining("message.max.bytes");
    }

    @Test
    void countsHeadersAgainstTheSizeLimit() {
        OutboxConfig small = OutboxConfig.builder().maxRecordBytes(4096).build();
        assertThatThrownBy(() -> Validation.validate(valid().payload(new byte[2000]).header("big", "x".repeat(3000)).build(), small))
                .isInstanceOf(InvalidOutboxEventException.class).hasMessageContaining("too large");
    }

    @Test
    void rejectsNullPayload() {
        assertThatThrownBy(() -> Validation.validate(valid().payload((byte[]) null).build(), config))
                .isInstanceOf(InvalidOutboxEventException.class).hasMessageContaining("payload is null");
    }

    @Test
    void acceptsEmptyPayload() {
        assertThatCode(() -> Validation.validate(valid().payload(new byte[0]).build(), config)).doesNotThrowAnyException();
    }

    @ParameterizedTest
    @ValueSource(strings = {"id", "eventType", "aggregateType"})
    void rejectsReservedHeaderNames(String name) {
        assertThatThrownBy(() -> Validation.validate(valid().header(name, "x").build(), config))
                .isInstanceOf(InvalidOutboxEventException.class).hasMessageContaining("reserved");
    }

    @Test
    void rejectsNullHeaderValues() {
        assertThatThrownBy(() -> Validation.validate(valid().header("h", null).build(), config))
                .isInstanceOf(InvalidOutboxEventException.class).hasMessageContaining("null value");
    }

    @Test
    void rejectsTooLongAggregateId() {
        assertThatThrownBy(() -> Validation.validate(valid().aggregateId("k".repeat(256)).build(), config))
                .isInstanceOf(InvalidOutboxEventException.class).hasMessageContaining("more than 255");
    }

    @Test
    void configRejectsInvalidTopicPrefixAndTinyLimit() {
        assertThatThrownBy(() -> OutboxConfig.builder().topicPrefix("bad prefix")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("topicPrefix");
        assertThatThrownBy(() -> OutboxConfig.builder().maxRecordBytes(10)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("maxRecordBytes");
        assertThatThrownBy(() -> OutboxConfig.builder().table("public.outbox; drop table x")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("Invalid");
    }

    @Test
    void toStringNeverShowsThePayload() {
        OutboxEvent e = valid().payload("secret-card-number").build();
        org.assertj.core.api.Assertions.assertThat(e.toString()).doesNotContain("secret-card-number").contains("payloadBytes=18");
    }
}
