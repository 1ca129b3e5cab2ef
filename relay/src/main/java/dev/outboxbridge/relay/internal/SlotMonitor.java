package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import java.time.Duration;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches the relay's replication slot while the relay runs, on one named thread and one
 * connection: the WAL it retains (served to the metrics from memory, so a scrape never opens a
 * connection) and whether PostgreSQL invalidated it ({@code wal_status = lost}) or it was dropped,
 * in which case the relay must fail loudly instead of resuming silently from a wrong position.
 */
final class SlotMonitor implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SlotMonitor.class);

    private final RelayConfig config;
    private final Consumer<RelayException> onSlotUnusable;
    private final ScheduledExecutorService executor;
    private Connection connection; // monitor thread only
    private volatile double retainedWalBytes = Double.NaN;
    private volatile double failoverReady = Double.NaN;
    private volatile boolean reported;
    private boolean warned; // monitor thread only
    private volatile String enginePrimary; // host:port the engine reads from, with a host list; null otherwise
    private volatile boolean awaitingCreation; // the engine creates the slot: its absence is no loss until it was seen

    public SlotMonitor(RelayConfig config, Consumer<RelayException> onSlotUnusable) {
        this.config = config;
        this.onSlotUnusable = onSlotUnusable;
        this.executor = Schedulers.singleThread("outbox-relay-slot-monitor-" + config.name());
    }

    /** The slot does not exist yet: the engine creates it (first start with the snapshot); only a later absence is a loss. */
    public void awaitCreation() {
        awaitingCreation = true;
    }

    /**
     * With a host list: the engine reads from {@code hostPort}; when the list's primary is another host (a promotion),
     * the relay stops so that its supervisor restarts it against the new primary ({@link PrimaryHost}).
     */
    public void followPrimary(String hostPort) {
        this.enginePrimary = config.hasHostList() ? hostPort : null;
    }

    /** Checks now and then every {@code periodMillis}. */
    public void start(long periodMillis) {
        executor.scheduleWithFixedDelay(this::check, 0, periodMillis, TimeUnit.MILLISECONDS);
    }

    /** WAL the slot holds back (pg_current_wal_lsn - confirmed_flush_lsn) at the last check; NaN when unknown. */
    public double retainedWalBytes() {
        return retainedWalBytes;
    }

    /** 1 when the slot would survive a promotion with nothing lost ({@link FailoverSlots#missing} empty), 0 if not, NaN when unknown. */
    public double failoverReady() {
        return failoverReady;
    }

    void check() {
        String slot = config.slotName();
        try {
            if (connection == null) {
                connection = Preflight.connect(config, config.name() + "-slot-monitor", 10);
            }
            try (PreparedStatement ps = connection.prepareStatement("SELECT wal_status,"
                    + " pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) FROM pg_replication_slots WHERE slot_name = ?")) {
                ps.setQueryTimeout(10);
                ps.setString(1, slot);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        retainedWalBytes = Double.NaN;
                        if (awaitingCreation && movedPrimary() == null) {
                            return; // the engine creates it; a promotion before this monitor saw it is a lost slot too
                        }
                        report(new RelayException("Replication slot '" + slot + "' was dropped while the relay was running, or"
                                + " PostgreSQL failed over to a standby that did not have it (no failover slot: PostgreSQL < 17, "
                                + RelayConfig.SLOT_FAILOVER + "=false, or a standby without sync_replication_slots): events committed"
                                + " since are in no slot and will not be published. The relay refuses to go on. Fix: find and"
                                + " republish them (see " + FailoverSlots.RUNBOOK + "), reset the stored position (point "
                                + RelayConfig.OFFSET_STORAGE_TOPIC + " at a new topic, or delete " + RelayConfig.OFFSET_FILE
                                + ": it is behind any new slot, which the relay refuses), then restart the relay (it creates the"
                                + " slot when " + RelayConfig.SLOT_CREATE + "=true)."));
                        return;
                    }
                    awaitingCreation = false;
                    failoverReady = FailoverSlots.readiness(connection, slot);
                    String now = movedPrimary();
                    if (now != null) {
                        report(new RelayException("The PostgreSQL primary among " + RelayConfig.DATABASE_HOSTNAME + "="
                                + config.databaseHost() + " is now " + now + " (the engine reads from " + enginePrimary + ": a standby"
                                + " was promoted), and replication slot '" + slot + "' is there. The relay stops so that it is"
                                + " started again against the new primary, where it resumes from the slot (RelayMain exits and its"
                                + " supervisor starts it again; with " + RelayConfig.RESTART_ENABLED + "=true the relay starts"
                                + " again in its process). Fix: nothing, if a supervisor or " + RelayConfig.RESTART_ENABLED
                                + "=true restarts the relay."));
                        return;
                    }
                    String walStatus = rs.getString(1);
                    double retained = rs.getDouble(2);
                    retainedWalBytes = rs.wasNull() ? Double.NaN : retained;
                    if ("lost".equals(walStatus)) {
                        report(Preflight.slotLost(slot));
                    } else if ("unreserved".equals(walStatus) && !warned) {
                        warned = true;
                        LOG.warn("Replication slot {} is about to be invalidated (wal_status=unreserved: it holds more WAL than"
                                + " max_slot_wal_keep_size); the relay is falling behind", slot);
                    }
                }
            }
        } catch (SQLException | RelayException e) {
            retainedWalBytes = Double.NaN;
            failoverReady = Double.NaN;
            LOG.debug("Cannot check replication slot {}: {}", slot, e.getMessage());
            closeConnection();
        }
    }

    /** The current primary's host:port when a host list is configured and it is no longer the engine's, else null. */
    private String movedPrimary() throws SQLException {
        String primary = enginePrimary;
        if (primary == null) {
            return null;
        }
        String now = PrimaryHost.of(connection);
        return primary.equals(now) ? null : now;
    }

    private void report(RelayException e) {
        if (!reported) {
            reported = true;
            onSlotUnusable.accept(e);
        }
    }

    private void closeConnection() {
        if (connection != null) {
            try {
                connection.close();
            } catch (SQLException e) {
                LOG.debug("Closing the slot monitor's connection: {}", e.toString());
            }
            connection = null;
        }
    }

    /** Stops the thread (waiting up to 10 s for a check in progress) and closes the connection. */
    @Override
    public void close() {
        close(Duration.ofSeconds(10));
    }

    /** Stops the thread (waiting at most {@code timeout} for a check in progress) and closes the connection. */
    public void close(Duration timeout) {
        executor.shutdown();
        try {
            if (!executor.awaitTermination(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                LOG.warn("Slot monitor of relay '{}' still running {} ms after close; interrupting it", config.name(), timeout.toMillis());
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
        closeConnection();
    }
}
