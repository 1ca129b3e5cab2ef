package dev.outboxbridge.spring;

import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;

/**
 * The relay embedded in the application ({@code outbox.relay.enabled=true}): a {@link Relay} started and closed
 * with the application context. Each {@link #start()} builds a new relay from the same configuration (a relay
 * starts once), with the application's {@code MeterRegistry} and {@code Clock} when it has them.
 *
 * <p>Phase {@link #PHASE}: below Boot's web server ({@code DEFAULT_PHASE - 2048}) and its graceful shutdown
 * ({@code DEFAULT_PHASE - 1024}) and below the inbox consumers ({@code DEFAULT_PHASE}). So the relay starts before
 * the application takes requests or consumes (the slot exists before the first event is written), and stops after
 * the last request and the last inbox batch finished: events they appended are published by this relay, or, if it
 * closes first, by the next one from the slot. The {@code DataSource} is closed later still, with the bean
 * factory (the relay does not use it: it has connections of its own).
 *
 * <p>{@link #stop()} closes the relay: it stops reading, waits for the batch in flight, stores the position and
 * releases the lease, all within the relay's {@code shutdown.timeout.ms}. A standby on the same slot takes over.
 *
 * <p>Failures after the start: the relay restarts itself in the process ({@code outbox.relay.restart.enabled}, true
 * unless set): a run ended by a PostgreSQL failover, a lost lease or a broker outage is closed and a fresh one starts
 * after a backoff, in the same {@link Relay} object ({@link #relay()}), which is {@code RESTARTING} meanwhile. With
 * {@code outbox.relay.restart.enabled=false} it stays failed until the application restarts.
 */
public final class SpringRelay implements SmartLifecycle {

    /** Started before, stopped after, the web server and the inbox consumers. */
    public static final int PHASE = SmartLifecycle.DEFAULT_PHASE - 4096;

    private static final Logger LOG = LoggerFactory.getLogger(SpringRelay.class);

    private final RelayConfig config;
    private final MeterRegistry meterRegistry;
    private final Clock clock;
    private final boolean autoStartup;

    private volatile Relay relay;
    private volatile boolean running;

    /**
     * @param meterRegistry where the relay registers its meters; null: a registry of its own
     * @param clock the clock that measures publish latency; null: the system UTC clock
     */
    public SpringRelay(RelayConfig config, MeterRegistry meterRegistry, Clock clock, boolean autoStartup) {
        this.config = Objects.requireNonNull(config, "config");
        this.meterRegistry = meterRegistry;
        this.clock = clock;
        this.autoStartup = autoStartup;
    }

    /** What the relay runs with (the {@code outbox.relay.*} settings over the application's). */
    public RelayConfig config() {
        return config;
    }

    /** The relay since the last {@link #start()} (also after stop, for its state), if started. */
    public Optional<Relay> relay() {
        return Optional.ofNullable(relay);
    }

    /**
     * Starts a new relay (see {@link Relay#start()}): it checks PostgreSQL and Kafka, creates the slot when allowed,
     * and leads or stands by. A relay that cannot start fails the application's start-up with the reason.
     */
    @Override
    public synchronized void start() {
        if (running) {
            return;
        }
        Relay.Builder builder = Relay.builder(config);
        if (meterRegistry != null) {
            builder.meterRegistry(meterRegistry);
        }
        if (clock != null) {
            builder.clock(clock);
        }
        Relay started = builder.build();
        relay = started;
        try {
            started.start();
        } catch (RuntimeException e) {
            started.close();
            throw new IllegalStateException("The embedded relay '" + config.name() + "' (outbox.relay.*) could not start: "
                    + e.getMessage(), e);
        }
        running = true;
        LOG.info("Embedded relay started: {}", started.statusLine());
    }

    /** Closes the relay within its {@code shutdown.timeout.ms}; a standby on the same slot takes over. */
    @Override
    public synchronized void stop() {
        if (!running) {
            return;
        }
        running = false;
        Relay r = relay;
        if (r != null) {
            r.close();
            LOG.info("Embedded relay stopped: {}", r.statusLine());
        }
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    @Override
    public boolean isAutoStartup() {
        return autoStartup;
    }

    @Override
    public int getPhase() {
        return PHASE;
    }

    @Override
    public String toString() {
        Relay r = relay;
        return "SpringRelay[" + (r != null ? r.statusLine() : config.name() + ": not started") + "]";
    }
}
