package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.Relay.State;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import io.debezium.embedded.Connect;
import io.micrometer.core.instrument.MeterRegistry;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.RecordChangeEvent;
import io.debezium.engine.format.ChangeEventFormat;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.connect.source.SourceRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The relay's lifecycle behind the {@link Relay} facade: the state machine ({@link State}, compare-and-set
 * transitions), start-up, leadership (lease, fencing), the engine's start and end, and a close() bounded by one
 * deadline. {@code start()} and {@code close()} hold one lock, so a close() racing start() waits for it and then
 * stops what it started. Not API.
 */
public final class RelayRuntime implements RelaySupervisor.Run {

    private static final Logger LOG = LoggerFactory.getLogger(Relay.class); // operators know the relay's logger by this name
    /** How often the slot's retained WAL and wal_status are checked while the relay runs. */
    static final Duration SLOT_CHECK_INTERVAL = Duration.ofSeconds(5);
    /** How long start() waits for the engine to create the slot on a first start with the snapshot. */
    static final Duration SLOT_CREATION_WAIT = Duration.ofSeconds(60);

    private final RelayConfig config;
    private final AtomicReference<State> state = new AtomicReference<>(State.NEW);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final CountDownLatch terminated = new CountDownLatch(1);
    private volatile KafkaProducer<byte[], byte[]> producer;
    private volatile Admin admin;
    private volatile DebeziumEngine<RecordChangeEvent<SourceRecord>> engine;
    private volatile ExecutorService executor;
    private volatile PublishingChangeConsumer publisher;
    private final Clock clock;
    private final RelayMetrics metrics;
    private final boolean ownsMetrics; // false: one run of several (restart.enabled), the RelaySupervisor closes the metrics
    private volatile LeaderLease lease; // null unless ha.enabled
    private volatile SlotMonitor slotMonitor;
    private volatile KafkaReplicaMonitor replicaMonitor; // null with kafka.replication.check=off
    private volatile boolean fenced; // set once when the lease is lost: nothing more is sent, marked or stored
    private volatile Thread fenceThread;
    private final Object engineStart = new Object(); // the engine starts at most once, never after close() began
    private boolean engineStarted; // guarded by engineStart
    // start() and close() run one at a time: a close() issued while start() runs waits for it, then stops what it started
    private final Object lifecycle = new Object();
    private boolean closed; // guarded by lifecycle: close() ran (it runs once)
    private final java.util.concurrent.atomic.AtomicBoolean released = new java.util.concurrent.atomic.AtomicBoolean();
    private final String instanceId = java.util.UUID.randomUUID().toString();
    private volatile Runnable beforePreflight = () -> { };
    private volatile Runnable beforeSend = () -> { };

    public RelayRuntime(RelayConfig config, Clock clock, MeterRegistry registry) {
        this(config, clock, new RelayMetrics(config.name(), registry), true);
    }

    /** One run of a relay that restarts ({@link RelaySupervisor}): its metrics outlive the run. */
    RelayRuntime(RelayConfig config, Clock clock, RelayMetrics metrics, boolean ownsMetrics) {
        this.config = config;
        this.clock = clock;
        this.metrics = metrics;
        this.ownsMetrics = ownsMetrics;
    }

    /** Test hook (delivery.guarantee=exactly_once): runs in each transaction between the first permission check and send. */
    public void beforeSend(Runnable hook) {
        this.beforeSend = hook;
    }

    /** Test hook: runs in {@link #start()} before the start-up checks. */
    public void beforePreflight(Runnable hook) {
        this.beforePreflight = hook;
    }

    /**
     * Checks PostgreSQL and Kafka, creates the publication and slot when allowed, and starts the
     * engine. Returns once the slot exists: every outbox row committed after this returns will be
     * published. On a first start with {@code first.start.snapshot=true} the engine creates the slot (with
     * the snapshot it reads the table in): without {@code ha.enabled} this waits for that (up to 60 s); a
     * standby returns at once, and a row committed before the leader's engine created the slot is published
     * by the snapshot (if it is still in the table).
     *
     * @throws RelayException naming what failed and the fix; the relay is then FAILED
     */
    public void start() {
        synchronized (lifecycle) {
            transition(State.NEW, State.STARTING);
            startLocked();
        }
    }

