package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.RelayConfig;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Leader election among relays that share a replication slot: a lease on a PostgreSQL session-level
 * advisory lock, held on a connection of its own.
 *
 * <p>Timeline, with {@code L} = {@code ha.lease.ms}:
 * <ul>
 *   <li>A standby tries {@code pg_try_advisory_lock} every {@code L/8}. The lock is free once the
 *       previous holder's session ended: its process died (the server sees the socket close at once),
 *       its connection was terminated, or it stayed silent for {@code L} (the lease session runs
 *       with {@code idle_session_timeout = L}, so a leader cut off from the database or paused
 *       loses the lock after {@code L} whatever the network does).</li>
 *   <li>The leader confirms it still holds the lock every {@code L/8}; it counts as leader only
 *       until {@code 3L/4} after it sent its last confirmed check. A watchdog on a thread of its own
 *       (never blocked by the database or Kafka) fences it then: {@link Listener#lost} must stop all
 *       publishing at once.</li>
 *   <li>A new holder waits {@code L} after acquiring before it counts as leader (under
 *       {@code delivery.guarantee=exactly_once} it does not: Kafka fences the previous leader's writes, see
 *       {@link ExactlyOnce}). The lock was freed
 *       after the previous leader's last confirmed check was sent, so by then the previous leader
 *       fenced itself at least {@code L/4} earlier: no two relays publish at the same time, without
 *       trusting clocks across machines (only each machine's elapsed-time rate).</li>
 * </ul>
 * A stale walsender of the previous leader still holding the slot is terminated before
 * {@link Listener#acquired} (allowed for the same role; otherwise Debezium retries until it ends).
 *
 * <p>A lost lease is final for this instance: the relay stops and its supervisor starts it again as a
 * standby, as Kubernetes controllers do after losing leader election.
 */
final class LeaderLease implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(LeaderLease.class);
    /** Namespace of the relay's advisory lock keys in pg_locks (classid): "OB". */
    private static final int LOCK_NAMESPACE = 0x4F42;

    /** Told when this relay may start publishing and when it must stop. Called on the lease's threads. */
    public interface Listener {
        /** This relay is the leader: start publishing. Must not block for long. */
        void acquired();

        /** This relay is no longer the leader (or never will be): stop publishing now. Called at most once. */
        void lost(String reason);
    }

    /** Where this instance stands. */
    public enum State { STANDBY, ACQUIRED, LEADER, LOST, CLOSED }

    private final RelayConfig config;
    private final Listener listener;
    private final LongSupplier nanoTime;
    private final long leaseNanos;
    private final long waitNanos; // how long a new holder waits before leading: the lease, or 0 under exactly_once
    private final long tickMillis;
    private final int lockKey;
    private final ScheduledExecutorService worker;
    private final ScheduledExecutorService watchdog;
    private final AtomicReference<State> state = new AtomicReference<>(State.STANDBY);
    private Connection connection; // only touched on the worker thread
    private volatile long acquiredAt;
    private volatile long lastConfirmedSentAt;
    private volatile String standbyReason = "not yet tried";
    private boolean warnedUnreachable; // worker thread only

    /**
     * @param nanoTime a monotonic clock in nanoseconds ({@code System::nanoTime} outside tests)
     */
    public LeaderLease(RelayConfig config, Listener listener, LongSupplier nanoTime) {
        this(config, listener, nanoTime, true);
    }

    /**
     * @param waitBeforeLeading whether a new holder waits a lease before it counts as leader: false only when something
     *        else fences a previous leader's writes (Kafka transactions, delivery.guarantee=exactly_once; see
     *        {@link ExactlyOnce})
     */
    public LeaderLease(RelayConfig config, Listener listener, LongSupplier nanoTime, boolean waitBeforeLeading) {
        this.waitNanos = waitBeforeLeading ? TimeUnit.MILLISECONDS.toNanos(config.getLong(RelayConfig.HA_LEASE_MS)) : 0;
        this.config = config;
        this.listener = listener;
        this.nanoTime = nanoTime;
        this.leaseNanos = TimeUnit.MILLISECONDS.toNanos(config.getLong(RelayConfig.HA_LEASE_MS));
        this.tickMillis = Math.max(50, config.getLong(RelayConfig.HA_LEASE_MS) / 8);
        this.lockKey = lockKey(config.databaseName(), config.slotName());
        this.worker = Schedulers.singleThread("outbox-relay-lease-" + config.name());
        this.watchdog = Schedulers.singleThread("outbox-relay-lease-watchdog-" + config.name());
    }

    /** The advisory lock key (objid in pg_locks, classid {@value #LOCK_NAMESPACE}) of a database and slot. */
    static int lockKey(String database, String slot) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest((database + "\u0000" + slot).getBytes(StandardCharsets.UTF_8));
            return ByteBuffer.wrap(digest).getInt();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available", e);
        }
    }

    /** Starts competing for the lease. */
    public void start() {
        LOG.info("Relay '{}' is a standby for slot {} until it holds the lease (advisory lock {}/{} in database {}, lease {} ms)",
                config.name(), config.slotName(), LOCK_NAMESPACE, lockKey, config.databaseName(), leaseNanos / 1_000_000);
        worker.scheduleWithFixedDelay(this::tick, 0, tickMillis, TimeUnit.MILLISECONDS);
        watchdog.scheduleWithFixedDelay(this::watch, tickMillis, Math.max(20, tickMillis / 4), TimeUnit.MILLISECONDS);
    }

    public State state() {
        return state.get();
    }

    /** Why this instance is not publishing yet, for the status line. */
    public String standbyReason() {
        return standbyReason;
    }

    /** True while this instance may publish: the leader, within 3/4 of the lease since its last confirmed check. */
    public boolean mayPublish() {
        return state.get() == State.LEADER && nanoTime.getAsLong() - lastConfirmedSentAt < fenceAfterNanos();
    }

    private long fenceAfterNanos() {
        return leaseNanos - leaseNanos / 4;
    }

    private void tick() {
        try {
            switch (state.get()) {
                case STANDBY -> tryAcquire();
                case ACQUIRED -> {
                    if (confirm() && nanoTime.getAsLong() - acquiredAt >= waitNanos && state.get() == State.ACQUIRED) {
                        // the previous leader, if any, has fenced itself by now; its walsender may linger on the slot
                        terminateStaleWalsender();
                        if (state.compareAndSet(State.ACQUIRED, State.LEADER)) {
                            LOG.info("Relay '{}' is the leader for slot {}", config.name(), config.slotName());
                            listener.acquired();
                        }
                    }
                }
                case LEADER -> confirm();
                case LOST, CLOSED -> {
                    // nothing to do
                }
            }
        } catch (RuntimeException e) {
            LOG.error("Relay '{}': lease check failed unexpectedly", config.name(), e);
            lose("lease check failed: " + e);
        }
    }

    private void tryAcquire() {
        try {
            Connection c = connection();
            long sent = nanoTime.getAsLong();
            try (PreparedStatement ps = c.prepareStatement("SELECT pg_try_advisory_lock(?, ?)")) {
                ps.setInt(1, LOCK_NAMESPACE);
                ps.setInt(2, lockKey);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    if (rs.getBoolean(1)) {
                        lastConfirmedSentAt = sent;
                        acquiredAt = sent;
                        state.compareAndSet(State.STANDBY, State.ACQUIRED);
                        standbyReason = "holds the lease; publishing starts after " + waitNanos / 1_000_000 + " ms";
                        if (waitNanos > 0) {
                            LOG.info("Relay '{}' acquired the lease for slot {}; it publishes after {} ms, once any previous"
                                    + " leader has certainly stopped", config.name(), config.slotName(), waitNanos / 1_000_000);
                        } else {
                            LOG.info("Relay '{}' acquired the lease for slot {}; it publishes now: Kafka fences any previous"
                                    + " leader's transactions (exactly_once)", config.name(), config.slotName());
                        }
                    } else {
                        standbyReason = "another relay holds the lease for slot " + config.slotName();
                    }
                }
            }
            warnedUnreachable = false;
        } catch (SQLException | RuntimeException e) {
            closeConnection();
            standbyReason = "cannot reach PostgreSQL to compete for the lease: " + e.getMessage();
            if (!warnedUnreachable) {
                warnedUnreachable = true;
                LOG.warn("Relay '{}' (standby): {}; retrying every {} ms", config.name(), standbyReason, tickMillis);
            }
        }
    }

    /** Checks the lock is still held on the lease session; loses the lease when the session is gone. */
    private boolean confirm() {
        long sent = nanoTime.getAsLong();
        try (PreparedStatement ps = connection().prepareStatement("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                + " AND pid = pg_backend_pid() AND classid::bigint = ? AND objid::bigint = ? AND objsubid = 2 AND granted")) {
            ps.setLong(1, LOCK_NAMESPACE);
            ps.setLong(2, Integer.toUnsignedLong(lockKey));
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                if (rs.getLong(1) == 0) {
                    lose("the advisory lock is no longer held by the lease session");
                    return false;
                }
            }
            lastConfirmedSentAt = sent;
            return true;
        } catch (SQLException | RuntimeException e) {
            // the session, and with it the lock, is gone or unreachable: publishing must stop before another relay starts
            lose("the lease session failed: " + e.getMessage());
            return false;
        }
    }

    private void terminateStaleWalsender() {
        try (PreparedStatement ps = connection().prepareStatement("SELECT active_pid, pg_terminate_backend(active_pid)"
                + " FROM pg_replication_slots WHERE slot_name = ? AND active_pid IS NOT NULL")) {
            ps.setString(1, config.slotName());
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next()) {
                    LOG.info("Relay '{}': terminated walsender {} of the previous leader, still holding slot {}", config.name(),
                            rs.getInt(1), config.slotName());
                }
            }
        } catch (SQLException e) {
            LOG.warn("Relay '{}': cannot terminate the previous leader's walsender on slot {} ({}); the engine retries until"
                    + " PostgreSQL ends it (wal_sender_timeout). Fix: run all relays of a slot as the same role.", config.name(),
                    config.slotName(), e.getMessage());
        }
    }

    private void watch() {
        State s = state.get();
        if ((s == State.LEADER || s == State.ACQUIRED) && nanoTime.getAsLong() - lastConfirmedSentAt >= fenceAfterNanos()) {
            lose("no confirmation of the lease for " + fenceAfterNanos() / 1_000_000 + " ms (PostgreSQL unreachable, or this"
                    + " process was paused)");
        }
    }

    private void lose(String reason) {
        State s = state.get();
        if ((s == State.LEADER || s == State.ACQUIRED) && state.compareAndSet(s, State.LOST)) {
            LOG.error("Relay '{}' lost the lease for slot {}: {}. It stops publishing now; another relay may take over.",
                    config.name(), config.slotName(), reason);
            listener.lost(reason);
            worker.execute(this::closeConnection); // frees the lock at once if the session still lives
        }
    }

    private Connection connection() throws SQLException {
        if (connection == null) {
            int timeoutSeconds = (int) Math.max(1, TimeUnit.NANOSECONDS.toSeconds(leaseNanos) / 2);
            Connection c = Preflight.connect(config, config.name() + "-lease", timeoutSeconds);
            try (Statement s = c.createStatement()) {
                // a session silent for a lease ends on the server, and its lock with it, whatever the network does
                s.execute("SET idle_session_timeout = " + leaseNanos / 1_000_000);
            } catch (SQLException e) {
                c.close();
                throw new SQLException("cannot set idle_session_timeout on the lease session (PostgreSQL 14 or newer is needed"
                        + " for ha.enabled=true): " + e.getMessage(), e.getSQLState(), e);
            }
            Executor direct = Runnable::run;
            c.setNetworkTimeout(direct, (int) (leaseNanos / 2_000_000));
            connection = c;
        }
        return connection;
    }

    private void closeConnection() {
        Connection c = connection;
        connection = null;
        if (c != null) {
            try {
                c.close();
            } catch (SQLException e) {
                LOG.debug("Closing the lease connection: {}", e.toString());
            }
        }
    }

    /** Gives the lease up (the lock is freed when the session closes) and stops both threads, within 5 s. */
    @Override
    public void close() {
        close(Duration.ofSeconds(5));
    }

    /**
     * Gives the lease up (the lock is freed when the session closes) and stops both threads, waiting at most
     * {@code timeout}; when the worker is still busy then, closes its connection from here.
     */
    public void close(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        State previous = state.getAndSet(State.CLOSED);
        watchdog.shutdownNow();
        if (!worker.isShutdown()) {
            worker.execute(this::closeConnection); // after any check in progress, on the thread that owns the connection
        }
        worker.shutdown();
        try {
            if (!worker.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)
                    || !watchdog.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                LOG.warn("Relay '{}': lease threads still running {} ms after close; interrupting them and closing the lease"
                        + " connection", config.name(), timeout.toMillis());
                worker.shutdownNow();
                closeConnection();
            }
        } catch (InterruptedException e) {
            worker.shutdownNow();
            closeConnection();
            Thread.currentThread().interrupt();
        }
        if (previous == State.LEADER || previous == State.ACQUIRED) {
            LOG.info("Relay '{}' gave up the lease for slot {}", config.name(), config.slotName());
        }
    }
}
