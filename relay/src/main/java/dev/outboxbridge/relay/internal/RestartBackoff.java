package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.RelayConfig;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.DoubleSupplier;

/**
 * The waits between in-process restarts ({@code restart.backoff.*}): {@code initial * 2^(failures in a row - 1)}, capped
 * at {@code max}, less up to 20% of jitter (so relays that failed together do not restart in step; the cap is never
 * exceeded). Pure: the jitter's random source is injected.
 */
final class RestartBackoff {

    /** The largest share of a wait taken off at random. */
    static final double JITTER = 0.2;

    private final long initialMillis;
    private final long maxMillis;
    private final DoubleSupplier random; // uniform in [0, 1)

    RestartBackoff(long initialMillis, long maxMillis, DoubleSupplier random) {
        if (initialMillis <= 0 || maxMillis < initialMillis) {
            throw new IllegalArgumentException("backoff " + initialMillis + ".." + maxMillis + " ms");
        }
        this.initialMillis = initialMillis;
        this.maxMillis = maxMillis;
        this.random = random;
    }

    static RestartBackoff of(RelayConfig config) {
        return new RestartBackoff(config.getLong(RelayConfig.RESTART_BACKOFF_INITIAL_MS), config.getLong(RelayConfig.RESTART_BACKOFF_MAX_MS),
                () -> ThreadLocalRandom.current().nextDouble());
    }

    /** The wait before the restart after {@code failuresInARow} (1 for the first) failures in a row. */
    Duration delay(int failuresInARow) {
        if (failuresInARow < 1) {
            throw new IllegalArgumentException("failuresInARow " + failuresInARow);
        }
        return Duration.ofMillis(jittered(base(failuresInARow)));
    }

    /** The wait without jitter: initial doubled per failure in a row, capped. */
    long base(int failuresInARow) {
        int doublings = Math.min(failuresInARow - 1, 62);
        long base = initialMillis;
        for (int i = 0; i < doublings && base < maxMillis; i++) {
            base *= 2;
        }
        return Math.min(base, maxMillis);
    }

    private long jittered(long base) {
        double r = Math.min(Math.max(random.getAsDouble(), 0), 1);
        return Math.max(1, base - Math.round(base * JITTER * r));
    }
}
