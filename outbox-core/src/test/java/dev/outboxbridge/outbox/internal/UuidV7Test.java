package dev.outboxbridge.outbox.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class UuidV7Test {

    @Test
    void hasVersion7VariantAndTheClockTimestamp() {
        Instant now = Instant.parse("2026-11-26T10:15:30.123Z");
        UUID id = new UuidV7(Clock.fixed(now, ZoneOffset.UTC)).next();
        assertThat(id.version()).isEqualTo(7);
        assertThat(id.variant()).isEqualTo(2);
        assertThat(UuidV7.millis(id)).isEqualTo(now.toEpochMilli());
    }

    @Test
    void idsFromOneGeneratorAreUniqueAndSortInCreationOrderEvenWithinOneMillisecond() {
        UuidV7 gen = new UuidV7(Clock.fixed(Instant.parse("2026-11-26T10:15:30Z"), ZoneOffset.UTC));
        List<UUID> ids = new ArrayList<>();
        for (int i = 0; i < 10_000; i++) {
            ids.add(gen.next());
        }
        assertThat(new HashSet<>(ids)).hasSize(ids.size());
        List<String> asText = ids.stream().map(UUID::toString).toList();
        assertThat(asText).isSorted();
    }

    @Test
    void staysMonotonicWhenTheClockGoesBack() {
        MutableClock clock = new MutableClock(1_000_000);
        UuidV7 gen = new UuidV7(clock);
        UUID first = gen.next();
        clock.millis = 999_000;
        UUID second = gen.next();
        assertThat(second.toString()).isGreaterThan(first.toString());
    }

    private static final class MutableClock extends Clock {
        long millis;

        MutableClock(long millis) {
            this.millis = millis;
        }

        @Override
        public long millis() {
            return millis;
        }

        @Override
        public Instant instant() {
            return Instant.ofEpochMilli(millis);
        }

        @Override
        public java.time.ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }
    }
}
