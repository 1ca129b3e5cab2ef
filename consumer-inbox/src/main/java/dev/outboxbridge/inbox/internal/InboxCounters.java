package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.inbox.InboxStats;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * Counters of one inbox consumer, written by its polling thread and read from any thread; the
 * Micrometer meters (when a registry is configured) read them or are fed from here.
 */
final class InboxCounters {

    private final LongAdder processed = new LongAdder();
    private final LongAdder duplicates = new LongAdder();
    private final LongAdder failures = new LongAdder();
    private final LongAdder retries = new LongAdder();
    private final LongAdder deadLettered = new LongAdder();
    private final LongAdder parked = new LongAdder();
    private final AtomicLong parkedKeys = new AtomicLong();
    private final AtomicLong lag = new AtomicLong();
    private final Map<TopicPartition, Long> lastCommittedOffsets = new ConcurrentHashMap<>();
    private volatile LatencySink latencies = LatencySink.NONE;

    /** Where latencies go; Micrometer timers when a registry is configured. */
    interface LatencySink {
        LatencySink NONE = new LatencySink() {
            @Override
            public void handler(long nanos) {
            }

            @Override
            public void endToEnd(long millis) {
            }
        };

        void handler(long nanos);

        void endToEnd(long millis);
    }

    void latencySink(LatencySink sink) {
        this.latencies = sink;
    }

    void processed() {
        processed.increment();
    }

    void duplicate() {
        duplicates.increment();
    }

    void failure() {
        failures.increment();
    }

    void retryScheduled() {
        retries.increment();
    }

    void deadLettered() {
        deadLettered.increment();
    }

    void parked() {
        parked.increment();
    }

    void parkedKeys(long count) {
        parkedKeys.set(count);
    }

    void lag(long records) {
        lag.set(records);
    }

    void handlerLatency(long nanos) {
        latencies.handler(nanos);
    }

    void endToEndLatency(long millis) {
        if (millis >= 0) {
            latencies.endToEnd(millis);
        }
    }

    void committed(Map<TopicPartition, OffsetAndMetadata> offsets) {
        offsets.forEach((tp, o) -> lastCommittedOffsets.put(tp, o.offset()));
    }

    double processedCount() {
        return processed.sum();
    }

    double duplicatesCount() {
        return duplicates.sum();
    }

    double failuresCount() {
        return failures.sum();
    }

    double retriesCount() {
        return retries.sum();
    }

    double deadLetteredCount() {
        return deadLettered.sum();
    }

    double parkedCount() {
        return parked.sum();
    }

    double parkedKeysGauge() {
        return parkedKeys.get();
    }

    double lagGauge() {
        return lag.get();
    }

    InboxStats snapshot() {
        return new InboxStats(processed.sum(), duplicates.sum(), failures.sum(), deadLettered.sum(), parked.sum(),
                parkedKeys.get(), lastCommittedOffsets);
    }
}
