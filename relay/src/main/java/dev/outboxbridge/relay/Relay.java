package dev.outboxbridge.relay;

import dev.outboxbridge.relay.internal.RelaySupervisor;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * The relay: an embedded Debezium Postgres engine (pgoutput, a slot and a publication covering
 * only the outbox table, no snapshot) that publishes each committed outbox insert to Kafka with
 * an idempotent producer ({@code acks=all}), marking a change processed only after Kafka
 * acknowledged it.
 *
 * <p>Lifecycle: {@link #start()} runs the start-up checks and starts the engine on one named
 * thread; {@link #close()} stops reading, waits for the batch in flight, stores the position and
 * closes the producer, all within {@code shutdown.timeout.ms}. {@code start()} and {@code close()}
 * run one at a time: a close() issued during start() waits for it, then stops what it started. A
 * relay that failed reports why in {@link #failure()}.
 *
 * <p>Restart: with {@code restart.enabled=false} (the default of the library and the sidecar) a failed relay stays
 * {@link State#FAILED}: run it under a supervisor that restarts the process (the sidecar exits with status 1). With
 * {@code restart.enabled=true} (the Spring Boot starter's default) a run that fails after {@link #start()} returned is
 * closed completely and a fresh run starts from the same configuration after a backoff ({@code restart.backoff.*}), on
 * a thread the relay owns ({@code outbox-relay-supervisor-<name>}): every start-up check runs again and the primary is
 * resolved again from the host list, so a restart is as safe as a process restart. Meanwhile the state is
 * {@link State#RESTARTING} ({@link #pendingRestart()} says why and when), the relay is live and not ready, and each
 * attempt counts in {@code outbox.relay.restarts}. A {@link #start()} that fails is not retried: it throws.
 *
 * <p>Embedding: {@code Relay.builder(config).meterRegistry(registry).clock(clock).build()}. The
 * runnable sidecar (command line, operations endpoints, logging) is the {@code outbox-relay-app}
 * module.
 */
public final class Relay implements AutoCloseable {

    /** Prefix of the relay's heartbeat messages in the WAL. */
    public static final String HEARTBEAT_PREFIX = "outbox-bridge-heartbeat";

    /**
     * Lifecycle states; transitions are compare-and-set. STANDBY: started, waiting for the lease
     * (ha.enabled=true) while another relay publishes; RUNNING: publishing. RESTARTING (only with
     * {@code restart.enabled=true}): a run failed and the relay is closing it, waiting the backoff or about to start
     * the next run ({@link #pendingRestart()}); the next run then goes through STARTING again.
     */
    public enum State { NEW, STARTING, STANDBY, RUNNING, STOPPING, STOPPED, FAILED, RESTARTING }

    /**
     * A restart the relay has pending ({@code restart.enabled=true}).
     *
     * @param failure what ended the last run (or made the last restart's start fail)
     * @param failuresInARow failures since the relay last ran for {@code restart.backoff.reset.ms}; the backoff doubles with each
     * @param nextAttemptAt when the next run starts (the clock given to the builder)
     */
    public record Restart(Throwable failure, int failuresInARow, Instant nextAttemptAt) {
        public Restart {
            Objects.requireNonNull(failure, "failure");
            Objects.requireNonNull(nextAttemptAt, "nextAttemptAt");
        }
    }

    private final RelaySupervisor runtime;

    private Relay(RelayConfig config, Clock clock, MeterRegistry registry) {
        this.runtime = new RelaySupervisor(config, clock, registry);
    }

    /** A relay with the system clock and metrics kept to itself (a {@link SimpleMeterRegistry}). */
    public static Relay create(RelayConfig config) {
        return builder(config).build();
    }

    /** With the clock that measures publish latency (commit time to Kafka acknowledgement). */
    public static Relay create(RelayConfig config, Clock clock) {
        return builder(config).clock(clock).build();
    }

    /** A relay with the host's meter registry and clock: {@code Relay.builder(config).meterRegistry(r).clock(c).build()}. */
    public static Builder builder(RelayConfig config) {
        return new Builder(config);
    }

    /** Builds a {@link Relay}; everything but the configuration is optional. */
    public static final class Builder {
        private final RelayConfig config;
        private Clock clock = Clock.systemUTC();
        private MeterRegistry meterRegistry;

        private Builder(RelayConfig config) {
            this.config = Objects.requireNonNull(config, "config");
        }

        /** The clock that measures publish latency (commit time to Kafka acknowledgement); default the system UTC clock. */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /**
         * Where the relay registers its meters ({@code outbox.relay.*}, tagged {@code relay=<relay.name>}); they are
         * removed again on {@link Relay#close()}, the registry stays the caller's. Default: a registry of its own.
         */
        public Builder meterRegistry(MeterRegistry meterRegistry) {
            this.meterRegistry = Objects.requireNonNull(meterRegistry, "meterRegistry");
            return this;
        }

        public Relay build() {
            return new Relay(config, clock, meterRegistry != null ? meterRegistry : new SimpleMeterRegistry());
        }
    }

    /**
     * Checks PostgreSQL and Kafka, creates the publication and slot when allowed, and starts the
     * engine. Returns once the slot exists: every outbox row committed after this returns will be
     * published. On a first start with {@code first.start.snapshot=true} the engine creates the slot (with
     * the snapshot it reads the table in): without {@code ha.enabled} this waits for that (up to 60 s); a
     * standby returns at once, and a row committed before the leader's engine created the slot is published
     * by the snapshot (if it is still in the table).
     *
     * @throws RelayException naming what failed and the fix; the relay is then FAILED (also with
     *         {@code restart.enabled=true}: only a run that started is restarted)
     * @throws IllegalStateException when the relay was started or closed before
     */
    public void start() {
        runtime.start();
    }

    /** Test hook: runs in {@link #start()} before the start-up checks. */
    void beforePreflight(Runnable hook) {
        runtime.beforePreflight(hook);
    }

    /**
     * Stops reading the WAL, waits for the batch in flight to be acknowledged, stores the position
     * and closes the producer, within {@code shutdown.timeout.ms} in all. Idempotent; after it
     * returns no thread of the relay runs (unless something did not stop within the timeout, which
     * it logs). With {@code restart.enabled=true} it also stops the restarts, within the same timeout, also during a
     * backoff; closed then, the relay stays FAILED.
     */
    @Override
    public void close() {
        runtime.close();
    }

    /**
     * Waits until the relay stopped or failed; with {@code restart.enabled=true}, until it stopped for good (closed, or a
     * failed {@link #start()}): a failed run is restarted, it does not end the relay.
     */
    public boolean awaitTermination(Duration timeout) throws InterruptedException {
        return runtime.awaitTermination(timeout);
    }

    public State state() {
        return runtime.state();
    }

    /**
     * Why the relay failed, if it did. With {@code restart.enabled=true}: while a restart is pending (and while the next
     * run starts), the failure that ended the last run; empty again once a run publishes or stands by.
     */
    public Optional<Throwable> failure() {
        return runtime.failure();
    }

    /** With {@code restart.enabled=true}, while the state is {@link State#RESTARTING}: why, and when the next run starts. */
    public Optional<Restart> pendingRestart() {
        return runtime.pendingRestart();
    }

    /** Events acknowledged by Kafka since start, over every run (restarts included). */
    public long publishedCount() {
        return runtime.publishedCount();
    }

    public RelayConfig config() {
        return runtime.config();
    }

    /**
     * Live: not failed (a supervisor restarts a relay that is not). A relay {@link State#RESTARTING} is live: it restarts
     * itself, so liveness must not make Kubernetes kill the process.
     */
    public boolean isLive() {
        return state() != State.FAILED;
    }

    /**
     * Ready: publishing, or a healthy standby ready to take over. Not ready while the leader waits for Kafka: a partition it
     * writes has fewer in-sync replicas than {@code min.insync.replicas} (see {@code kafka.replication.check}); it resumes
     * by itself when they are back. Not ready while {@link State#RESTARTING}, until the next run publishes or stands by.
     */
    public boolean isReady() {
        State s = state();
        return (s == State.RUNNING && !runtime.waitingForKafka()) || s == State.STANDBY;
    }

    /** One line for operators: the relay's name, state and, when failed, restarting or a standby, why. */
    public String statusLine() {
        return runtime.statusLine();
    }
}
