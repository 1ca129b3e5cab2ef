package dev.outboxbridge.relay.internal;

import dev.outboxbridge.db.SchemaCheck;
import dev.outboxbridge.db.SchemaMismatchException;
import dev.outboxbridge.db.TableName;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Start-up checks against PostgreSQL, each failing with what is wrong and the fix: reachable with
 * the credentials, {@code wal_level=logical}, the outbox table, the publication (created when
 * allowed, otherwise checked to cover only the outbox table and publish inserts) and the slot.
 *
 * <p>A partitioned outbox table (the {@code outbox-partitioned} migration) is published through its root
 * ({@code publish_via_partition_root = true}): the changes of every partition then arrive as changes of the root
 * table, so topics, keys and headers are those of the plain table, and partitions created or dropped later need no
 * change to the publication. Without it PostgreSQL publishes each partition as a table of its own, which the relay's
 * table filter would not match: such a publication is refused.
 */
public final class Preflight {

    private static final Logger LOG = LoggerFactory.getLogger(Preflight.class);

    private final RelayConfig config;
    private boolean slotLeftToEngine;
    private String primary; // host:port the checks ran on

    public Preflight(RelayConfig config) {
        this.config = config;
    }

    public void run() {
        try (Connection c = connect()) {
            primary = PrimaryHost.of(c);
            if (config.hasHostList()) {
                LOG.info("The primary among {} is {}: the engine connects to it", config.databaseHost(), primary);
            }
            checkWalLevel(c);
            checkOutboxTable(c);
            ensurePublication(c);
            ensureSlot(c);
        } catch (SQLException e) {
            throw new RelayException("PostgreSQL check failed on " + config.jdbcUrl() + " as '" + config.databaseUser()
                    + "' (SQLState " + e.getSQLState() + "): " + e.getMessage(), e);
        }
    }

    /** {@code host:port} of the server the checks ran on: the primary among a host list. */
    public String primary() {
        return primary;
    }

    /** The settings for the engine: with a host list, the primary found by {@link #run()} ({@link PrimaryHost}). */
    public RelayConfig engineConfig() {
        return PrimaryHost.engineConfig(config, primary);
    }

    /** True when the slot did not exist and the engine creates it (first.start.snapshot=true). */
    public boolean slotLeftToEngine() {
        return slotLeftToEngine;
    }

    private Connection connect() {
        return connect(config, config.name() + "-preflight", 10);
    }

    /**
     * A plain (non-replication) connection as the relay's user, in auto-commit mode.
     *
     * @throws RelayException naming the settings to check
     */
    static Connection connect(RelayConfig config, String applicationName, int timeoutSeconds) {
        Properties props = new Properties();
        props.setProperty("user", config.databaseUser());
        props.setProperty("password", config.databasePassword().value());
        props.setProperty("connectTimeout", String.valueOf(timeoutSeconds));
        props.setProperty("ApplicationName", applicationName);
        try {
            Connection c = DriverManager.getConnection(config.jdbcUrl(), props);
            c.setAutoCommit(true);
            return c;
        } catch (SQLException e) {
            String fix = "28P01".equals(e.getSQLState()) || "28000".equals(e.getSQLState())
                    ? "check " + RelayConfig.DATABASE_USER + " and " + RelayConfig.DATABASE_PASSWORD
                    : "3D000".equals(e.getSQLState())
                            ? "check " + RelayConfig.DATABASE_DBNAME
                            : "check " + RelayConfig.DATABASE_HOSTNAME + "/" + RelayConfig.DATABASE_PORT + " and that PostgreSQL is running";
            throw new RelayException("Cannot connect to PostgreSQL at " + config.jdbcUrl() + " as '" + config.databaseUser()
                    + "' (SQLState " + e.getSQLState() + "): " + e.getMessage() + ". Fix: " + fix, e);
        }
    }

