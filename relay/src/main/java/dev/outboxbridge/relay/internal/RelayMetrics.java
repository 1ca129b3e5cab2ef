package dev.outboxbridge.relay.internal;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.function.DoubleSupplier;

/** The relay's metrics (Micrometer, scraped in the Prometheus text format); one instance per relay. */
public final class RelayMetrics {

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Counter published;
    private final Timer latency;
    private final DistributionSummary batchSize;

    public RelayMetrics(String relayName) {
        registry.config().commonTags("relay", relayName);
        published = Counter.builder("outbox.relay.events.published").description("Events acknowledged by Kafka").register(registry);
        latency = Timer.builder("outbox.relay.publish.latency").description("Transaction commit time to Kafka acknowledgement")
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(5))
                .register(registry);
        batchSize = DistributionSummary.builder("outbox.relay.batch.size").description("Change events per batch handed over by Debezium")
                .publishPercentileHistogram().minimumExpectedValue(1.0).maximumExpectedValue(100_000.0).register(registry);
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
        Counter.builder("outbox.relay.errors").description("Failures by kind").tag("kind", kind).register(registry).increment();
    }

    /** Registers a gauge computed when scraped. */
    public void gauge(String name, String description, DoubleSupplier value) {
        Gauge.builder(name, value, DoubleSupplier::getAsDouble).strongReference(true).description(description).register(registry);
    }

    public String scrape() {
        return registry.scrape();
    }

    public void close() {
        registry.close();
    }
}
