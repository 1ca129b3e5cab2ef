package dev.outboxbridge.inbox.internal;

import java.time.Clock;
import java.time.Instant;

/**
 * Decides what happens to an event whose attempt failed, in one place for every path an event takes:
 * <ul>
 * <li>the handler misused the transaction (closed, committed or rolled it back itself): a bug in the handler,
 *     {@link Action#FAIL_CONSUMER fail the consumer};
 * <li>the inbox's own database work for a run failed before anything committed: not the event's fault,
 *     {@link Action#RETRY retry} the record in place, without limit;
 * <li>the failure is fatal ({@link FailureClassifier}) or the attempt was the last of {@code maxAttempts}:
 *     {@link Action#DEAD_LETTER dead-letter} the event (a keyed event's key stays parked until redriven);
 * <li>else an event with a key {@link Action#PARK_KEY parks its key} (or a parked key stays parked) until the
 *     backoff of this attempt has passed, while later events of the key wait behind it and other keys go on;
 * <li>and an event without a key, which cannot be parked, is {@link Action#RETRY retried} in place: its partition
 *     is rewound and paused for the backoff ({@link PartitionRetries}).
 * </ul>
 * The caller carries the decision out; if that fails too (the dead-letter topic or the database is down), the
 * record is retried in place. Used by the polling thread only.
 */
final class FailurePolicy {

    /** What to do with the failed event. */
    enum Action {
        /** Rewind the event's partition to it and pause the partition for the backoff ({@link PartitionRetries}). */
        RETRY,
        /** Park the event's key (or keep it parked) and retry its head at {@link Decision#retryAt()}. */
        PARK_KEY,
        /** Send the event to the dead-letter topic; a keyed event's key stays parked until redriven. */
        DEAD_LETTER,
        /** Stop the consumer: the failure is a bug that retrying cannot fix. */
        FAIL_CONSUMER
    }

    /** Where the failed attempt happened. */
    enum Origin {
        /** The handler of an event read from Kafka threw; its transaction kept the events before it. */
        HANDLER,
        /** The transaction of the head of a parked key failed, in its handler or in the database. */
        PARKED_HEAD,
        /** The inbox's database work for a run of records failed: nothing of the run committed. */
        DATABASE
    }

    /**
     * @param action what to do
     * @param attempt the number of the failed attempt (1-based)
     * @param fatal whether the classifier found the failure fatal (only for {@link Action#DEAD_LETTER})
     * @param delayMillis the backoff before the next attempt (only for {@link Action#PARK_KEY})
     * @param retryAt when to retry the parked key's head (only for {@link Action#PARK_KEY}), else null
     */
    record Decision(Action action, int attempt, boolean fatal, long delayMillis, Instant retryAt) {
    }

    private final FailureClassifier classifier;
    private final int maxAttempts;
    private final Backoff backoff;
    private final Clock clock;

    /**
     * @param maxAttempts attempts of an event before it is dead-lettered (1: at the first failure)
     * @param clock the consumer's clock, for the time of a parked key's next attempt
     */
    FailurePolicy(FailureClassifier classifier, int maxAttempts, Backoff backoff, Clock clock) {
        this.classifier = classifier;
        this.maxAttempts = maxAttempts;
        this.backoff = backoff;
        this.clock = clock;
    }

    /**
     * Decides what to do after a failed attempt.
     *
     * @param origin where the attempt failed
     * @param keyed whether the event has a record key (only an event with a key can be parked)
     * @param attempt the number of the failed attempt of this event (1-based): 1 for an event whose key was not
     *        parked yet, the attempts of the parked head so far plus one, the failures in a row at the partition's
     *        position plus one for an event without a key
     * @param failure why it failed
     */
    Decision decide(Origin origin, boolean keyed, int attempt, Throwable failure) {
        if (failure instanceof InboxTransaction.HandlerMisuseException) {
            return new Decision(Action.FAIL_CONSUMER, attempt, false, 0, null);
        }
        if (origin == Origin.DATABASE) {
            return new Decision(Action.RETRY, attempt, false, 0, null);
        }
        boolean fatal = classifier.isFatal(failure);
        if (fatal || attempt >= maxAttempts) {
            return new Decision(Action.DEAD_LETTER, attempt, fatal, 0, null);
        }
        if (keyed || origin == Origin.PARKED_HEAD) {
            long delay = backoff.delayMillis(attempt);
            return new Decision(Action.PARK_KEY, attempt, false, delay, clock.instant().plusMillis(delay));
        }
        return new Decision(Action.RETRY, attempt, false, 0, null);
    }
}
