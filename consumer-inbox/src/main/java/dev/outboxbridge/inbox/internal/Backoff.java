package dev.outboxbridge.inbox.internal;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.DoubleSupplier;

/**
 * Exponential backoff with jitter: attempt n (1-based) waits {@code initial × 2^(n-1)} times a
 * random factor in [0.8, 1.2), capped at {@code max}.
 */
final class Backoff {

    private static final double JITTER = 0.2;

    private final long initialMillis;
    private final long maxMillis;
    private final DoubleSupplier random;

    Backoff(Duration initial, Duration max) {
        this(initial, max, () -> ThreadLocalRandom.current().nextDouble());
    }

    /** @param random uniform values in [0, 1) */
    Backoff(Duration initial, Duration max, DoubleSupplier random) {
        this.initialMillis = initial.toMillis();
        this.maxMillis = max.toMillis();
        this.random = random;
    }

    /** The delay before retrying after the {@code attempt}-th failure in a row (1-based), in ms. */
    long delayMillis(int attempt) {
        int doublings = Math.min(Math.max(attempt, 1) - 1, 62);
        double base = Math.min((double) maxMillis, initialMillis * Math.pow(2, doublings));
        double factor = 1 - JITTER + 2 * JITTER * random.getAsDouble();
        return Math.max(1, Math.min(maxMillis, Math.round(base * factor)));
    }
}
