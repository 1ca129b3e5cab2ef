package dev.outboxbridge.inbox;

import java.util.Map;
import org.apache.kafka.common.TopicPartition;

/**
 * A snapshot of an inbox consumer's counters.
 *
 * @param processed events whose handler ran and whose transaction committed
 * @param duplicates records skipped because the inbox already held their event id
 * @param failures attempts that rolled back: the handler threw or the database failed
 * @param deadLettered records sent to the dead-letter topic (bad records and events whose handler
 *        failed fatally or too often)
 * @param parked events stored behind a parked key (waiting for the key's head event)
 * @param parkedKeys keys of this consumer (in any member of its group) parked behind a failing or
 *        dead-lettered event, as of the consumer's last look at the parked keys (every
 *        {@code parkedKeyCheckInterval}); the gauge {@code outbox.inbox.parked.keys}
 * @param lastCommittedOffsets per partition, the last offset this consumer committed to Kafka (as
 *        Kafka counts it: the offset of the next record to read), including partitions it no
 *        longer owns
 */
public record InboxStats(long processed, long duplicates, long failures, long deadLettered, long parked,
        long parkedKeys, Map<TopicPartition, Long> lastCommittedOffsets) {

    /** Copies {@code lastCommittedOffsets}. */
    public InboxStats {
        lastCommittedOffsets = Map.copyOf(lastCommittedOffsets);
    }
}
