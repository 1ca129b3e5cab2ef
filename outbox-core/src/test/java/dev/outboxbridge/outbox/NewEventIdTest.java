package dev.outboxbridge.outbox;

import static org.assertj.core.api.Assertions.assertThat;

import dev.outboxbridge.outbox.internal.UuidV7;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class NewEventIdTest {

    @Test
    void newEventIdsAreUuidV7sOfTheConfiguredClockInCreationOrder() {
        Instant now = Instant.parse("2026-12-04T21:00:00.123Z");
        Outbox outbox = Outbox.create(OutboxConfig.builder().clock(Clock.fixed(now, ZoneOffset.UTC)).build());
        List<UUID> ids = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            ids.add(outbox.newEventId());
        }
        assertThat(ids).allSatisfy(id -> {
            assertThat(id.version()).isEqualTo(7);
            assertThat(UuidV7.millis(id)).isEqualTo(now.toEpochMilli());
        });
        assertThat(ids).doesNotHaveDuplicates();
        assertThat(ids).isSortedAccordingTo(UUID::compareTo);
    }
}
