package dev.outboxbridge.relay.internal;

import java.time.Duration;

/** One deadline for a shutdown: every wait of it takes what is left, never a fixed time of its own. */
final class Deadline {

    private final long timeoutNanos;
    private final long endNanos;

    private Deadline(Duration timeout) {
        this.timeoutNanos = timeout.toNanos();
        this.endNanos = System.nanoTime() + timeoutNanos;
    }

    public static Deadline after(Duration timeout) {
        return new Deadline(timeout);
    }

    /** What is left, never negative. */
    public Duration left() {
        return Duration.ofNanos(leftNanos());
    }

    public long leftNanos() {
        return Math.max(0, endNanos - System.nanoTime());
    }

    public long leftMillis() {
        return Duration.ofNanos(leftNanos()).toMillis();
    }

    public boolean passed() {
        return leftNanos() == 0;
    }

    public long timeoutMillis() {
        return Duration.ofNanos(timeoutNanos).toMillis();
    }
}