    private void checkWalLevel(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SHOW wal_level")) {
            rs.next();
            String level = rs.getString(1);
            if (!"logical".equals(level)) {
                throw new RelayException("PostgreSQL at " + config.jdbcUrl() + " runs with wal_level=" + level
                        + "; the relay reads the WAL through logical decoding. Fix: set wal_level = logical in postgresql.conf"
                        + " (ALTER SYSTEM SET wal_level = logical) and restart PostgreSQL.");
            }
        }
    }

    private void checkOutboxTable(Connection c) throws SQLException {
        try {
            SchemaCheck.requireOutboxTable(c, config.outboxTable());
        } catch (SchemaMismatchException e) {
            throw new RelayException(e.getMessage() + " (setting " + RelayConfig.OUTBOX_TABLE + ")", e);
        }
    }

    private void ensurePublication(Connection c) throws SQLException {
        TableName table = config.outboxTable();
        String pub = config.publicationName();
        boolean partitioned = isPartitioned(c, table);
        Boolean publishesInsert = null;
        boolean viaRoot = false;
        try (PreparedStatement ps = c.prepareStatement("SELECT pubinsert, puballtables"
                + (partitioned ? ", pubviaroot" : "") + " FROM pg_publication WHERE pubname = ?")) {
            ps.setString(1, pub);
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next()) {
                    publishesInsert = rs.getBoolean(1);
                    viaRoot = partitioned && rs.getBoolean(3);
                    if (rs.getBoolean(2)) {
                        throw new RelayException("Publication '" + pub + "' is FOR ALL TABLES: the relay would decode every table's"
                                + " changes. Fix: use a publication that covers only " + table + " (" + RelayConfig.PUBLICATION_NAME
                                + "), e.g. CREATE PUBLICATION " + pub + "_outbox FOR TABLE " + table + " WITH (publish = 'insert')");
                    }
                }
            }
        }
        if (publishesInsert == null) {
            if (!config.getBoolean(RelayConfig.PUBLICATION_CREATE)) {
                throw new RelayException("Publication '" + pub + "' does not exist and " + RelayConfig.PUBLICATION_CREATE
                        + "=false. Fix: CREATE PUBLICATION " + pub + " FOR TABLE " + table + " WITH (" + options(partitioned) + ");"
                        + " or set " + RelayConfig.PUBLICATION_CREATE + "=true");
            }
            try (Statement s = c.createStatement()) {
                s.execute("CREATE PUBLICATION " + TableName.quote(pub) + " FOR TABLE " + table.quoted() + PublicationColumns.forCreate(c)
                        + " WITH (" + options(partitioned) + ")");
            }
            LOG.info("Created publication {} for table {} (inserts only{}{})", pub, table, partitioned ? ", through the partition root" : "",
                    PublicationColumns.supported(c) ? ", columns " + PublicationColumns.READ : "");
            return;
        }
        if (partitioned && !viaRoot) {
            throw new RelayException("Publication '" + pub + "' publishes the partitions of the partitioned table " + table
                    + " as tables of their own (publish_via_partition_root = false), so the relay would see no change of " + table
                    + ". Fix: ALTER PUBLICATION " + pub + " SET (publish_via_partition_root = true); (as the table's owner),"
                    + " or point " + RelayConfig.PUBLICATION_NAME + " at a publication created WITH (" + options(true) + ")."
                    + " If the slot already existed, rows committed before the change may be decoded with the old setting and"
                    + " never reach the relay: republish them");
        }
        List<String> tables = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = ?")) {
            ps.setString(1, pub);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    tables.add(rs.getString(1) + "." + rs.getString(2));
                }
            }
        }
        if (!tables.equals(List.of(table.toString())) || !publishesInsert) {
            throw new RelayException("Publication '" + pub + "' covers " + tables + (publishesInsert ? "" : " without publishing inserts")
                    + "; it must cover exactly [" + table + "] and publish inserts. Fix: point " + RelayConfig.PUBLICATION_NAME
                    + " at a publication created with CREATE PUBLICATION <name> FOR TABLE " + table + " WITH (" + options(partitioned) + ")");
        }
        PublicationColumns.check(c, pub, table.toString());
        LOG.info("Publication {} covers {} (checked{})", pub, table, partitioned ? ", through the partition root" : "");
    }

    private static String options(boolean partitioned) {
        return partitioned ? "publish = 'insert', publish_via_partition_root = true" : "publish = 'insert'";
    }

    /** Whether the outbox table is a partitioned table (relkind 'p'); its existence was checked before. */
    private static boolean isPartitioned(Connection c, TableName table) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT c.relkind = 'p' FROM pg_class c JOIN pg_namespace n"
                + " ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relname = ?")) {
            ps.setString(1, table.schema());
            ps.setString(2, table.table());
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() && rs.getBoolean(1);
            }
        }
    }

    /** The error for a slot PostgreSQL invalidated: never resume from it. */
    public static RelayException slotLost(String slot) {
        return new RelayException("Replication slot '" + slot + "' was invalidated by PostgreSQL (wal_status=lost, the WAL it"
                + " needed exceeded max_slot_wal_keep_size and is gone), so events may have been skipped. The relay refuses to go on."
                + " Fix: find and republish the outbox rows committed since the last published event, then drop the slot (SELECT"
                + " pg_drop_replication_slot('" + slot + "')) and restart the relay; raise max_slot_wal_keep_size or fix the lag"
                + " that let the slot fall behind.");
    }

    private void ensureSlot(Connection c) throws SQLException {
        String slot = config.slotName();
        boolean failover = FailoverSlots.decide(c, config);
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT plugin, database, slot_type, wal_status FROM pg_replication_slots WHERE slot_name = ?")) {
            ps.setString(1, slot);
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next()) {
                    String plugin = rs.getString(1);
                    String database = rs.getString(2);
                    String walStatus = rs.getString(4);
                    if (!"pgoutput".equals(plugin) || !config.databaseName().equals(database)) {
                        throw new RelayException("Replication slot '" + slot + "' exists but is for plugin " + plugin + " on database "
                                + database + "; the relay needs a pgoutput slot on " + config.databaseName() + ". Fix: choose another "
                                + RelayConfig.SLOT_NAME);
                    }
                    if ("lost".equals(walStatus)) {
                        throw slotLost(slot);
                    }
                    LOG.info("Replication slot {} exists (pgoutput, wal_status={})", slot, walStatus);
                    FailoverSlots.report(c, config);
                    return;
                }
            }
        }
        if (!config.getBoolean(RelayConfig.SLOT_CREATE)) {
            throw new RelayException("Replication slot '" + slot + "' does not exist and " + RelayConfig.SLOT_CREATE
                    + "=false. Fix: SELECT pg_create_logical_replication_slot('" + slot + "', 'pgoutput'); or set "
                    + RelayConfig.SLOT_CREATE + "=true");
        }
        if (config.getBoolean(RelayConfig.FIRST_START_SNAPSHOT)) {
            SnapshotOrderCheck.check(c, config.outboxTable()); // the rows already there can be put in commit order
            // the engine creates it over a replication connection, exporting the snapshot the first-start snapshot reads
            slotLeftToEngine = true;
            LOG.info("Replication slot {} does not exist: the engine creates it with an exported snapshot ({}=true)", slot,
                    RelayConfig.FIRST_START_SNAPSHOT);
            return;
        }
        try (PreparedStatement ps = c.prepareStatement(FailoverSlots.createSql(failover))) {
            ps.setString(1, slot);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                LOG.info("Created replication slot {} (pgoutput{}) at {}: events committed from now on are published", slot,
                        failover ? ", failover" : "", rs.getString(1));
            }
        }
        FailoverSlots.report(c, config);
    }
}
