package dev.outboxbridge.outbox;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class OutboxEventTest {

    @Test
    void toBuilderCopiesEveryValueAndLeavesTheOriginalAsItWas() {
        UUID id = UUID.randomUUID();
        OutboxEvent original = OutboxEvent.builder().id(id).aggregateType("order").aggregateId("o-1").type("OrderPlaced")
                .payload("{\"id\":1}").header("tenant", "t-1").build();

        OutboxEvent copy = original.toBuilder().build();
        OutboxEvent traced = original.toBuilder().header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-"
                + "b7ad6b7169203331-01").build();

        assertThat(copy).isEqualTo(original);
        assertThat(traced.id()).contains(id);
        assertThat(new String(traced.payload(), StandardCharsets.UTF_8)).isEqualTo("{\"id\":1}");
        assertThat(traced.headers()).containsExactly(Map.entry("tenant", "t-1"),
                Map.entry("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
        assertThat(original.headers()).containsOnlyKeys("tenant");
    }

    @Test
    void toBuilderOfAnEventWithoutIdLeavesTheIdToTheAppend() {
        OutboxEvent event = OutboxEvent.of("order", "o-1", "OrderPlaced", "{}");
        assertThat(event.toBuilder().build().id()).isEmpty();
    }
}
