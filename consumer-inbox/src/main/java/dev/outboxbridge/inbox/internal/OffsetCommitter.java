package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.db.FaultPoint;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tracks the offsets of records whose database transaction committed and commits them to Kafka.
 * Only such records are ever recorded here, so no offset of an unapplied record is ever committed.
 * Used by the polling thread only.
 */
final class OffsetCommitter {

    private static final Logger LOG = LoggerFactory.getLogger(OffsetCommitter.class);

    private final String consumerName;
    private final Consumer<?, ?> consumer;
    private final InboxCounters counters;
    /** Per partition, the offset after the last record whose transaction committed, not yet committed to Kafka. */
    private final Map<TopicPartition, Long> pending = new HashMap<>();

    OffsetCommitter(String consumerName, Consumer<?, ?> consumer, InboxCounters counters) {
        this.consumerName = consumerName;
        this.consumer = consumer;
        this.counters = counters;
    }

    /** The record at {@code offset} of {@code tp} was applied (or was a duplicate) and its transaction committed. */
    void processed(TopicPartition tp, long offset) {
        pending.put(tp, offset + 1);
    }

    /** Commits the pending offsets of every partition. */
    void commitAll() {
        commit(new HashMap<>(pending));
    }

    /** Commits the pending offsets of {@code partitions}, then forgets them whether or not the commit worked. */
    void commitAndForget(Collection<TopicPartition> partitions) {
        Map<TopicPartition, Long> subset = new HashMap<>();
        partitions.forEach(tp -> {
            Long next = pending.get(tp);
            if (next != null) {
                subset.put(tp, next);
            }
        });
        try {
            commit(subset);
        } finally {
            forget(partitions);
        }
    }

    /** Forgets pending offsets without committing them (the partitions were lost). */
    int forget(Collection<TopicPartition> partitions) {
        int dropped = 0;
        for (TopicPartition tp : partitions) {
            dropped += pending.remove(tp) != null ? 1 : 0;
        }
        return dropped;
    }

    /**
     * Commits synchronously. A failure caused by a rebalance or a retriable error is logged and
     * the offsets stay pending: the next commit covers them, or the new owner of the partition
     * re-reads the records and the inbox skips them as duplicates.
     */
    private void commit(Map<TopicPartition, Long> nextOffsets) {
        if (nextOffsets.isEmpty()) {
            return;
        }
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        java.util.Set<TopicPartition> owned = consumer.assignment();
        nextOffsets.forEach((tp, next) -> {
            if (owned.contains(tp)) {
                offsets.put(tp, new OffsetAndMetadata(next));
            } else {
                // never commit for a partition this consumer no longer owns: its successor's commits win
                pending.remove(tp, next);
            }
        });
        if (offsets.isEmpty()) {
            return;
        }
        try {
            commitSync(offsets);
        } catch (CommitFailedException | RebalanceInProgressException | RetriableException e) {
            LOG.warn("Inbox consumer '{}' could not commit offsets {} ({}); they are retried with the next commit, "
                    + "and records redelivered meanwhile are skipped by the inbox", consumerName, offsets, e.toString());
            return;
        }
        counters.committed(offsets);
        nextOffsets.forEach((tp, next) -> pending.remove(tp, next));
    }

    /** A pending {@code wakeup()} from close() must not cost the commit of applied records: retry once. */
    private void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets) {
        FaultPoint.INBOX_BEFORE_OFFSET_COMMIT.reached();
        try {
            consumer.commitSync(offsets);
        } catch (WakeupException e) {
            LOG.debug("Inbox consumer '{}' is closing; committing offsets once more after the wakeup", consumerName);
            consumer.commitSync(offsets);
        }
        FaultPoint.INBOX_AFTER_OFFSET_COMMIT.reached();
    }
}
