package dev.outboxbridge.inbox.internal;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;

/**
 * Retry bookkeeping of the partitions paused after a failed record: which offset failed how many
 * times in a row and when the partition may resume. Used by the polling thread only.
 */
final class PartitionRetries {

    private final Backoff backoff;
    private final Map<TopicPartition, Failure> failures = new HashMap<>();
    private final Map<TopicPartition, Long> resumeAtMillis = new HashMap<>();

    PartitionRetries(Backoff backoff) {
        this.backoff = backoff;
    }

    /**
     * Records a failed attempt of the record at {@code offset} and schedules the partition's resume.
     *
     * @return the attempt number and delay, for the log
     */
    Failure failed(TopicPartition tp, long offset, long nowMillis) {
        Failure previous = failures.get(tp);
        int attempt = previous != null && previous.offset == offset ? previous.attempt + 1 : 1;
        Failure failure = new Failure(offset, attempt, backoff.delayMillis(attempt));
        failures.put(tp, failure);
        resumeAtMillis.put(tp, nowMillis + failure.delayMillis);
        return failure;
    }

    /** How many attempts of the record at {@code offset} of {@code tp} failed in a row so far. */
    int attemptsSoFar(TopicPartition tp, long offset) {
        Failure previous = failures.get(tp);
        return previous != null && previous.offset == offset ? previous.attempt : 0;
    }

    /** Whether {@code tp} is paused for a backoff that has not elapsed yet. */
    boolean isWaiting(TopicPartition tp) {
        return resumeAtMillis.containsKey(tp);
    }

    /** The record at the head of {@code tp} succeeded: its next failure counts from 1 again. */
    void succeeded(TopicPartition tp) {
        failures.remove(tp);
    }

    /** Removes and returns the paused partitions whose backoff has elapsed. */
    List<TopicPartition> dueForResume(long nowMillis) {
        List<TopicPartition> due = new ArrayList<>();
        for (Iterator<Map.Entry<TopicPartition, Long>> it = resumeAtMillis.entrySet().iterator(); it.hasNext();) {
            Map.Entry<TopicPartition, Long> e = it.next();
            if (e.getValue() <= nowMillis) {
                due.add(e.getKey());
                it.remove();
            }
        }
        return due;
    }

    /** Forgets partitions this consumer no longer owns. */
    void forget(Collection<TopicPartition> partitions) {
        partitions.forEach(tp -> {
            failures.remove(tp);
            resumeAtMillis.remove(tp);
        });
    }

    /** One failed attempt: the record's offset, the attempt number (1-based) and the backoff before the next. */
    record Failure(long offset, int attempt, long delayMillis) {
    }
}
