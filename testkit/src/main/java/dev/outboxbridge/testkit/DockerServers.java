package dev.outboxbridge.testkit;

import java.util.Optional;
import org.apache.kafka.common.utils.AppInfoParser;
import org.testcontainers.containers.Network;

/**
 * The testkit's servers in Docker containers, started through Testcontainers when the environment
 * variable {@code OUTBOX_TEST_SERVERS} is {@code testcontainers}; {@link TestServers} and
 * {@link OutboxBridgeExtension} then hand out the same {@link PostgresServer}, {@link KafkaServer},
 * {@link TestDatabase} and {@link TestKafka} as with the embedded servers.
 *
 * <ul>
 * <li>PostgreSQL from {@link #postgresImage()} ({@code OUTBOX_TEST_PG_IMAGE}, default
 *     {@value #DEFAULT_POSTGRES_IMAGE}), run as {@code postgres -c wal_level=logical ...} with the
 *     settings of the embedded server; superuser {@code postgres}, password in
 *     {@link TestDatabase#password()}. It cannot be crash-restarted: {@link PostgresServer#canRestart()}
 *     is false.</li>
 * <li>Kafka from {@link #kafkaImage()} ({@code OUTBOX_TEST_KAFKA_IMAGE}, default
 *     {@code apache/kafka} at the version of the Kafka clients), one KRaft node configured through
 *     {@code KAFKA_*} environment variables like the official image, with the embedded broker's
 *     settings. Clients in the JVM use the port Docker maps on the host, which the broker
 *     advertises.</li>
 * </ul>
 *
 * <p>On a machine without a container registry, build the images locally with
 * {@code docker/build-images.sh} and set {@code OUTBOX_TEST_PG_IMAGE=}{@value #LOCAL_POSTGRES_IMAGE}
 * and {@code OUTBOX_TEST_KAFKA_IMAGE=outbox-bridge/kafka:<version>}; there, and wherever the tests
 * themselves run in a container ({@code /.dockerenv}) next to the host's Docker engine, Testcontainers
 * also needs {@code TESTCONTAINERS_RYUK_DISABLED=true} and {@code TESTCONTAINERS_HOST_OVERRIDE=localhost}
 * (otherwise it pulls images of its own and hangs; the testkit gives up after two minutes and says so).
 *
 * <p>Both containers are on one Docker network, {@link #network()}, where other containers reach them
 * as {@value #POSTGRES_NETWORK_HOST}:{@value #POSTGRES_NETWORK_PORT} and
 * {@value #KAFKA_NETWORK_BOOTSTRAP_SERVERS}: a test can run the relay image next to them.
 *
 * <pre>{@code
 * try (GenericContainer<?> relay = new GenericContainer<>("outbox-bridge/relay:0.1.0")
 *         .withNetwork(DockerServers.network())
 *         .withEnv("OUTBOX_RELAY_DATABASE_HOSTNAME", DockerServers.POSTGRES_NETWORK_HOST)
 *         .withEnv("OUTBOX_RELAY_KAFKA_BOOTSTRAP_SERVERS", DockerServers.KAFKA_NETWORK_BOOTSTRAP_SERVERS)
 *         ...) {
 * }</pre>
 *
 * <p>Testcontainers is an optional dependency of the testkit: add {@code org.testcontainers:testcontainers}
 * (2.0.x) to the test class path to use this provider. Only {@link #network()} needs it itself; the
 * other methods work without it. The containers are removed when the JVM exits, by the testkit's
 * shutdown hook (not by Testcontainers' Ryuk, which may be disabled).
 */
public final class DockerServers {

    /** The default of {@code OUTBOX_TEST_PG_IMAGE}: the official PostgreSQL 17 image. */
    public static final String DEFAULT_POSTGRES_IMAGE = "postgres:17";
    /** The PostgreSQL image {@code docker/build-images.sh} builds without a registry. */
    public static final String LOCAL_POSTGRES_IMAGE = "outbox-bridge/postgres:17";
    /** The PostgreSQL container's host name on {@link #network()}. */
    public static final String POSTGRES_NETWORK_HOST = "postgres";
    /** The PostgreSQL container's port on {@link #network()}. */
    public static final int POSTGRES_NETWORK_PORT = 5432;
    /** The Kafka container's host name on {@link #network()}. */
    public static final String KAFKA_NETWORK_HOST = "kafka";
    /** {@code bootstrap.servers} for clients in other containers on {@link #network()}. */
    public static final String KAFKA_NETWORK_BOOTSTRAP_SERVERS = KAFKA_NETWORK_HOST + ":9093";
    static final String TESTCONTAINERS_CLASS = "org.testcontainers.containers.GenericContainer";

