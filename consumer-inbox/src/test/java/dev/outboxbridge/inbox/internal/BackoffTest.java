package dev.outboxbridge.inbox.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class BackoffTest {

    @Test
    void doublesPerAttemptUpToTheMax() {
        Backoff noJitter = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(1), () -> 0.5);

        assertThat(noJitter.delayMillis(1)).isEqualTo(100);
        assertThat(noJitter.delayMillis(2)).isEqualTo(200);
        assertThat(noJitter.delayMillis(4)).isEqualTo(800);
        assertThat(noJitter.delayMillis(5)).isEqualTo(1000);
        assertThat(noJitter.delayMillis(1000)).isEqualTo(1000);
    }

    @Test
    void jitterStaysWithinTwentyPercentAndUnderTheMax() {
        assertThat(new Backoff(Duration.ofMillis(100), Duration.ofSeconds(1), () -> 0.0).delayMillis(1)).isEqualTo(80);
        assertThat(new Backoff(Duration.ofMillis(100), Duration.ofSeconds(1), () -> 0.999).delayMillis(1)).isEqualTo(120);
        assertThat(new Backoff(Duration.ofMillis(100), Duration.ofSeconds(1), () -> 0.999).delayMillis(10)).isEqualTo(1000);
    }
}
