package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.Relay.State;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The relay's runs behind the {@link Relay} facade. Without {@code restart.enabled} there is one run
 * ({@link RelayRuntime}) and this class only passes through. With it, a supervisor thread of its own
 * ({@code outbox-relay-supervisor-<name>}) waits for the run to end: when it ended failed (and not by {@link #close()}),
 * it closes that run completely (the run's own close path: engine, lease, monitors, producer), waits the backoff
 * ({@link RestartBackoff}), and starts a fresh run from the same configuration: every start-up check runs again and the
 * primary is resolved again from the host list, so a restart is as safe as a process restart. A restart whose start
 * fails counts as one more failure in a row. The metrics ({@link RelayMetrics}) outlive the runs; so does the count of
 * published events. {@link #close()} stops the supervisor within {@code shutdown.timeout.ms}, also during a backoff.
 * Not API.
 */
public final class RelaySupervisor implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Relay.class); // operators know the relay's logger by this name

    /** One run of the relay: what {@link RelayRuntime} offers. */
    interface Run extends AutoCloseable {
        void start();

        @Override
        void close();

        boolean awaitTermination(Duration timeout) throws InterruptedException;

        State state();

        Optional<Throwable> failure();

        long publishedCount();

        String statusLine();

        boolean waitingForKafka();

        void beforePreflight(Runnable hook);
    }

    /** Waits a backoff; interrupted when the relay closes. */
    @FunctionalInterface
    interface Sleeper {
        void sleep(Duration duration) throws InterruptedException;
    }

    private final RelayConfig config;
    private final Clock clock;
    private final RelayMetrics metrics;
    private final Function<RelayMetrics, Run> runs;
    private final Sleeper sleeper;
    private final RestartBackoff backoff;
    private final boolean restartEnabled;
    private final Duration resetAfter;
    private final Duration shutdownTimeout;

    private final Object lifecycle = new Object(); // start() and close() one at a time
    private final Object lock = new Object(); // the fields below
    private Run current; // null during a backoff
    private boolean started; // start() returned
    private boolean closed;
    private boolean sleeping;
    private long publishedBefore; // events of the runs that ended
    private Thread thread;
    private volatile Relay.Restart pending; // set from the end of a failed run until the next run starts
    private volatile Throwable lastFailure; // the failure that ended the last run, until a run started again
    private volatile Runnable beforePreflight = () -> { };
    private final CountDownLatch terminated = new CountDownLatch(1); // restart.enabled: the relay stopped for good
    // supervisor thread only
    private int failuresInARow;
    private Instant runStartedAt; // the current run's start() returned at; null if it did not

    public RelaySupervisor(RelayConfig config, Clock clock, MeterRegistry registry) {
        this(config, clock, new RelayMetrics(config.name(), registry), d -> Thread.sleep(d.toMillis()), RestartBackoff.of(config), null);
    }

    RelaySupervisor(RelayConfig config, Clock clock, RelayMetrics metrics, Sleeper sleeper, RestartBackoff backoff,
            Function<RelayMetrics, Run> runs) {
        this.config = config;
        this.clock = clock;
        this.metrics = metrics;
        this.sleeper = sleeper;
        this.backoff = backoff;
        this.runs = runs != null ? runs : m -> new RelayRuntime(config, clock, m, false);
        this.restartEnabled = config.getBoolean(RelayConfig.RESTART_ENABLED);
        this.resetAfter = Duration.ofMillis(config.getLong(RelayConfig.RESTART_BACKOFF_RESET_MS));
        this.shutdownTimeout = Duration.ofMillis(config.getLong(RelayConfig.SHUTDOWN_TIMEOUT_MS));
        if (restartEnabled) {
            metrics.registerRestarts();
        }
    }

    /** Test hook: runs in each run's start before the start-up checks. */
    public void beforePreflight(Runnable hook) {
        this.beforePreflight = hook;
    }

    /**
     * Starts the first run (see {@link Relay#start()}); with {@code restart.enabled}, then the supervisor thread. A first
     * start that fails throws and is not retried: the relay is FAILED.
     */
    public void start() {
        synchronized (lifecycle) {
            Run run;
            synchronized (lock) {
                if (started || current != null || closed) {
                    throw new IllegalStateException("Relay '" + config.name() + "' is not in expected state " + State.NEW
                            + ", current state is " + stateLocked() + " (a relay starts once: build a new one)");
                }
                run = newRun();
                current = run;
            }
            try {
                run.start();
            } catch (RuntimeException e) {
                terminated.countDown();
                throw e;
            }
            synchronized (lock) {
                started = true;
                if (restartEnabled && !closed) {
                    runStartedAt = clock.instant(); // (the supervisor thread, started below, reads it)
                    thread = new Thread(this::supervise, "outbox-relay-supervisor-" + config.name());
                    thread.setDaemon(true); // it only waits; the engine's thread is the one that keeps the process
                    thread.start();
                }
            }
        }
    }

    private Run newRun() {
        Run run = runs.apply(metrics);
        Runnable hook = beforePreflight;
        run.beforePreflight(hook);
        return run;
    }

    /** The supervisor thread: waits for the run to end; a failed one is closed and, after the backoff, started anew. */
    private void supervise() {
        try {
            while (true) {
                Run run;
                synchronized (lock) {
                    run = current;
                }
                while (!run.awaitTermination(Duration.ofDays(1))) {
                    // a run ends by failing or by close()
                }
                Duration delay;
                synchronized (lock) {
                    if (closed) {
                        return;
                    }
                    Throwable cause = run.failure().orElseGet(() -> new RelayException("Relay '" + config.name()
                            + "': the run ended in state " + run.state() + " without being closed"));
                    Instant now = clock.instant();
                    if (runStartedAt != null && Duration.between(runStartedAt, now).compareTo(resetAfter) >= 0) {
                        failuresInARow = 0; // it ran long enough: back to the first wait
                    }
                    failuresInARow++;
                    delay = backoff.delay(failuresInARow);
                    lastFailure = cause;
                    pending = new Relay.Restart(cause, failuresInARow, now.plus(delay));
                    LOG.warn("Relay '{}' failed ({}); restarting it in {} ms ({} failure(s) in a row, restart.enabled=true)",
                            config.name(), cause.getMessage(), delay.toMillis(), failuresInARow);
                }
                run.close(); // the run's close path: engine, lease, monitors, producer; bounded by shutdown.timeout.ms
                synchronized (lock) {
                    publishedBefore += run.publishedCount();
                    current = null;
                    if (closed) {
                        return;
                    }
                    sleeping = true;
                }
                try {
                    sleeper.sleep(delay);
                } catch (InterruptedException e) {
                    // close() interrupts the backoff
                } finally {
                    synchronized (lock) {
                        sleeping = false;
                        Thread.interrupted(); // an interrupt meant for the backoff must not reach the next run
                    }
                }
                Run next;
                synchronized (lock) {
                    if (closed) {
                        return;
                    }
                    next = newRun();
                    current = next;
                    runStartedAt = clock.instant(); // before start(): whoever sees the run started sees this set
                }
                metrics.restarted();
                LOG.info("Relay '{}' restarting after: {}", config.name(), pending.failure().getMessage());
                try {
                    next.start();
                    synchronized (lock) {
                        pending = null;
                        lastFailure = null;
                    }
                    LOG.info("Relay '{}' restarted: {}", config.name(), next.statusLine().strip());
                } catch (IllegalStateException e) {
                    synchronized (lock) {
                        runStartedAt = null;
                        if (closed) {
                            return; // close() closed the new run before it started
                        }
                    }
                    LOG.warn("Relay '{}': the restart failed: {}", config.name(), e.getMessage());
                } catch (RuntimeException e) {
                    synchronized (lock) {
                        runStartedAt = null; // it never ran: one more failure in a row
                    }
                    LOG.warn("Relay '{}': the restart failed: {}", config.name(), e.getMessage()); // the run is FAILED: next loop
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException | Error e) {
            LOG.error("Relay '{}': the supervisor stopped: {}; the relay is not restarted any more", config.name(), e.toString(), e);
            lastFailure = lastFailure != null ? lastFailure : e;
        } finally {
            synchronized (lock) {
                pending = null;
            }
            terminated.countDown();
        }
    }

    /**
     * Closes the current run (see {@link Relay#close()}) and stops the supervisor thread, within {@code shutdown.timeout.ms}
     * in all, also while it waits a backoff. Idempotent.
     */
    @Override
    public void close() {
        synchronized (lifecycle) {
            Deadline deadline = Deadline.after(shutdownTimeout);
            Run run;
            Thread t;
            synchronized (lock) {
                if (closed) {
                    return;
                }
                closed = true;
                run = current;
                t = thread;
                if (sleeping && t != null) {
                    t.interrupt();
                }
            }
            if (run != null) {
                run.close();
            }
            if (t != null) {
                try {
                    t.join(Math.max(1, deadline.leftMillis()));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                if (t.isAlive()) {
                    LOG.warn("Relay '{}': the supervisor thread did not stop within shutdown.timeout.ms ({} ms)", config.name(),
                            shutdownTimeout.toMillis());
                }
            }
            metrics.close();
            terminated.countDown();
        }
    }

    /** Without restart.enabled: until the run stopped or failed. With it: until the relay was closed. */
    public boolean awaitTermination(Duration timeout) throws InterruptedException {
        if (!restartEnabled) {
            Run run;
            synchronized (lock) {
                run = current;
            }
            if (run != null) {
                return run.awaitTermination(timeout);
            }
        }
        return terminated.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    /**
     * The current run's state; {@link State#RESTARTING} from the end of a failed run until the next run starts (while
     * the supervisor closes it, waits the backoff); after close() during a backoff, {@link State#FAILED}.
     */
    public State state() {
        synchronized (lock) {
            return stateLocked();
        }
    }

    private State stateLocked() {
        Run run = current;
        if (run == null) {
            if (!started) {
                return closed ? State.STOPPED : State.NEW;
            }
            return closed ? State.FAILED : State.RESTARTING; // closed during a backoff: the last run had failed
        }
        State s = run.state();
        if (s == State.FAILED && restartEnabled && started && !closed && terminated.getCount() > 0) {
            return State.RESTARTING; // failed: the supervisor restarts it
        }
        return s;
    }

    /** The pending restart: the failure that ended the last run and when the next one starts. */
    public Optional<Relay.Restart> pendingRestart() {
        return state() == State.RESTARTING ? Optional.ofNullable(pending).or(this::justFailed) : Optional.empty();
    }

    /** The run failed and the supervisor has not yet taken it up (moments): the restart is due at once. */
    private Optional<Relay.Restart> justFailed() {
        Run run;
        synchronized (lock) {
            run = current;
        }
        return run == null ? Optional.empty() : run.failure().map(f -> new Relay.Restart(f, failuresInARowSnapshot() + 1, clock.instant()));
    }

    private int failuresInARowSnapshot() {
        synchronized (lock) {
            return failuresInARow;
        }
    }

    /** The current run's failure; while restarting (until the next run stands by or publishes), the failure that ended the last run. */
    public Optional<Throwable> failure() {
        Run run;
        synchronized (lock) {
            run = current;
        }
        Optional<Throwable> f = run == null ? Optional.empty() : run.failure();
        if (f.isPresent() || (run != null && (run.state() == State.RUNNING || run.state() == State.STANDBY))) {
            return f;
        }
        return Optional.ofNullable(lastFailure);
    }

    /** Events acknowledged by Kafka since start(), over every run. */
    public long publishedCount() {
        synchronized (lock) {
            return publishedBefore + (current == null ? 0 : current.publishedCount());
        }
    }

    /** True while the current run waits for Kafka's in-sync replicas. */
    public boolean waitingForKafka() {
        Run run;
        synchronized (lock) {
            run = current;
        }
        return run != null && run.waitingForKafka();
    }

    public String statusLine() {
        Optional<Relay.Restart> restart = pendingRestart();
        if (restart.isPresent()) {
            Relay.Restart r = restart.get();
            return "relay " + config.name() + ": " + State.RESTARTING + ", next attempt at " + r.nextAttemptAt() + " (failure "
                    + r.failuresInARow() + " in a row): " + r.failure().getMessage() + "\n";
        }
        Run run;
        synchronized (lock) {
            run = current;
        }
        return run == null ? "relay " + config.name() + ": " + state() + "\n" : run.statusLine();
    }

    public RelayConfig config() {
        return config;
    }
}
