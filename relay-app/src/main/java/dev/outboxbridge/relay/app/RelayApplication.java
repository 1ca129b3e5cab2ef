package dev.outboxbridge.relay.app;

import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.concurrent.TimeUnit;

/**
 * The relay as the sidecar runs it: the embeddable {@link Relay} with a Prometheus meter registry and, when
 * {@code http.port} is not -1, the operations endpoints ({@code /health/live}, {@code /health/ready}, {@code /metrics}).
 */
public final class RelayApplication implements AutoCloseable {

    private final RelayConfig config;
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Relay relay;
    private volatile OperationsServer http;

    private RelayApplication(RelayConfig config) {
        this.config = config;
        this.relay = Relay.builder(config).meterRegistry(registry).build();
    }

    public static RelayApplication create(RelayConfig config) {
        return new RelayApplication(config);
    }

    /** Opens the operations endpoints (when configured), then starts the relay (see {@link Relay#start()}). */
    public void start() {
        int port = config.getInt(RelayConfig.HTTP_PORT);
        if (port >= 0) {
            // ready: publishing, or a healthy standby ready to take over
            http = new OperationsServer(config.name(), port, relay::isLive, relay::isReady, relay::statusLine, registry::scrape);
        }
        relay.start();
    }

    public Relay relay() {
        return relay;
    }

    /** The port of the operations endpoints, or -1 when they are off or not started. */
    public int httpPort() {
        OperationsServer h = http;
        return h == null ? -1 : h.port();
    }

    /**
     * Closes the relay, then the operations endpoints and the registry, all within shutdown.timeout.ms: the HTTP
     * thread gets what the relay left of it (a request still running then is interrupted).
     */
    @Override
    public void close() {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(config.getLong(RelayConfig.SHUTDOWN_TIMEOUT_MS));
        try {
            relay.close();
        } finally {
            OperationsServer h = http;
            if (h != null) {
                h.close(TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
            }
            registry.close();
        }
    }
}