    private void startLocked() {
        try {
            LOG.info("Relay '{}' starting: PostgreSQL {} as user '{}', table {}, slot {}, publication {}; Kafka {}, topic prefix '{}'",
                    config.name(), config.jdbcUrl(), config.databaseUser(), config.outboxTable(), config.slotName(),
                    config.publicationName(), config.bootstrapServers(), config.topicPrefix());
            LOG.debug("Relay configuration: {}", config.describe());
            Preflight preflight = new Preflight(config);
            SlotMonitor monitor = new SlotMonitor(config, this::slotUnusable);
            slotMonitor = monitor;
            metrics.gauge("outbox.relay.slot.retained.wal.bytes", "WAL the slot holds back (pg_current_wal_lsn - confirmed_flush_lsn),"
                    + " checked every " + SLOT_CHECK_INTERVAL.toSeconds() + " s", monitor::retainedWalBytes);
            metrics.gauge("outbox.relay.slot.failover.ready", "1 when the slot is a failover slot kept in step on a standby"
                    + " (synchronized_standby_slots set, its standbys streaming), 0 if not, NaN when unknown", monitor::failoverReady);
            metrics.gauge("outbox.relay.leader", "1 while this relay publishes (the leader), else 0", () -> state.get() == State.RUNNING ? 1 : 0);
            metrics.gauge("outbox.relay.standby", "1 while this relay waits for the lease as a standby, else 0",
                    () -> state.get() == State.STANDBY ? 1 : 0);
            beforePreflight.run();
            preflight.run();
            if (preflight.slotLeftToEngine()) {
                monitor.awaitCreation();
            }
            monitor.followPrimary(preflight.primary());
            monitor.start(SLOT_CHECK_INTERVAL.toMillis());
            admin = KafkaClients.createAdmin(config);
            KafkaClients.checkKafkaReachable(admin, config);
            ReplicationCheck replication = startReplicaMonitor();
            if (config.offsetsInKafka()) {
                OffsetTopic.ensure(admin, config.getString(RelayConfig.OFFSET_STORAGE_TOPIC),
                        config.getShort(RelayConfig.OFFSET_STORAGE_REPLICATION_FACTOR));
                replication.checkAtStartup(admin, config.getString(RelayConfig.OFFSET_STORAGE_TOPIC));
            }
            producer = KafkaClients.createProducer(config);
            // at least once: the first failed send closes the producer so nothing queued behind it is sent (StopOnFailureProducer);
            // exactly once: a failed send aborts the whole transaction, which the publisher then sends again in order
            Producer<byte[], byte[]> events = config.exactlyOnce() ? producer : new StopOnFailureProducer(producer, config.name());
            publisher = new PublishingChangeConsumer(events,
                    new OutboxRecordMapper(config.topicPrefix(), config.getInt(RelayConfig.MAX_RECORD_BYTES)),
                    new TopicGuard(admin, config.getBoolean(RelayConfig.TOPIC_CREATE),
                            config.getInt(RelayConfig.TOPIC_CREATE_PARTITIONS),
                            config.getShort(RelayConfig.TOPIC_CREATE_REPLICATION_FACTOR), replication), metrics, clock,
                    config.getString(RelayConfig.DEAD_LETTER_TOPIC), this::mayPublish, exactlyOncePositions(), this::kafkaFenced);
            publisher.beforeFirstSend(() -> beforeSend.run());
            KafkaPositionStore.registerFence(instanceId, this::mayPublish);
            engine = DebeziumEngine.create(ChangeEventFormat.of(Connect.class))
                    .using(EngineProperties.engine(preflight.engineConfig(), instanceId))
                    .using(this::engineCompleted)
                    .notifying(publisher)
                    .build();
            executor = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "outbox-relay-engine-" + config.name());
                t.setDaemon(false);
                return t;
            });
            if (config.getBoolean(RelayConfig.HA_ENABLED)) {
                transition(State.STARTING, State.STANDBY);
                lease = new LeaderLease(config, new LeaderLease.Listener() {
                    @Override
                    public void acquired() {
                        startPublishing(State.STANDBY);
                    }

                    @Override
                    public void lost(String reason) {
                        fence(reason);
                    }
                }, System::nanoTime, ExactlyOnce.leaseWait(config));
                lease.start();
            } else {
                startPublishing(State.STARTING);
                if (preflight.slotLeftToEngine()) {
                    awaitSlotCreatedByEngine();
                }
            }
        } catch (RuntimeException e) {
            fail(e);
            releaseResources(Deadline.after(Duration.ofMillis(config.getLong(RelayConfig.SHUTDOWN_TIMEOUT_MS))));
            throw e;
        }
    }

    /** The replication check of the topics the relay writes and, unless it is off, the monitor of their in-sync replicas. */
    private ReplicationCheck startReplicaMonitor() {
        KafkaReplicaMonitor monitor = ReplicationCheck.mode(config) == ReplicationCheck.Mode.OFF ? null
                : new KafkaReplicaMonitor(admin, config.name());
        replicaMonitor = monitor;
        metrics.gauge("outbox.relay.kafka.partitions.under.min.isr", "Partitions the relay writes with fewer in-sync replicas than"
                + " min.insync.replicas, or no leader: sends to them wait (checked every " + KafkaReplicaMonitor.INTERVAL.toSeconds()
                + " s; 0 with kafka.replication.check=off)", () -> monitor == null ? 0 : monitor.partitionsUnderMinIsr());
        return ReplicationCheck.of(config, monitor);
    }

    /** True while a partition the relay writes cannot accept an acks=all send (too few in-sync replicas): it waits. */
    public boolean waitingForKafka() {
        KafkaReplicaMonitor m = replicaMonitor;
        return m != null && state.get() == State.RUNNING && m.waiting();
    }

    private void startPublishing(State from) {
        synchronized (engineStart) {
            if (state.compareAndSet(from, State.RUNNING)) {
                engineStarted = true;
                executor.execute(config.exactlyOnce() ? ExactlyOnce.initThenRun(config, producer, engine, this::initFailed) : engine);
                LOG.info("Relay '{}' running: publishing from slot {}", config.name(), config.slotName());
            }
        }
    }

    /**
     * First start with the snapshot: the engine creates the slot (it waits for the transactions open at that moment to
     * end). start() returns once the slot exists, as it does when the preflight creates it, so that a row committed after
     * start() returned is streamed even if it is deleted at once (rows still in the table are read by the snapshot anyway).
     */
    private void awaitSlotCreatedByEngine() {
        Deadline deadline = Deadline.after(SLOT_CREATION_WAIT);
        try (java.sql.Connection c = Preflight.connect(config, config.name() + "-slot-wait", 10);
                java.sql.PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?")) {
            ps.setString(1, config.slotName());
            while (true) {
                try (java.sql.ResultSet rs = ps.executeQuery()) {
                    if (rs.next() && rs.getLong(1) > 0) {
                        return;
                    }
                }
                if (deadline.passed()) {
                    LOG.warn("Relay '{}': the engine has not created replication slot {} within {} s (it waits for the transactions"
                            + " open at that moment to end); start() returns, the slot is created when they end", config.name(),
                            config.slotName(), SLOT_CREATION_WAIT.toSeconds());
                    return;
                }
                if (terminated.await(Math.min(100, Math.max(1, deadline.leftMillis())), TimeUnit.MILLISECONDS)) {
                    return; // the engine stopped (failed): start() reports nothing more, failure() tells why
                }
            }
        } catch (java.sql.SQLException e) {
            LOG.warn("Relay '{}': could not check that the engine created replication slot {}: {}", config.name(), config.slotName(),
                    e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** While false, nothing is sent to Kafka, marked processed or stored as the position. */
    private boolean mayPublish() {
        LeaderLease l = lease;
        return !fenced && (l == null || l.mayPublish());
    }

    /**
     * The lease is lost: stop publishing at once (no further send, mark or position write; records not yet
     * acknowledged are abandoned, to be sent again by the next leader), then stop the engine on a thread of its own.
     */
    private void fence(String reason) {
        haltPublishing("lease", new RelayException("Relay '" + config.name() + "' lost the lease for slot " + config.slotName() + " ("
                + reason + ") and stopped publishing; another relay may take over. It must be restarted to rejoin as a standby"
                + " (with restart.enabled=true it restarts in its process; otherwise RelayMain exits and its supervisor starts it"
                + " again)."), true);
    }

    /** delivery.guarantee=exactly_once: the positions written in the batches' transactions, registered for the store. */
    private TransactionalPositions exactlyOncePositions() {
        if (!config.exactlyOnce()) {
            return null;
        }
        TransactionalPositions positions = new TransactionalPositions(config.getString(RelayConfig.OFFSET_STORAGE_TOPIC));
        TransactionalPositions.register(instanceId, positions);
        return positions;
    }

    /** Kafka fenced the transactional producer (another relay of the slot took over): step down as after a lost lease. */
    private void kafkaFenced(String reason) {
        haltPublishing("fenced", new RelayException("Relay '" + config.name() + "' stopped publishing from slot " + config.slotName()
                + ": " + reason + ". It must be restarted to rejoin as a standby (with restart.enabled=true it restarts in its"
                + " process; otherwise RelayMain exits and its supervisor starts it again)."), true);
    }

    /**
     * initTransactions() failed before the engine started: the relay fails, nothing was read or published. When the relay
     * stopped publishing meanwhile (lease lost: its producer was closed under initTransactions), that is the failure.
     */
    private void initFailed(RelayException cause) {
        if (fenced) {
            LOG.info("Relay '{}': transactions were not initialized, the relay stopped publishing meanwhile ({})", config.name(),
                    cause.getCause() == null ? cause.getMessage() : cause.getCause().toString());
        } else {
            LOG.error("Relay '{}' failed: {}", config.name(), cause.getMessage(), cause);
            fail(cause);
        }
        terminated.countDown();
    }

    /** PostgreSQL invalidated or dropped the slot while the relay ran: fail loudly, never resume from a wrong position. */
    private void slotUnusable(RelayException cause) {
        LOG.error("Relay '{}': {}", config.name(), cause.getMessage());
        haltPublishing("slot", cause, false);
    }

    /**
     * Stops publishing at once, fails the relay with the cause, and stops the engine on a thread of its own. With
     * abortInFlight, sends queued or in flight are abandoned too (not marked processed: sent again by the next leader).
     */
    private void haltPublishing(String errorKind, RelayException cause, boolean abortInFlight) {
        State before = state.get();
        if (before == State.FAILED || before == State.STOPPING || before == State.STOPPED) {
            return;
        }
        fenced = true;
        KafkaProducer<byte[], byte[]> p = producer;
        if (abortInFlight && p != null && before == State.RUNNING) {
            p.close(Duration.ZERO);
        }
        metrics.error(errorKind);
        fail(cause);
        if (before == State.RUNNING && engine != null) {
            Thread t = new Thread(() -> {
                try {
                    engine.close(); // the engine must not keep the slot: the next leader needs it
                } catch (IOException | RuntimeException e) {
                    LOG.debug("Relay '{}': stopping the fenced engine: {}", config.name(), e.toString());
                }
            }, "outbox-relay-fence-" + config.name());
            t.setDaemon(true);
            fenceThread = t;
            t.start();
        } else {
            terminated.countDown(); // the engine never ran
        }
    }

    private void engineCompleted(boolean success, String message, Throwable error) {
        try {
            if (fenced) {
                LOG.info("Relay '{}' engine stopped after publishing was halted (lease lost, or the slot or the primary changed)", config.name());
            } else if (success && state.get() == State.STOPPING) {
                LOG.info("Relay '{}' engine stopped: {}", config.name(), message);
            } else if (state.get() == State.STOPPING && EngineOutcome.isShutdownRace(error)) {
                LOG.info("Relay '{}' engine stopped (changes polled during shutdown are read again after a restart)", config.name());
            } else if (success && error == null && state.get() != State.RUNNING) {
                LOG.info("Relay '{}' engine stopped: {}", config.name(), message);
            } else {
                Throwable cause = EngineOutcome.failure(config, message, error);
                LOG.error("Relay '{}' failed: {}", config.name(), cause.getMessage(), cause);
                fail(cause);
            }
        } finally {
            terminated.countDown();
        }
    }

    private void fail(Throwable cause) {
        if (failure.compareAndSet(null, cause)) {
            metrics.error(state.get() == State.STARTING ? "startup" : "engine");
        }
        state.set(State.FAILED);
    }

    /** One line for operators: the relay's name, state and, when failed or a standby, why. */
    public String statusLine() {
        Throwable f = failure.get();
        State s = state.get();
        LeaderLease l = lease;
        String detail = f != null ? ": " + f.getMessage() : s == State.STANDBY && l != null ? ": " + l.standbyReason() : "";
        KafkaReplicaMonitor m = replicaMonitor;
        if (f == null && s == State.RUNNING && m != null && m.waiting()) {
            detail = ", waiting for Kafka: " + m.detail();
        }
        return "relay " + config.name() + ": " + s + detail + "\n";
    }

    /**
     * Stops reading the WAL, waits for the batch in flight to be acknowledged, stores the position
     * and closes the producer, within {@code shutdown.timeout.ms}. Idempotent.
     */
    @Override
    public void close() {
        synchronized (lifecycle) {
            if (closed) {
                return;
            }
            closed = true;
            if (state.compareAndSet(State.NEW, State.STOPPED)) {
                terminated.countDown();
                closeOperations();
                return;
            }
            closeLocked();
        }
    }

    private void closeLocked() {
        boolean wasRunning;
        boolean started;
        synchronized (engineStart) {
            wasRunning = state.compareAndSet(State.RUNNING, State.STOPPING) || state.compareAndSet(State.STANDBY, State.STOPPING);
            started = engineStarted; // a standby never started its engine: nothing to stop or wait for
        }
        Duration timeout = Duration.ofMillis(config.getLong(RelayConfig.SHUTDOWN_TIMEOUT_MS));
        Deadline deadline = Deadline.after(timeout); // one deadline for the whole close: every wait below is bounded by it
        LOG.info("Relay '{}' stopping (timeout {} ms)", config.name(), timeout.toMillis());
        if (publisher != null) {
            // first stop publishing and let the batch in flight be acknowledged and marked processed, so that the
            // engine's final flush stores the position right after the last event sent: a restart re-sends nothing
            long drainMs = Math.min(timeout.toMillis() / 2, deadline.leftMillis());
            try {
                if (!publisher.stopAndDrain(drainMs)) {
                    LOG.warn("Relay '{}': the batch in flight was not acknowledged within {} ms; it will be sent again after a restart",
                            config.name(), drainMs);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (engine != null && started) {
            stopEngine(deadline);
        }
        Thread f = fenceThread;
        if (f != null) {
            try {
                f.join(Math.max(1, deadline.leftMillis()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        releaseResources(deadline);
        if (wasRunning) {
            state.compareAndSet(State.STOPPING, State.STOPPED);
        }
        closeOperations();
        LOG.info("Relay '{}' stopped ({}), {} events published", config.name(), state.get(), publishedCount());
    }

    /**
     * Closes the engine (it flushes the position) on a thread of its own, so that an engine stuck on an unreachable
     * Kafka or PostgreSQL cannot hold close() past the deadline; then waits for its completion callback.
     */
    private void stopEngine(Deadline deadline) {
        Thread stopper = new Thread(() -> {
            try {
                engine.close();
            } catch (IOException | RuntimeException e) {
                if (state.get() == State.FAILED) {
                    LOG.debug("Relay '{}': engine already stopped: {}", config.name(), e.toString());
                } else {
                    LOG.warn("Relay '{}': closing the engine failed: {}", config.name(), e.toString());
                }
            }
        }, "outbox-relay-stop-" + config.name());
        stopper.setDaemon(true);
        stopper.start();
        try {
            stopper.join(Math.max(1, deadline.leftMillis()));
            if (stopper.isAlive() || !terminated.await(deadline.leftNanos(), TimeUnit.NANOSECONDS)) {
                LOG.warn("Relay '{}': the engine did not stop within shutdown.timeout.ms ({} ms); continuing shutdown, its"
                        + " position may not be stored (events after the last stored one are sent again after a restart)",
                        config.name(), deadline.timeoutMillis());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void releaseResources(Deadline deadline) {
        if (released.getAndSet(true)) {
            return;
        }
        LeaderLease l = lease;
        if (l != null) {
            l.close(deadline.left()); // after the engine stopped and stored its position: then the lock is freed for a standby
        }
        SlotMonitor m = slotMonitor;
        if (m != null) {
            m.close(deadline.left());
        }
        KafkaPositionStore.unregisterFence(instanceId);
        TransactionalPositions.unregister(instanceId);
        KafkaReplicaMonitor r = replicaMonitor;
        if (r != null) {
            r.close(deadline.left());
        }
        if (executor != null) {
            executor.shutdown();
            try {
                if (!executor.awaitTermination(deadline.leftNanos(), TimeUnit.NANOSECONDS)) {
                    LOG.warn("Relay '{}': engine thread still running after the shutdown timeout; interrupting it", config.name());
                    executor.shutdownNow();
                }
            } catch (InterruptedException e) {
                executor.shutdownNow();
                Thread.currentThread().interrupt();
            }
        }
        // what Kafka has not acknowledged by now was not marked processed: it is sent again after a restart
        if (producer != null) {
            producer.close(deadline.left());
        }
        if (admin != null) {
            admin.close(deadline.left());
        }
        if (deadline.passed()) {
            LOG.warn("Relay '{}': shutdown.timeout.ms ({} ms) passed; Kafka clients and threads still busy were closed without"
                    + " waiting for them", config.name(), deadline.timeoutMillis());
        }
        terminated.countDown();
    }

    private void closeOperations() {
        if (ownsMetrics) {
            metrics.close();
        }
    }

    /** Waits until the relay stopped or failed. */
    public boolean awaitTermination(Duration timeout) throws InterruptedException {
        return terminated.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    public State state() {
        return state.get();
    }

    /** Why the relay failed, if it did. */
    public Optional<Throwable> failure() {
        return Optional.ofNullable(failure.get());
    }

    /** Events acknowledged by Kafka since start. */
    public long publishedCount() {
        return publisher == null ? 0 : publisher.published();
    }

    public RelayConfig config() {
        return config;
    }

    private void transition(State from, State to) {
        if (!state.compareAndSet(from, to)) {
            throw new IllegalStateException("Relay '" + config.name() + "' is not in expected state " + from + ", current state is " + state.get());
        }
    }
}
