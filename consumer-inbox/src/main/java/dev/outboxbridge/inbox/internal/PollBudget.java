package dev.outboxbridge.inbox.internal;

import java.time.Duration;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * The time one poll batch may take before the loop polls again: half of {@code max.poll.interval.ms}. A slow
 * handler thus makes the loop poll again in time, instead of getting the member evicted from its group and causing a
 * rebalance storm; the records not started are read again after the next poll.
 *
 * <p>Measured on a monotonic clock in nanoseconds ({@code System::nanoTime} outside tests), not on the consumer's
 * {@link java.time.Clock}: that one is wall time, which may jump, and tests freeze or move it to make retries due.
 * Used by the polling thread only.
 */
final class PollBudget {

    private final long budgetNanos;
    private final LongSupplier nanoTime;
    private long deadlineNanos;

    /**
     * @param budget how long one batch may take
     * @param nanoTime a monotonic clock in nanoseconds ({@code System::nanoTime} outside tests)
     */
    PollBudget(Duration budget, LongSupplier nanoTime) {
        this.budgetNanos = budget.toNanos();
        this.nanoTime = nanoTime;
        this.deadlineNanos = nanoTime.getAsLong() + budgetNanos;
    }

    /** Half of the {@code max.poll.interval.ms} of the resolved Kafka consumer configuration. */
    static PollBudget halfOfMaxPollInterval(Map<String, Object> kafkaProperties, LongSupplier nanoTime) {
        return new PollBudget(Duration.ofMillis(KafkaConsumerProperties.maxPollIntervalMs(kafkaProperties)).dividedBy(2),
                nanoTime);
    }

    /** Starts a new batch: the whole budget is left. */
    void restart() {
        deadlineNanos = nanoTime.getAsLong() + budgetNanos;
    }

    /** Whether the current batch has time left. */
    boolean hasTimeLeft() {
        return nanoTime.getAsLong() - deadlineNanos < 0;
    }
}
