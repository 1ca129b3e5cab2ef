package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The slot on PostgreSQL HA: whether the relay creates it as a failover slot (PostgreSQL 17+, setting
 * {@value RelayConfig#SLOT_FAILOVER}), and whether the primary keeps it synchronized to a standby, so that a promoted
 * standby has it at a position no later than what the relay published. Checked from the primary:
 * {@code pg_replication_slots.failover} of the slot, {@code synchronized_standby_slots} set, and a standby streaming
 * through each physical slot it names. (Whether the standby runs with {@code sync_replication_slots=on} is visible on
 * the standby only: docs/deployment.md lists its settings.)
 */
final class FailoverSlots {

    private static final Logger LOG = LoggerFactory.getLogger(FailoverSlots.class);
    /** PostgreSQL 17 is the first with failover slots. */
    static final int SINCE = 170000;
    static final String RUNBOOK = "docs/deployment.md (PostgreSQL 15/16: after a failover)";

    private FailoverSlots() {
    }

    /**
     * Whether a slot the relay (or its engine) creates is a failover slot. Below PostgreSQL 17: refused when
     * {@value RelayConfig#SLOT_FAILOVER}=true was set explicitly, a warning with the default.
     *
     * @throws RelayException for an explicit true on a server without failover slots
     */
    static boolean decide(Connection c, RelayConfig config) throws SQLException {
        return decide(config, serverVersion(c));
    }

    /** {@link #decide(Connection, RelayConfig)} for a server of version {@code version} ({@code server_version_num}). */
    static boolean decide(RelayConfig config, int version) {
        boolean wanted = config.getBoolean(RelayConfig.SLOT_FAILOVER);
        if (version >= SINCE) {
            if (!wanted) {
                LOG.warn("{}=false: replication slot {} is not synchronized to standbys; after a promotion the relay stops"
                        + " (the slot is missing there) and events must be republished ({})", RelayConfig.SLOT_FAILOVER,
                        config.slotName(), RUNBOOK);
            }
            return wanted;
        }
        if (wanted && config.slotFailoverExplicit()) {
            throw new RelayException(RelayConfig.SLOT_FAILOVER + "=true, but PostgreSQL at " + config.jdbcUrl() + " is version "
                    + version(version) + ": failover slots need PostgreSQL 17 or newer, so replication slot '" + config.slotName()
                    + "' would not survive a promotion of a standby. Fix: upgrade to PostgreSQL 17+, or remove the setting (or set"
                    + " it to false) and follow the runbook for a failover in " + RUNBOOK + ".");
        }
        if (wanted) {
            LOG.warn("PostgreSQL at {} is version {}: it has no failover slots, so replication slot {} exists on this server only"
                    + " and is lost when a standby is promoted; the relay then stops instead of skipping events. What to do after"
                    + " a failover: {}. (Set {}=false to silence this warning.)", config.jdbcUrl(), version(version),
                    config.slotName(), RUNBOOK, RelayConfig.SLOT_FAILOVER);
        }
        return false;
    }

    /** The SQL that creates the slot, returning its LSN: with {@code failover => true} when asked. */
    static String createSql(boolean failover) {
        return failover ? "SELECT lsn FROM pg_create_logical_replication_slot(?, 'pgoutput', false, false, true)"
                : "SELECT lsn FROM pg_create_logical_replication_slot(?, 'pgoutput')";
    }

    /**
     * What keeps the slot from surviving a promotion with nothing lost, as sentences with their fix; empty when the
     * primary has it as a failover slot, {@code synchronized_standby_slots} set and a standby streaming through each of
     * those slots. The slot must exist.
     */
    static List<String> missing(Connection c, String slot) throws SQLException {
        List<String> missing = new ArrayList<>();
        int version = serverVersion(c);
        if (version < SINCE) {
            missing.add("PostgreSQL " + version(version) + " has no failover slots (17+): see " + RUNBOOK);
            return missing;
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT failover FROM pg_replication_slots WHERE slot_name = ?")) {
            ps.setString(1, slot);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    missing.add("replication slot '" + slot + "' does not exist yet");
                    return missing;
                }
                if (!rs.getBoolean(1)) {
                    missing.add("replication slot '" + slot + "' is not a failover slot (created with failover = false). Fix: on"
                            + " a replication connection, with the relay stopped: psql \"dbname=<db> replication=database\" -c"
                            + " 'ALTER_REPLICATION_SLOT " + slot + " (FAILOVER true)'");
                }
            }
        }
        String standbySlots;
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SHOW synchronized_standby_slots")) {
            rs.next();
            standbySlots = rs.getString(1) == null ? "" : rs.getString(1).trim();
        }
        if (standbySlots.isEmpty()) {
            missing.add("synchronized_standby_slots is empty on the primary: the relay may publish changes a standby has not"
                    + " received yet, and a standby is not known to keep the slot. Fix: ALTER SYSTEM SET"
                    + " synchronized_standby_slots = '<the standby''s physical slot>'; SELECT pg_reload_conf(); and on the standby"
                    + " sync_replication_slots = on, hot_standby_feedback = on, primary_slot_name and a dbname in primary_conninfo");
            return missing;
        }
        for (String name : Arrays.stream(standbySlots.split(",")).map(String::trim).map(FailoverSlots::unquote).toList()) {
            try (PreparedStatement ps = c.prepareStatement("SELECT active FROM pg_replication_slots WHERE slot_name = ?"
                    + " AND slot_type = 'physical'")) {
                ps.setString(1, name);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        missing.add("synchronized_standby_slots names '" + name + "', which is no physical slot on the primary."
                                + " Fix: SELECT pg_create_physical_replication_slot('" + name + "', true); or correct the setting");
                    } else if (!rs.getBoolean(1)) {
                        missing.add("no standby streams through physical slot '" + name + "' (named by synchronized_standby_slots):"
                                + " the primary holds the relay's changes back until it does. Fix: start the standby with"
                                + " primary_slot_name = '" + name + "'");
                    }
                }
            }
        }
        return missing;
    }

    /** Start-up check on the primary: logs what keeps the slot from surviving a promotion, or that it is ready. */
    static void report(Connection c, RelayConfig config) throws SQLException {
        List<String> missing = missing(c, config.slotName());
        if (missing.isEmpty()) {
            LOG.info("Replication slot {} is a failover slot kept in step on a standby (synchronized_standby_slots, standby"
                    + " streaming): the relay resumes from it after a promotion", config.slotName());
        } else if (serverVersion(c) >= SINCE && config.getBoolean(RelayConfig.SLOT_FAILOVER)) {
            LOG.warn("Replication slot {} would not survive a promotion of a standby with nothing lost: {}", config.slotName(),
                    String.join("; ", missing));
        }
    }

    /** The metric: 1 when {@link #missing} is empty, else 0. */
    static double readiness(Connection c, String slot) throws SQLException {
        return missing(c, slot).isEmpty() ? 1 : 0;
    }

    static int serverVersion(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SHOW server_version_num")) {
            rs.next();
            return Integer.parseInt(rs.getString(1).trim());
        }
    }

    private static String version(int num) {
        return (num / 10000) + "." + (num % 10000);
    }

    private static String unquote(String s) {
        return s.length() >= 2 && s.startsWith("\"") && s.endsWith("\"") ? s.substring(1, s.length() - 1) : s;
    }
}