    private DockerServers() {
    }

    /**
     * Whether {@code OUTBOX_TEST_SERVERS=testcontainers} chose this provider.
     *
     * @throws IllegalStateException if the variable has a value other than {@code embedded} or {@code testcontainers}
     */
    public static boolean selected() {
        return Environment.servers() == Environment.Servers.TESTCONTAINERS;
    }

    /** The PostgreSQL image: {@code OUTBOX_TEST_PG_IMAGE}, or {@value #DEFAULT_POSTGRES_IMAGE}. */
    public static String postgresImage() {
        return Environment.get(Environment.PG_IMAGE, DEFAULT_POSTGRES_IMAGE);
    }

    /** The Kafka image: {@code OUTBOX_TEST_KAFKA_IMAGE}, or {@link #defaultKafkaImage()}. */
    public static String kafkaImage() {
        return Environment.get(Environment.KAFKA_IMAGE, defaultKafkaImage());
    }

    /** The default of {@code OUTBOX_TEST_KAFKA_IMAGE}: {@code apache/kafka} at the version of the Kafka clients. */
    public static String defaultKafkaImage() {
        return "apache/kafka:" + AppInfoParser.getVersion();
    }

    /** The Kafka image {@code docker/build-images.sh} builds without a registry: {@code outbox-bridge/kafka:<version>}. */
    public static String localKafkaImage() {
        return "outbox-bridge/kafka:" + AppInfoParser.getVersion();
    }

    /**
     * Why this provider cannot run here, as a sentence that ends with the fix; empty when it can:
     * it is chosen, Testcontainers is on the class path and reaches a Docker engine. Meant for
     * assumptions that skip container tests where Docker is missing. Asks Docker once per JVM
     * (bounded: two minutes at most when Testcontainers hangs in a pull). Whether the images are
     * there is not checked: Docker pulls missing ones when a container starts.
     */
    public static Optional<String> unavailableReason() {
        if (!selected()) {
            return Optional.of(Environment.SERVERS + " is not 'testcontainers', so the testkit's servers are not Docker"
                    + " containers. Fix: set " + Environment.SERVERS + "=testcontainers.");
        }
        try {
            requireTestcontainers(DockerServers.class.getClassLoader());
        } catch (IllegalStateException e) {
            return Optional.of(e.getMessage());
        }
        return Optional.ofNullable(ContainerServers.dockerProblem());
    }

    /**
     * The Docker network of the server containers, for containers of a test's own that must reach
     * them (as {@value #POSTGRES_NETWORK_HOST}:{@value #POSTGRES_NETWORK_PORT} and
     * {@value #KAFKA_NETWORK_BOOTSTRAP_SERVERS}). Starts both servers if they do not run yet. The
     * testkit removes the network when the JVM exits, after its own containers: stop the containers
     * you add before that.
     *
     * @throws IllegalStateException if this provider is not chosen, or a server cannot start
     */
    public static Network network() {
        if (!selected()) {
            throw new IllegalStateException("DockerServers.network() is the network of the testkit's containers, and "
                    + Environment.SERVERS + " is not 'testcontainers'. Fix: set " + Environment.SERVERS
                    + "=testcontainers, or skip the test when DockerServers.unavailableReason() is present.");
        }
        TestServers.postgres();
        TestServers.kafka();
        return ContainerServers.network();
    }

    /**
     * Fails unless Testcontainers is visible to {@code loader}, with a message naming the dependency
     * to add. Uses nothing of Testcontainers itself.
     */
    static void requireTestcontainers(ClassLoader loader) {
        try {
            Class.forName(TESTCONTAINERS_CLASS, false, loader);
        } catch (ClassNotFoundException | LinkageError e) {
            throw new IllegalStateException(Environment.SERVERS + "=testcontainers needs Testcontainers on the test class"
                    + " path, and it is not there (" + TESTCONTAINERS_CLASS + " not found): the testkit's dependency on it is"
                    + " optional. Fix: add org.testcontainers:testcontainers (2.0.x) with test scope to your build, or unset "
                    + Environment.SERVERS + " to use the embedded servers.", e);
        }
    }
}
