package dev.outboxbridge.bench;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Every setting of a run; written to the JSON file as given. */
record BenchOptions(Set<String> scenarios, long events, long warmupEvents, int drainRounds, int payloadBytes, int aggregates, int partitions, int backlogTxSize,
        int backlogWriters, List<Integer> pollBatchSizes, double pollTrialFraction, long pollIntervalMs, List<Integer> rates,
        int latencyWarmupSeconds, int latencySeconds, int latencyRounds, int latencyWriters, boolean consumerLatency, boolean latencyTunedRelay, boolean exactlyOnce, int writeSeconds, int writeWriters, int writeRounds,
        long inboxEvents, long inboxPerRecordEvents, long memoryEvents, String memoryHeap, long retentionEvents, int retentionWriters, int retentionTxSize, int retentionCleanupSeconds,
        boolean profile, long timeoutMs, int idleSeconds, long orderEvents, int orderWriters, int orderAggregates, int orderBumps,
        long steadyEvents, int steadyRounds) {

    boolean runs(String scenario) {
        return scenarios.contains(scenario);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("scenarios", scenarios);
        m.put("events", events);
        m.put("warmup_events", warmupEvents);
        m.put("drain_rounds", drainRounds);
        m.put("payload_bytes", payloadBytes);
        m.put("aggregates", aggregates);
        m.put("partitions", partitions);
        m.put("backlog_tx_size", backlogTxSize);
        m.put("backlog_writers", backlogWriters);
        m.put("poll_batch_sizes", pollBatchSizes);
        m.put("poll_trial_fraction", pollTrialFraction);
        m.put("poll_interval_ms", pollIntervalMs);
        m.put("rates", rates);
        m.put("latency_warmup_s", latencyWarmupSeconds);
        m.put("latency_s", latencySeconds);
        m.put("latency_rounds", latencyRounds);
        m.put("latency_writers", latencyWriters);
        m.put("consumer_latency", consumerLatency);
        m.put("latency_tuned_relay", latencyTunedRelay);
        m.put("exactly_once", exactlyOnce);
        m.put("write_s", writeSeconds);
        m.put("write_writers", writeWriters);
        m.put("write_rounds", writeRounds);
        m.put("inbox_events", inboxEvents);
        m.put("inbox_per_record_events", inboxPerRecordEvents);
        m.put("memory_events", memoryEvents);
        m.put("memory_heap", memoryHeap);
        m.put("retention_events", retentionEvents);
        m.put("retention_writers", retentionWriters);
        m.put("retention_tx_size", retentionTxSize);
        m.put("retention_cleanup_s", retentionCleanupSeconds);
        m.put("profile", profile);
        m.put("idle_s", idleSeconds);
        m.put("order_events", orderEvents);
        m.put("order_writers", orderWriters);
        m.put("order_aggregates", orderAggregates);
        m.put("order_bumps_per_tx", orderBumps);
        m.put("steady_events", steadyEvents);
        m.put("steady_rounds", steadyRounds);
        m.put("producer", "enable.idempotence=true, acks=all, linger.ms=5, compression.type=none (every contender)");
        m.put("engine", "max.batch.size=2048, max.queue.size=8192, poll.interval.ms=10; relay: its defaults (offset.flush.interval.ms=100,"
                + " Kafka position store, own publication with a column list); Debezium peer: offset.flush.interval.ms=1000, file offsets");
        return m;
    }
}
