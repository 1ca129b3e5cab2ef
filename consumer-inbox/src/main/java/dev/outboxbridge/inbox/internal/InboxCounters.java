package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.inbox.InboxStats;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/** Counters of one inbox consumer, written by its polling thread and read from any thread. */
final class InboxCounters {

    private final LongAdder processed = new LongAdder();
    private final LongAdder duplicates = new LongAdder();
    private final LongAdder failures = new LongAdder();
    private final Map<TopicPartition, Long> lastCommittedOffsets = new ConcurrentHashMap<>();

    void processed() {
        processed.increment();
    }

    void duplicate() {
        duplicates.increment();
    }

    void failure() {
        failures.increment();
    }

    void committed(Map<TopicPartition, OffsetAndMetadata> offsets) {
        offsets.forEach((tp, o) -> lastCommittedOffsets.put(tp, o.offset()));
    }

    InboxStats snapshot() {
        return new InboxStats(processed.sum(), duplicates.sum(), failures.sum(), lastCommittedOffsets);
    }
}
