package dev.outboxbridge.testkit;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.postgresql.ds.PGSimpleDataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A reachable PostgreSQL server, embedded or external: creates the test databases. */
final class PostgresCluster implements PostgresServer {

    private static final Logger LOG = LoggerFactory.getLogger(PostgresCluster.class);
    private static final String DUPLICATE_DATABASE = "42P04";
    private static final String OBJECT_IN_USE = "55006";
    private static final int CREATE_ATTEMPTS = 5;
    static final String APPLICATION_NAME = "outbox-testkit";

    private final String host;
    private final int port;
    private final String user;
    private final String password;
    private final String adminDatabase;
    /** The server's process when the testkit started it; null for an external server or a container. */
    private final PostgresProcess process;
    /** Why {@link #restartImmediately} is not supported, and the fix, when {@link #process} is null. */
    private final String notRestartableBecause;
    private final String restartFix;
    private static final long READY_TIMEOUT_MS = TimeUnit.SECONDS.toMillis(60);

    /** An external server: the testkit cannot restart it. */
    PostgresCluster(String host, int port, String user, String password, String adminDatabase) {
        this(host, port, user, password, adminDatabase, null, "it is an external server (set by " + Environment.PG_HOST
                + "), which the testkit did not start and cannot stop", "unset " + Environment.PG_HOST
                + " to run the test against the embedded PostgreSQL");
    }

    /** A server the testkit started; {@code process} restarts it. */
    PostgresCluster(String host, int port, String user, String password, String adminDatabase, PostgresProcess process) {
        this(host, port, user, password, adminDatabase, Objects.requireNonNull(process, "process"), null, null);
    }

    /**
     * A server; {@code process} restarts it, or, when null, {@code notRestartableBecause} says why it
     * cannot be restarted and {@code restartFix} what to do.
     */
    PostgresCluster(String host, int port, String user, String password, String adminDatabase, PostgresProcess process,
            String notRestartableBecause, String restartFix) {
        this.process = process;
        this.notRestartableBecause = notRestartableBecause;
        this.restartFix = restartFix;
        this.host = Objects.requireNonNull(host, "host");
        this.port = port;
        this.user = Objects.requireNonNull(user, "user");
        this.password = password == null ? "" : password;
        this.adminDatabase = Objects.requireNonNull(adminDatabase, "adminDatabase");
    }

    @Override
    public String host() {
        return host;
    }

    @Override
    public int port() {
        return port;
    }

    @Override
    public String adminUser() {
        return user;
    }

    @Override
    public String adminPassword() {
        return password;
    }

    @Override
    public String jdbcUrl(String database) {
        String urlHost = host.indexOf(':') >= 0 && !host.startsWith("[") ? "[" + host + "]" : host;
        return "jdbc:postgresql://" + urlHost + ":" + port + "/" + database;
    }

    @Override
    public TestDatabase createDatabase(String namePrefix) {
        SQLException last = null;
        for (int attempt = 1; attempt <= CREATE_ATTEMPTS; attempt++) {
            String name = Names.databaseName(namePrefix);
            try (Connection admin = connectAdmin(); Statement st = admin.createStatement()) {
                st.execute("CREATE DATABASE " + Names.quoteIdentifier(name));
                LOG.debug("Created database {} on {}:{}", name, host, port);
                return new TestDatabase(this, name);
            } catch (SQLException e) {
                last = e;
                // a name clash (another JVM on a shared server) or the template briefly in use: try again
                if (!DUPLICATE_DATABASE.equals(e.getSQLState()) && !OBJECT_IN_USE.equals(e.getSQLState())) {
                    break;
                }
                if (!pause(50L * attempt)) {
                    break;
                }
            }
        }
        throw new IllegalStateException("Could not create a database with prefix '" + namePrefix + "' on "
                + describe() + ": " + (last == null ? "unknown error" : last.getMessage()), last);
    }

    @Override
    public boolean canRestart() {
        return process != null;
    }

    @Override
    public Duration restartImmediately(Duration downtime) {
        Objects.requireNonNull(downtime, "downtime");
        if (process == null) {
            throw new UnsupportedOperationException("Cannot restart " + describe() + ": " + notRestartableBecause + ". Fix: "
                    + restartFix + ", or skip the test when PostgresServer.canRestart() is false.");
        }
        long start = System.nanoTime();
        process.restartImmediately(downtime);
        awaitReady(start);
        Duration unavailable = Duration.ofNanos(System.nanoTime() - start);
        LOG.info("{} restarted after an immediate shutdown: unavailable for {} ms ({} ms of it the chosen downtime)", describe(),
                unavailable.toMillis(), downtime.toMillis());
        return unavailable;
    }

    /** The server's process, when the testkit started it. */
    PostgresProcess process() {
        return process;
    }

    /** Waits (bounded) until a new admin connection answers a query. */
    private void awaitReady(long start) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(READY_TIMEOUT_MS);
        SQLException last;
        do {
            try (Connection c = connectAdmin(); Statement st = c.createStatement()) {
                st.execute("SELECT 1");
                return;
            } catch (SQLException e) {
                last = e;
            }
        } while (System.nanoTime() < deadline && pause(100));
        throw new IllegalStateException(describe() + " does not accept connections " + TimeUnit.NANOSECONDS.toSeconds(System.nanoTime()
                - start) + " s after its restart: " + TestServers.sentence(last) + " See " + process.restartLog() + ".", last);
    }

    /** A connection to the admin database (autocommit), for CREATE/DROP DATABASE and monitoring. */
    Connection connectAdmin() throws SQLException {
        return dataSource(adminDatabase).getConnection();
    }

    /** A data source for one database of this server, as the admin user. */
    PGSimpleDataSource dataSource(String database) {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setServerNames(new String[] {host});
        ds.setPortNumbers(new int[] {port});
        ds.setDatabaseName(database);
        ds.setUser(user);
        if (!password.isEmpty()) {
            ds.setPassword(password);
        }
        ds.setApplicationName(APPLICATION_NAME);
        ds.setConnectTimeout(10);
        return ds;
    }

    String adminDatabase() {
        return adminDatabase;
    }

    String describe() {
        return "PostgreSQL " + user + "@" + host + ":" + port + "/" + adminDatabase;
    }

    @Override
    public String toString() {
        return describe();
    }

    /** Sleeps; false (with the interrupt flag restored) when interrupted. */
    static boolean pause(long millis) {
        try {
            Thread.sleep(millis);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
