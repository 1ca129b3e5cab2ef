package dev.outboxbridge.relay.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.Relay.State;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The in-process restart's schedule and lifecycle ({@link RestartBackoff}, {@link RelaySupervisor}) with an injected
 * clock and sleeper, and runs that fail when the test says so: no servers, no wall-clock waits. What a real run does on
 * a real failure is tested against PostgreSQL and Kafka by RelayRestartIT and RelayRestartOnFailoverIT.
 */
class RelaySupervisorTest {

    private static final Duration WAIT = Duration.ofSeconds(10);

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
    private final ControlledSleeper sleeper = new ControlledSleeper();
    private final List<FakeRun> runs = new ArrayList<>();
    private RelaySupervisor supervisor;

    @AfterEach
    void closeSupervisor() {
        FakeRun.nextStartFailure.set(null);
        if (supervisor != null) {
            supervisor.close();
        }
    }

    static RelayConfig config(String... keyValues) {
        Map<String, String> m = new HashMap<>();
        m.put(RelayConfig.NAME, "sup-test");
        m.put(RelayConfig.DATABASE_HOSTNAME, "db1");
        m.put(RelayConfig.DATABASE_DBNAME, "orders");
        m.put(RelayConfig.DATABASE_USER, "relay");
        m.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, "localhost:9092");
        m.put(RelayConfig.RESTART_ENABLED, "true");
        m.put(RelayConfig.RESTART_BACKOFF_INITIAL_MS, "1000");
        m.put(RelayConfig.RESTART_BACKOFF_MAX_MS, "5000");
        m.put(RelayConfig.RESTART_BACKOFF_RESET_MS, "60000");
        m.put(RelayConfig.SHUTDOWN_TIMEOUT_MS, "2000");
        for (int i = 0; i < keyValues.length; i += 2) {
            m.put(keyValues[i], keyValues[i + 1]);
        }
        return RelayConfig.of(m);
    }

    private RelaySupervisor supervisor(RelayConfig config) {
        RestartBackoff backoff = new RestartBackoff(config.getLong(RelayConfig.RESTART_BACKOFF_INITIAL_MS),
                config.getLong(RelayConfig.RESTART_BACKOFF_MAX_MS), () -> 0.0);
        supervisor = new RelaySupervisor(config, clock, new RelayMetrics(config.name(), registry), sleeper, backoff, m -> {
            FakeRun run = new FakeRun();
            synchronized (runs) {
                runs.add(run);
            }
            return run;
        });
        return supervisor;
    }

    private FakeRun run(int index) {
        await().atMost(WAIT).until(() -> {
            synchronized (runs) {
                return runs.size() > index;
            }
        });
        synchronized (runs) {
            return runs.get(index);
        }
    }

    private double restarts() {
        return registry.get("outbox.relay.restarts").tag("relay", "sup-test").counter().count();
    }

    @Test
    void backoffDoublesUpToItsCapAndJitterOnlyShortensIt() {
        RestartBackoff noJitter = new RestartBackoff(1_000, 60_000, () -> 0.0);
        List<Long> waits = new ArrayList<>();
        for (int failures = 1; failures <= 9; failures++) {
            waits.add(noJitter.delay(failures).toMillis());
        }
        assertThat(waits).containsExactly(1_000L, 2_000L, 4_000L, 8_000L, 16_000L, 32_000L, 60_000L, 60_000L, 60_000L);
        assertThat(noJitter.delay(Integer.MAX_VALUE)).isEqualTo(Duration.ofMillis(60_000));

        RestartBackoff fullJitter = new RestartBackoff(1_000, 60_000, () -> 0.999_999);
        for (int failures = 1; failures <= 9; failures++) {
            long base = noJitter.base(failures);
            assertThat(fullJitter.delay(failures).toMillis()).as("failure %s", failures)
                    .isBetween(Math.round(base * (1 - RestartBackoff.JITTER)), base);
        }
        assertThatThrownBy(() -> noJitter.delay(0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void settingsAreValidatedAtStartUpWithTheFix() {
        assertThatThrownBy(() -> config(RelayConfig.RESTART_BACKOFF_INITIAL_MS, "10000", RelayConfig.RESTART_BACKOFF_MAX_MS, "5000"))
                .isInstanceOf(ConfigException.class).hasMessageContaining(RelayConfig.RESTART_BACKOFF_INITIAL_MS)
                .hasMessageContaining("Fix: ");
        assertThatThrownBy(() -> config(RelayConfig.RESTART_BACKOFF_INITIAL_MS, "0")).isInstanceOf(ConfigException.class)
                .hasMessageContaining(RelayConfig.RESTART_BACKOFF_INITIAL_MS);
        assertThatThrownBy(() -> config(RelayConfig.RESTART_ENABLED, "sometimes")).isInstanceOf(ConfigException.class)
                .hasMessageContaining(RelayConfig.RESTART_ENABLED);
        assertThat(RelayConfig.of(Map.of(RelayConfig.DATABASE_HOSTNAME, "db1", RelayConfig.DATABASE_DBNAME, "orders",
                RelayConfig.DATABASE_USER, "relay", RelayConfig.KAFKA_BOOTSTRAP_SERVERS, "localhost:9092"))
                .getBoolean(RelayConfig.RESTART_ENABLED)).as("off by default: the sidecar exits for its supervisor").isFalse();
    }

    @Test
    void aFailedRunIsClosedAndAFreshOneStartsAfterTheBackoffWhichGrowsWhileFailuresFollowEachOther() throws Exception {
        RelaySupervisor s = supervisor(config());
        s.start();
        FakeRun first = run(0);
        assertThat(s.state()).isEqualTo(State.RUNNING);
        assertThat(restarts()).isZero();
        first.publish(7);

        RelayException lost = new RelayException("lost the lease");
        first.fail(lost);
        assertThat(sleeper.awaitRequest()).isEqualTo(Duration.ofMillis(1_000));
        assertThat(first.closed).as("the failed run is closed before the next starts").isTrue();
        assertThat(s.state()).isEqualTo(State.RESTARTING);
        assertThat(s.failure()).containsSame(lost);
        Relay.Restart pending = s.pendingRestart().orElseThrow();
        assertThat(pending.failure()).isSameAs(lost);
        assertThat(pending.failuresInARow()).isEqualTo(1);
        assertThat(pending.nextAttemptAt()).isEqualTo(clock.instant().plusSeconds(1));
        assertThat(s.statusLine()).contains("RESTARTING").contains("lost the lease").contains(pending.nextAttemptAt().toString());
        assertThat(s.publishedCount()).isEqualTo(7);

        sleeper.release();
        FakeRun second = run(1);
        await().atMost(WAIT).until(() -> s.state() == State.RUNNING);
        assertThat(restarts()).isEqualTo(1.0);
        assertThat(s.failure()).as("a run started again").isEmpty();
        assertThat(s.pendingRestart()).isEmpty();
        second.publish(5);
        assertThat(s.publishedCount()).as("published events count across runs").isEqualTo(12);

        second.fail(new RelayException("broker outage"));
        assertThat(sleeper.awaitRequest()).as("second failure in a row").isEqualTo(Duration.ofMillis(2_000));
        sleeper.release();
        FakeRun third = run(2);
        await().atMost(WAIT).until(() -> s.state() == State.RUNNING);

        clock.advance(Duration.ofSeconds(61)); // the third ran longer than restart.backoff.reset.ms
        third.fail(new RelayException("slot moved"));
        assertThat(sleeper.awaitRequest()).as("after a healthy run the backoff starts again").isEqualTo(Duration.ofMillis(1_000));
        assertThat(s.pendingRestart().orElseThrow().failuresInARow()).isEqualTo(1);
        sleeper.release();
        await().atMost(WAIT).until(() -> s.state() == State.RUNNING);
        assertThat(restarts()).isEqualTo(3.0);
    }

    @Test
    void aRestartWhoseStartFailsIsOneMoreFailureInARow() throws Exception {
        RelaySupervisor s = supervisor(config());
        s.start();
        FakeRun.nextStartFailure.set(new RelayException("no primary among db1,db2"));
        run(0).fail(new RelayException("the primary moved"));
        assertThat(sleeper.awaitRequest()).isEqualTo(Duration.ofMillis(1_000));
        sleeper.release();
        assertThat(sleeper.awaitRequest()).as("the restart's start failed").isEqualTo(Duration.ofMillis(2_000));
        assertThat(s.failure().orElseThrow()).hasMessage("no primary among db1,db2");
        assertThat(s.state()).isEqualTo(State.RESTARTING);
        sleeper.release();
        assertThat(sleeper.awaitRequest()).as("the third failure in a row").isEqualTo(Duration.ofMillis(4_000));
        FakeRun.nextStartFailure.set(null);
        sleeper.release();
        await().atMost(WAIT).until(() -> s.state() == State.RUNNING);
        assertThat(restarts()).isEqualTo(3.0);
    }

    @Test
    void closeDuringTheBackoffStopsTheSupervisorWithinTheShutdownTimeout() throws Exception {
        RelaySupervisor s = supervisor(config());
        s.start();
        assertThat(supervisorThread()).isPresent();
        run(0).fail(new RelayException("lost the lease"));
        sleeper.awaitRequest(); // the supervisor now waits its backoff (the sleeper blocks until interrupted)

        long begin = System.nanoTime();
        s.close();
        Duration took = Duration.ofNanos(System.nanoTime() - begin);
        assertThat(took).as("close() during a backoff").isLessThan(Duration.ofMillis(2_000));
        assertThat(supervisorThread()).as("the supervisor thread stopped").isEmpty();
        assertThat(sleeper.interrupted.getCount()).as("the backoff was interrupted").isZero();
        assertThat(s.state()).as("closed while restarting: the last run had failed").isEqualTo(State.FAILED);
        assertThat(s.awaitTermination(Duration.ZERO)).isTrue();
        synchronized (runs) {
            assertThat(runs).as("no run starts after close()").hasSize(1);
        }
        assertThat(registry.find("outbox.relay.restarts").counter()).as("meters removed on close").isNull();
    }

    @Test
    void closeWhileTheRunIsHealthyClosesItAndStopsTheSupervisor() throws Exception {
        RelaySupervisor s = supervisor(config());
        s.start();
        s.close();
        assertThat(run(0).closed).isTrue();
        assertThat(s.state()).isEqualTo(State.STOPPED);
        assertThat(supervisorThread()).isEmpty();
        assertThat(sleeper.requests).isEmpty();
        assertThatThrownBy(s::start).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("not in expected state NEW, current state is STOPPED");
    }

    @Test
    void withoutRestartAFailedRunStaysFailed() throws Exception {
        RelaySupervisor s = supervisor(config(RelayConfig.RESTART_ENABLED, "false"));
        s.start();
        assertThat(supervisorThread()).isEmpty();
        RelayException cause = new RelayException("lost the lease");
        run(0).fail(cause);
        assertThat(s.awaitTermination(WAIT)).isTrue();
        assertThat(s.state()).isEqualTo(State.FAILED);
        assertThat(s.failure()).containsSame(cause);
        assertThat(s.pendingRestart()).isEmpty();
        assertThat(registry.find("outbox.relay.restarts").counter()).isNull();
    }

    @Test
    void aFirstStartThatFailsIsNotRetried() {
        RelaySupervisor s = supervisor(config());
        FakeRun.nextStartFailure.set(new RelayException("wrong password"));
        try {
            assertThatThrownBy(s::start).hasMessage("wrong password");
        } finally {
            FakeRun.nextStartFailure.set(null);
        }
        assertThat(s.state()).isEqualTo(State.FAILED);
        assertThat(supervisorThread()).isEmpty();
    }

    private static Optional<Thread> supervisorThread() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals("outbox-relay-supervisor-sup-test"))
                .filter(Thread::isAlive).findFirst();
    }

    /** A run that starts, publishes and fails when the test says so. */
    static final class FakeRun implements RelaySupervisor.Run {
        static final AtomicReference<RelayException> nextStartFailure = new AtomicReference<>();
        private final AtomicReference<State> state = new AtomicReference<>(State.NEW);
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private final CountDownLatch terminated = new CountDownLatch(1);
        private final RelayException startFailure = nextStartFailure.get();
        private volatile long published;
        volatile boolean closed;

        void publish(long n) {
            published += n;
        }

        void fail(Throwable cause) {
            failure.set(cause);
            state.set(State.FAILED);
            terminated.countDown();
        }

        @Override
        public void start() {
            if (!state.compareAndSet(State.NEW, State.STARTING)) {
                throw new IllegalStateException("not NEW: " + state.get());
            }
            if (startFailure != null) {
                fail(startFailure);
                throw startFailure;
            }
            state.set(State.RUNNING);
        }

        @Override
        public void close() {
            closed = true;
            state.compareAndSet(State.NEW, State.STOPPED);
            state.compareAndSet(State.RUNNING, State.STOPPED);
            terminated.countDown();
        }

        @Override
        public boolean awaitTermination(Duration timeout) throws InterruptedException {
            return terminated.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
        }

        @Override
        public State state() {
            return state.get();
        }

        @Override
        public Optional<Throwable> failure() {
            return Optional.ofNullable(failure.get());
        }

        @Override
        public long publishedCount() {
            return published;
        }

        @Override
        public String statusLine() {
            return "relay sup-test: " + state.get() + "\n";
        }

        @Override
        public boolean waitingForKafka() {
            return false;
        }

        @Override
        public void beforePreflight(Runnable hook) {
        }
    }

    /** Records each backoff asked for and blocks it until the test releases it or close() interrupts it. */
    static final class ControlledSleeper implements RelaySupervisor.Sleeper {
        final BlockingQueue<Duration> requests = new LinkedBlockingQueue<>();
        final Semaphore releases = new Semaphore(0);
        final CountDownLatch interrupted = new CountDownLatch(1);

        @Override
        public void sleep(Duration duration) throws InterruptedException {
            requests.add(duration);
            try {
                releases.acquire();
            } catch (InterruptedException e) {
                interrupted.countDown();
                throw e;
            }
        }

        Duration awaitRequest() throws InterruptedException {
            Duration d = requests.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(d).as("the supervisor asked for a backoff").isNotNull();
            return d;
        }

        void release() {
            releases.release();
        }
    }

    static final class MutableClock extends Clock {
        private volatile Instant now;

        MutableClock(Instant start) {
            this.now = start;
        }

        void advance(Duration d) {
            now = now.plus(d);
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }
}
