package dev.outboxbridge.inbox.internal;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Binds an inbox consumer's counters to a Micrometer registry. The only class of the module that
 * touches Micrometer, an optional dependency: it is loaded only when a registry is configured.
 */
final class MicrometerMetrics implements InboxCounters.LatencySink, AutoCloseable {

    private final MeterRegistry registry;
    private final List<Meter> meters = new ArrayList<>();
    private final Timer handler;
    private final Timer endToEnd;

    private MicrometerMetrics(MeterRegistry registry, String consumerName, InboxCounters c) {
        this.registry = registry;
        Tags tags = Tags.of("consumer", consumerName);
        counter("outbox.inbox.processed", "events whose handler ran and committed", tags, c, InboxCounters::processedCount);
        counter("outbox.inbox.duplicates", "redelivered events skipped by the inbox", tags, c,
                InboxCounters::duplicatesCount);
        counter("outbox.inbox.failures", "attempts that rolled back", tags, c, InboxCounters::failuresCount);
        counter("outbox.inbox.retries", "retries scheduled after a failed attempt", tags, c, InboxCounters::retriesCount);
        counter("outbox.inbox.dead.lettered", "records sent to the dead-letter topic", tags, c,
                InboxCounters::deadLetteredCount);
        counter("outbox.inbox.parked.events", "events stored behind a parked key", tags, c, InboxCounters::parkedCount);
        meters.add(Gauge.builder("outbox.inbox.parked.keys", c, InboxCounters::parkedKeysGauge)
                .description("keys of this consumer parked behind a failing or dead-lettered event").tags(tags)
                .register(registry));
        meters.add(Gauge.builder("outbox.inbox.lag", c, InboxCounters::lagGauge)
                .description("records behind the end of the owned partitions, at the last poll").baseUnit("records")
                .tags(tags).register(registry));
        handler = Timer.builder("outbox.inbox.handler.latency").description("time in the handler").tags(tags)
                .publishPercentileHistogram().register(registry);
        endToEnd = Timer.builder("outbox.inbox.end.to.end.latency")
                .description("from the record timestamp (the producer's commit) to the inbox commit").tags(tags)
                .publishPercentileHistogram().register(registry);
        meters.add(handler);
        meters.add(endToEnd);
    }

    /** Registers the meters; {@code registry} must be a {@link MeterRegistry}. */
    static MicrometerMetrics bind(Object registry, String consumerName, InboxCounters counters) {
        MicrometerMetrics metrics = new MicrometerMetrics((MeterRegistry) registry, consumerName, counters);
        counters.latencySink(metrics);
        return metrics;
    }

    private void counter(String name, String description, Tags tags, InboxCounters c,
            java.util.function.ToDoubleFunction<InboxCounters> f) {
        meters.add(FunctionCounter.builder(name, c, f).description(description).tags(tags).register(registry));
    }

    @Override
    public void handler(long nanos) {
        handler.record(nanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public void endToEnd(long millis) {
        endToEnd.record(millis, TimeUnit.MILLISECONDS);
    }

    /** Removes the meters from the registry. */
    @Override
    public void close() {
        meters.forEach(registry::remove);
    }
}
