package dev.outboxbridge.testkit;

import dev.outboxbridge.db.OutboxBridgeMigrations;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;
import org.postgresql.ds.PGSimpleDataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A database of its own for one test, on a {@link PostgresServer}. {@link #close()} drops it
 * together with its logical replication slots.
 *
 * <pre>{@code
 * try (TestDatabase db = TestServers.postgres().createDatabase("orders").migrateOutbox()) {
 *     try (Connection c = db.connect()) { ... }
 *     assertEquals(1, db.count("SELECT count(*) FROM outbox_event WHERE aggregatetype = ?", "order"));
 * }
 * }</pre>
 *
 * <p>Connections are made as the server's admin user, so tests may create replication slots and
 * publications. Thread-safe.
 */
public final class TestDatabase implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TestDatabase.class);
    private static final String OBJECT_IN_USE = "55006";
    private static final String UNDEFINED_OBJECT = "42704";
    private static final long DROP_TIMEOUT_MS = TimeUnit.SECONDS.toMillis(20);

    private final PostgresCluster server;
    private final String name;
    private final PGSimpleDataSource dataSource;
    private final AtomicBoolean closed = new AtomicBoolean();

    TestDatabase(PostgresCluster server, String name) {
        this.server = server;
        this.name = name;
        this.dataSource = server.dataSource(name);
    }

    /** The database name, lower-case, for example {@code orders_k3x9a1b2}. */
    public String name() {
        return name;
    }

    /** Host of the server. */
    public String host() {
        return server.host();
    }

    /** Port of the server. */
    public int port() {
        return server.port();
    }

    /** The user connections are made as. */
    public String user() {
        return server.adminUser();
    }

    /** The password of {@link #user()}; empty when none is needed. */
    public String password() {
        return server.adminPassword();
    }

    /** {@code jdbc:postgresql://host:port/name}, without credentials. */
    public String jdbcUrl() {
        return server.jdbcUrl(name);
    }

    /** A non-pooling data source for this database, with the credentials set. */
    public DataSource dataSource() {
        return dataSource;
    }

    /** A new connection to this database; the caller closes it. */
    public Connection connect() throws SQLException {
        return dataSource.getConnection();
    }

    /** Applies the outbox table migrations ({@link OutboxBridgeMigrations#outbox}); returns this. */
    public TestDatabase migrateOutbox() {
        OutboxBridgeMigrations.outbox(dataSource).migrate();
        return this;
    }

    /** Applies the inbox table migrations ({@link OutboxBridgeMigrations#inbox}); returns this. */
    public TestDatabase migrateInbox() {
        OutboxBridgeMigrations.inbox(dataSource).migrate();
        return this;
    }

    /**
     * A lower-case identifier unique in the cluster, {@code <prefix>_<database name>} with the prefix
     * reduced to {@code [a-z0-9_]} and shortened so the result fits in 63 characters. Meant for
     * cluster-wide names such as replication slots, and for publications.
     */
    public String uniqueName(String prefix) {
        return Names.qualifiedIdentifier(prefix, name);
    }

    /**
     * Runs a query returning a number in the first column of its first row, such as
     * {@code SELECT count(*) FROM outbox_event WHERE aggregateid = ?}, and returns it
     * (0 when it is SQL NULL).
     *
     * @param params bound to the {@code ?} placeholders in order, with {@link PreparedStatement#setObject}
     * @throws SQLException if the query fails or returns no row
     */
    public long count(String sql, Object... params) throws SQLException {
        try (Connection c = connect(); PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) {
                ps.setObject(i + 1, params[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    throw new SQLException("Query returned no row: " + sql);
                }
                return rs.getLong(1);
            }
        }
    }

    /**
     * Drops the database: terminates the walsenders of its replication slots, drops the slots,
     * terminates the other connections to it and runs {@code DROP DATABASE}. Never throws: a failure
     * is logged as a warning. Calling it again does nothing.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try (Connection admin = server.connectAdmin()) {
            drop(admin);
            LOG.debug("Dropped database {} on {}:{}", name, host(), port());
        } catch (SQLException | RuntimeException e) {
            LOG.warn("Could not drop test database {} on {}: {}", name, server.describe(), e.toString(), e);
        }
    }

    private void drop(Connection admin) throws SQLException {
        boolean force = admin.getMetaData().getDatabaseMajorVersion() >= 13;
        String dropSql = "DROP DATABASE IF EXISTS " + Names.quoteIdentifier(name) + (force ? " WITH (FORCE)" : "");
        long deadline = System.currentTimeMillis() + DROP_TIMEOUT_MS;
        while (true) {
            // a client still running (a relay, a consumer) may reconnect or recreate its slot: repeat all steps
            dropReplicationSlots(admin, deadline);
            terminateConnections(admin);
            try (Statement st = admin.createStatement()) {
                st.execute(dropSql);
                return;
            } catch (SQLException e) {
                // 55006: still "being accessed by other users" or "used by an active logical replication slot"
                if (!OBJECT_IN_USE.equals(e.getSQLState()) || System.currentTimeMillis() > deadline) {
                    throw e;
                }
            }
            if (!PostgresCluster.pause(100)) {
                throw new SQLException("Interrupted while dropping database " + name);
            }
        }
    }

    /** Terminates the walsender of every active slot of this database, then drops every slot. */
    private void dropReplicationSlots(Connection admin, long deadline) throws SQLException {
        while (true) {
            List<String> remaining = new ArrayList<>();
            SQLException lastError = null;
            try (PreparedStatement ps = admin.prepareStatement(
                    "SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = ?")) {
                ps.setString(1, name);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        String slot = rs.getString(1);
                        int activePid = rs.getInt(2);
                        boolean active = !rs.wasNull();
                        if (active) {
                            terminate(admin, activePid);
                            remaining.add(slot);
                        } else {
                            try {
                                dropSlot(admin, slot);
                                LOG.debug("Dropped replication slot {} of database {}", slot, name);
                            } catch (SQLException e) {
                                // still held by a walsender that is shutting down; or already gone
                                if (!UNDEFINED_OBJECT.equals(e.getSQLState())) {
                                    remaining.add(slot);
                                    lastError = e;
                                }
                            }
                        }
                    }
                }
            }
            if (remaining.isEmpty()) {
                return;
            }
            if (System.currentTimeMillis() > deadline) {
                SQLException e = new SQLException("Replication slots " + remaining + " of database " + name
                        + " are still in use after " + DROP_TIMEOUT_MS + " ms");
                if (lastError != null) {
                    e.initCause(lastError);
                }
                throw e;
            }
            if (!PostgresCluster.pause(50)) {
                throw new SQLException("Interrupted while dropping the replication slots of database " + name);
            }
        }
    }

    private static void dropSlot(Connection admin, String slot) throws SQLException {
        try (PreparedStatement ps = admin.prepareStatement("SELECT pg_drop_replication_slot(?)")) {
            ps.setString(1, slot);
            ps.execute();
        }
    }

    private static void terminate(Connection admin, int pid) throws SQLException {
        try (PreparedStatement ps = admin.prepareStatement("SELECT pg_terminate_backend(?)")) {
            ps.setInt(1, pid);
            ps.execute();
        }
    }

    /** Terminates every other backend connected to this database, walsenders included. */
    private void terminateConnections(Connection admin) throws SQLException {
        try (PreparedStatement ps = admin.prepareStatement(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()")) {
            ps.setString(1, name);
            ps.execute();
        }
    }

    @Override
    public String toString() {
        return "TestDatabase[" + name + " on " + host() + ":" + port() + "]";
    }
}
