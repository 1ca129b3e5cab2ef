package dev.outboxbridge.relay.internal;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.DoubleSupplier;

/**
 * The relay's metrics, registered in the host's {@link MeterRegistry} (the relay application passes a Prometheus
 * one), every meter tagged {@code relay=<relay.name>}; one instance per relay. {@link #close()} removes the relay's
 * meters from the registry and leaves the registry itself to its owner. With {@code restart.enabled} one instance serves
 * every run of the relay ({@link RelaySupervisor}): the counters go on across restarts, and a gauge registered again by
 * the next run reads that run's value.
 */
final class RelayMetrics {

    private final MeterRegistry registry;
    private final Tags tags;
    private final List<Meter> meters = new CopyOnWriteArrayList<>();
    private final Counter published;
    private final Timer latency;
    private final DistributionSummary batchSize;
    private final Counter snapshotPublished;
    private final Map<String, AtomicReference<DoubleSupplier>> gauges = new ConcurrentHashMap<>();
    private volatile Counter restarts;

    public RelayMetrics(String relayName, MeterRegistry registry) {
        this.registry = registry;
        this.tags = Tags.of("relay", relayName);
        published = keep(Counter.builder("outbox.relay.events.published").description("Events acknowledged by Kafka").tags(tags)
                .register(registry));
        latency = keep(Timer.builder("outbox.relay.publish.latency").description("Transaction commit time to Kafka acknowledgement")
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(5))
                .tags(tags).register(registry));
        batchSize = keep(DistributionSummary.builder("outbox.relay.batch.size").description("Change events per batch handed over by Debezium")
                .publishPercentileHistogram().minimumExpectedValue(1.0).maximumExpectedValue(100_000.0).tags(tags).register(registry));
        snapshotPublished = keep(Counter.builder("outbox.relay.snapshot.events.published")
                .description("Events of the first-start snapshot (rows already in the outbox table) acknowledged by Kafka; also counted"
                        + " in outbox.relay.events.published").tags(tags).register(registry));
    }

    void snapshotPublished(long count) {
        snapshotPublished.increment(count);
    }

    private <M extends Meter> M keep(M meter) {
        meters.add(meter);
        return meter;
    }

    void published(long count) {
        published.increment(count);
    }

    void latency(Duration commitToAck) {
        latency.record(commitToAck.isNegative() ? Duration.ZERO : commitToAck);
    }

    void batch(int size) {
        batchSize.record(size);
    }

    /** Counts a failure by kind: mapping, send, topic, engine, startup. */
    public void error(String kind) {
        keep(Counter.builder("outbox.relay.errors").description("Failures by kind").tags(tags).tag("kind", kind).register(registry))
                .increment();
    }

    /** Registers a gauge computed when read; registered again (by the next run after a restart), it reads the new value. */
    public void gauge(String name, String description, DoubleSupplier value) {
        gauges.computeIfAbsent(name, n -> {
            AtomicReference<DoubleSupplier> current = new AtomicReference<>(value);
            keep(Gauge.builder(n, current, c -> c.get().getAsDouble()).strongReference(true).description(description).tags(tags)
                    .register(registry));
            return current;
        }).set(value);
    }

    /** Counts a restart of the relay in its process ({@code restart.enabled}): a new run started after a failure. */
    void restarted() {
        registerRestarts();
        restarts.increment();
    }

    /** Registers {@code outbox.relay.restarts} at 0 (restart.enabled=true), so that it is there before the first restart. */
    synchronized void registerRestarts() {
        if (restarts == null) {
            restarts = keep(Counter.builder("outbox.relay.restarts").description("Runs of the relay started in its process after"
                    + " a failure (restart.enabled=true); each attempt counts, also one whose start failed").tags(tags)
                    .register(registry));
        }
    }

    /** Removes this relay's meters from the registry (the registry stays open: its owner closes it). */
    public void close() {
        meters.forEach(registry::remove);
        meters.clear();
        gauges.clear();
    }
}
