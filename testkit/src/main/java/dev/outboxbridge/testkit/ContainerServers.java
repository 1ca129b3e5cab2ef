package dev.outboxbridge.testkit;

import com.github.dockerjava.api.command.InspectContainerResponse;
import com.github.dockerjava.api.command.InspectImageResponse;
import com.github.dockerjava.api.exception.NotFoundException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import org.apache.kafka.common.utils.AppInfoParser;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.ContainerLaunchException;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.wait.strategy.AbstractWaitStrategy;
import org.testcontainers.images.RemoteDockerImage;
import org.testcontainers.images.builder.Transferable;
import org.testcontainers.utility.DockerImageName;

/**
 * The Testcontainers provider ({@code OUTBOX_TEST_SERVERS=testcontainers}): PostgreSQL and a Kafka
 * broker in Docker containers on one Docker network. The only class of the testkit that touches
 * Testcontainers: {@link TestServers} and {@link DockerServers} load it only once that provider is
 * chosen and {@link DockerServers#requireTestcontainers(ClassLoader)} found Testcontainers on the
 * class path, so the testkit needs no Testcontainers otherwise.
 *
 * <p>Both containers are reached from the JVM through ports Docker maps on the host, and from
 * other containers on {@link #network()} through their network aliases:
 * <ul>
 * <li>PostgreSQL: {@value #PG_ALIAS}:{@value #PG_PORT}, superuser {@value #PG_USER} with password
 *     {@value #PG_PASSWORD}, started as {@code postgres -c wal_level=logical ...} with the settings of
 *     the embedded server ({@link EmbeddedPostgresStarter#SERVER_CONFIG});</li>
 * <li>Kafka (KRaft, one combined broker and controller): listener {@code PLAINTEXT} on
 *     {@value #KAFKA_HOST_PORT}, advertised as the host and its mapped port, for the JVM;
 *     listener {@code BROKER} on {@value #KAFKA_NETWORK_PORT}, advertised as
 *     {@value #KAFKA_ALIAS}:{@value #KAFKA_NETWORK_PORT}, for containers on the network. The image is
 *     configured through {@code KAFKA_*} environment variables, as the official {@code apache/kafka}
 *     image is. The mapped port is known only once the container runs, so the container waits for a
 *     start script that exports {@code KAFKA_ADVERTISED_LISTENERS} and then runs the image's own entry
 *     point and command (read from the image).</li>
 * </ul>
 */
final class ContainerServers {

    private static final Logger LOG = LoggerFactory.getLogger(ContainerServers.class);

    static final String PG_ALIAS = DockerServers.POSTGRES_NETWORK_HOST;
    static final int PG_PORT = DockerServers.POSTGRES_NETWORK_PORT;
    static final String PG_USER = "postgres";
    /** A throw-away server's password; tests read it from {@link TestDatabase#password()}. */
    static final String PG_PASSWORD = "outbox-testkit";
    static final String PG_ADMIN_DATABASE = "postgres";
    static final String KAFKA_ALIAS = DockerServers.KAFKA_NETWORK_HOST;
    static final int KAFKA_HOST_PORT = 9092;
    static final int KAFKA_NETWORK_PORT = 9093;
    static final int KAFKA_CONTROLLER_PORT = 9094;
    /** A fixed KRaft cluster id (22 characters of base64): each container formats a fresh log directory. */
    static final String KAFKA_CLUSTER_ID = "b3V0Ym94LWJyaWRnZS10aw";

    private static final Duration STARTUP_TIMEOUT = Duration.ofSeconds(180);
    /** Testcontainers' first contact with Docker: finding the engine, and the images it pulls for itself. */
    private static final Duration DOCKER_PROBE_TIMEOUT = Duration.ofSeconds(120);
    private static final String KAFKA_START_SCRIPT = "/tmp/outbox-testkit-kafka-start.sh";
    /** Copied after the script, so the container never runs a script that is still being written. */
    private static final String KAFKA_START_MARKER = "/tmp/outbox-testkit-kafka-start.ready";

    private static final SharedNetwork NETWORK = new SharedNetwork();
    private static String dockerProblem;
    private static boolean probed;

    private ContainerServers() {
    }

    /** A started server and how to stop it (the container, then the network once no server uses it). */
    record Started<T>(T cluster, AutoCloseable stopper) {
    }

    /** The Docker network of the server containers (created when the first container joins it). */
    static Network network() {
        return NETWORK.network;
    }

    /**
     * Why Testcontainers cannot use Docker, as a message ending with the fix; null when it can. Asked
     * once per JVM, on a daemon thread bounded by {@link #DOCKER_PROBE_TIMEOUT}.
     */
    static synchronized String dockerProblem() {
        if (!probed) {
            dockerProblem = probeDocker();
            probed = true;
        }
        return dockerProblem;
    }

    private static void requireDocker() {
        String problem = dockerProblem();
        if (problem != null) {
            throw new IllegalStateException(problem);
        }
    }

    private static String probeDocker() {
        CompletableFuture<String> host = new CompletableFuture<>();
        Thread probe = new Thread(() -> {
            try {
                DockerClientFactory docker = DockerClientFactory.instance();
                docker.client();
                host.complete(docker.dockerHostIpAddress() + " (Docker " + docker.getInfo().getServerVersion() + ")");
            } catch (Throwable e) {
                host.completeExceptionally(e);
            }
        }, "outbox-testkit-docker-probe");
        probe.setDaemon(true); // a probe stuck in a pull must not keep the JVM alive
        probe.start();
        try {
            LOG.info("Testcontainers reaches Docker at {}", host.get(DOCKER_PROBE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS));
            return null;
        } catch (TimeoutException e) {
            boolean inContainer = Files.exists(Path.of("/.dockerenv"));
            return "Testcontainers did not get through to Docker within " + DOCKER_PROBE_TIMEOUT.toSeconds() + " s ("
                    + Environment.SERVERS + "=testcontainers). At its first use it pulls images of its own: "
                    + "testcontainers/ryuk (unless TESTCONTAINERS_RYUK_DISABLED=true) and, when it believes it runs inside a "
                    + "container (/.dockerenv " + (inContainer ? "exists here" : "does not exist here") + "), alpine to find the "
                    + "Docker host (unless TESTCONTAINERS_HOST_OVERRIDE is set); without a reachable registry that hangs. Fix: "
                    + "set TESTCONTAINERS_RYUK_DISABLED=true and, when the Docker engine runs on this machine, "
                    + "TESTCONTAINERS_HOST_OVERRIDE=localhost; or unset " + Environment.SERVERS + " to use the embedded servers.";
        } catch (ExecutionException e) {
            return "No Docker engine is reachable for Testcontainers (" + Environment.SERVERS + "=testcontainers): "
                    + TestServers.sentence(e.getCause()) + " Fix: start Docker, or point DOCKER_HOST at a running engine (and "
                    + "make its socket readable by this user); or unset " + Environment.SERVERS + " to use the embedded servers.";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "Interrupted while looking for Docker";
        }
    }

    static Started<PostgresCluster> startPostgres() {
        requireDocker();
        String image = DockerServers.postgresImage();
        long start = System.nanoTime();
        List<String> command = new ArrayList<>(List.of("postgres"));
        EmbeddedPostgresStarter.SERVER_CONFIG.forEach((key, value) -> command.addAll(List.of("-c", key + "=" + value)));
        GenericContainer<?> container = new GenericContainer<>(DockerImageName.parse(image))
                .withNetwork(NETWORK.acquire())
                .withNetworkAliases(PG_ALIAS)
                .withEnv("POSTGRES_USER", PG_USER)
                .withEnv("POSTGRES_PASSWORD", PG_PASSWORD)
                .withEnv("POSTGRES_DB", PG_ADMIN_DATABASE)
                .withExposedPorts(PG_PORT)
                .withCommand(command.toArray(String[]::new))
                .waitingFor(new PostgresReady().withStartupTimeout(STARTUP_TIMEOUT));
        try {
            pullIfMissing(image, Environment.PG_IMAGE);
            container.start();
            PostgresCluster cluster = cluster(container);
            String version = EmbeddedPostgresStarter.checkLogical(cluster);
            LOG.info("PostgreSQL {} in a container of {} ready at {}:{} (network alias {}:{}, wal_level=logical) in {} ms",
                    version, image, cluster.host(), cluster.port(), PG_ALIAS, PG_PORT,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
            return new Started<>(cluster, () -> stop(container));
        } catch (Exception | LinkageError e) {
            stop(container);
            throw new IllegalStateException("Could not start PostgreSQL in a container of image " + image + " ("
                    + Environment.PG_IMAGE + "): " + TestServers.sentence(e) + " Fix: use an image that runs like the official "
                    + "postgres image (POSTGRES_USER/POSTGRES_PASSWORD/POSTGRES_DB, 'postgres -c name=value' as the command), "
                    + "PostgreSQL 10 or newer; make sure Docker has it or can pull it (docker pull " + image + "; on a machine "
                    + "without a registry, build " + DockerServers.LOCAL_POSTGRES_IMAGE + " with docker/build-images.sh and set "
                    + Environment.PG_IMAGE + "=" + DockerServers.LOCAL_POSTGRES_IMAGE + "); the container's log is above.", e);
        }
    }

    private static PostgresCluster cluster(GenericContainer<?> container) {
        return new PostgresCluster(container.getHost(), container.getMappedPort(PG_PORT), PG_USER, PG_PASSWORD,
                PG_ADMIN_DATABASE, null, "it runs in a Docker container (" + Environment.SERVERS + "=testcontainers)",
                "unset " + Environment.SERVERS + " to run the test against the embedded PostgreSQL");
    }

    static Started<KafkaCluster> startKafka() {
        requireDocker();
        String image = DockerServers.kafkaImage();
        long start = System.nanoTime();
        KafkaContainer container = null;
        try {
            pullIfMissing(image, Environment.KAFKA_IMAGE);
            container = new KafkaContainer(image, launchCommand(image));
            container.withNetwork(NETWORK.acquire())
                    .withNetworkAliases(KAFKA_ALIAS)
                    .withExposedPorts(KAFKA_HOST_PORT)
                    .withEnv(kafkaEnvironment())
                    .waitingFor(new KafkaReady().withStartupTimeout(STARTUP_TIMEOUT));
            container.start();
            String bootstrapServers = container.bootstrapServers();
            LOG.info("Kafka broker (KRaft) in a container of {} ready at {} (network: {}:{}) in {} ms", image, bootstrapServers,
                    KAFKA_ALIAS, KAFKA_NETWORK_PORT, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
            KafkaContainer started = container;
            return new Started<>(new KafkaCluster(bootstrapServers), () -> stop(started));
        } catch (Exception | LinkageError e) {
            if (container != null) {
                stop(container);
            }
            throw new IllegalStateException("Could not start Kafka in a container of image " + image + " ("
                    + Environment.KAFKA_IMAGE + "): " + TestServers.sentence(e) + " Fix: use an image configured by KAFKA_* "
                    + "environment variables like the official apache/kafka image, with a shell (sh) and Kafka "
                    + AppInfoParser.getVersion() + "; make sure Docker has it or can pull it (docker pull " + image
                    + "; on a machine without a registry, build " + DockerServers.localKafkaImage() + " with docker/build-images.sh and set " + Environment.KAFKA_IMAGE + " to it); the container's log is above.",
                    e);
        }
    }

    /**
     * The broker's settings as the {@code apache/kafka} image reads them: {@code KAFKA_} and the
     * property name upper-cased, dots as underscores. {@code KAFKA_ADVERTISED_LISTENERS} comes from the
     * start script.
     */
    static Map<String, String> kafkaEnvironment() {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("CLUSTER_ID", KAFKA_CLUSTER_ID);
        env.put("KAFKA_NODE_ID", "1");
        env.put("KAFKA_PROCESS_ROLES", "broker,controller");
        env.put("KAFKA_LISTENERS", "PLAINTEXT://0.0.0.0:" + KAFKA_HOST_PORT + ",BROKER://0.0.0.0:" + KAFKA_NETWORK_PORT
                + ",CONTROLLER://0.0.0.0:" + KAFKA_CONTROLLER_PORT);
        env.put("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT");
        env.put("KAFKA_INTER_BROKER_LISTENER_NAME", "BROKER");
        env.put("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER");
        env.put("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:" + KAFKA_CONTROLLER_PORT);
        EmbeddedKafkaStarter.BROKER_CONFIG.forEach((key, value) -> env.put(environmentName(key), value));
        return env;
    }

    /** {@code offsets.topic.replication.factor} as {@code KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR}. */
    static String environmentName(String brokerProperty) {
        return "KAFKA_" + brokerProperty.replace('.', '_').toUpperCase(Locale.ROOT);
    }

    /** The advertised listeners once the host port is known. */
    static String advertisedListeners(String host, int mappedPort) {
        return "PLAINTEXT://" + host + ":" + mappedPort + ",BROKER://" + KAFKA_ALIAS + ":" + KAFKA_NETWORK_PORT;
    }

    /** The start script: exports the advertised listeners, then runs {@code launch} in place of the shell. */
    static String startScript(String advertisedListeners, List<String> launch) {
        return "#!/bin/sh\n"
                + "export KAFKA_ADVERTISED_LISTENERS=" + shellQuote(advertisedListeners) + "\n"
                + "exec " + launch.stream().map(ContainerServers::shellQuote).collect(Collectors.joining(" ")) + "\n";
    }

    static String shellQuote(String word) {
        return "'" + word.replace("'", "'\\''") + "'";
    }

    /** The image's entry point followed by its command: what the container would run if left alone. */
    private static List<String> launchCommand(String image) {
        InspectImageResponse inspected = DockerClientFactory.instance().client().inspectImageCmd(image).exec();
        List<String> launch = new ArrayList<>();
        if (inspected.getConfig() != null) {
            if (inspected.getConfig().getEntrypoint() != null) {
                launch.addAll(Arrays.asList(inspected.getConfig().getEntrypoint()));
            }
            if (inspected.getConfig().getCmd() != null) {
                launch.addAll(Arrays.asList(inspected.getConfig().getCmd()));
            }
        }
        if (launch.isEmpty()) {
            throw new IllegalStateException("the image " + image + " has neither an entry point nor a command");
        }
        return launch;
    }

    /** Pulls the image now when Docker does not have it, saying so first: a pull can take a while, or hang. */
    private static void pullIfMissing(String image, String variable) {
        try {
            DockerClientFactory.instance().client().inspectImageCmd(image).exec();
        } catch (NotFoundException e) {
            LOG.info("Docker has no image {} ({}): pulling it", image, variable);
            new RemoteDockerImage(DockerImageName.parse(image)).get(); // Testcontainers' pull, with its retries and timeout
        }
    }

    private static void stop(GenericContainer<?> container) {
        try {
            ShutdownHook.closeQuietly("container " + container.getDockerImageName(), container::stop);
        } finally {
            NETWORK.release();
        }
    }

    /** The network shared by the server containers; removed when the last of them stops. */
    private static final class SharedNetwork {
        private final Network network = Network.newNetwork();
        private int users;

        synchronized Network acquire() {
            users++;
            return network;
        }

        synchronized void release() {
            if (--users == 0) {
                ShutdownHook.closeQuietly("Docker network of the testkit's containers", network::close);
            }
        }
    }

    /** Ready once a JDBC connection from the host answers: the image's initialization is over. */
    private static final class PostgresReady extends AbstractWaitStrategy {
        @Override
        protected void waitUntilReady() {
            long deadline = System.nanoTime() + startupTimeout.toNanos();
            PostgresCluster cluster = new PostgresCluster(waitStrategyTarget.getHost(),
                    waitStrategyTarget.getMappedPort(PG_PORT), PG_USER, PG_PASSWORD, PG_ADMIN_DATABASE);
            SQLException last = null;
            while (System.nanoTime() < deadline) {
                if (!waitStrategyTarget.isRunning()) {
                    throw new ContainerLaunchException("the PostgreSQL container stopped before accepting connections");
                }
                try (Connection c = cluster.connectAdmin()) {
                    c.createStatement().execute("SELECT 1");
                    return;
                } catch (SQLException e) {
                    last = e;
                }
                if (!PostgresCluster.pause(200)) {
                    throw new ContainerLaunchException("interrupted while waiting for PostgreSQL");
                }
            }
            throw new ContainerLaunchException("PostgreSQL accepts no connection on " + cluster.host() + ":" + cluster.port()
                    + " after " + startupTimeout.toSeconds() + " s" + (last == null ? "" : ": " + TestServers.sentence(last)));
        }
    }

    /** Ready once a client on the host sees the broker in the cluster metadata, through the mapped port. */
    private static final class KafkaReady extends AbstractWaitStrategy {
        @Override
        protected void waitUntilReady() {
            long deadline = System.nanoTime() + startupTimeout.toNanos();
            String bootstrapServers = waitStrategyTarget.getHost() + ":" + waitStrategyTarget.getMappedPort(KAFKA_HOST_PORT);
            Exception last = null;
            while (System.nanoTime() < deadline) {
                if (!waitStrategyTarget.isRunning()) {
                    throw new ContainerLaunchException("the Kafka container stopped before the broker was ready");
                }
                try {
                    EmbeddedKafkaStarter.awaitClusterMetadata(bootstrapServers, 5_000);
                    return;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new ContainerLaunchException("interrupted while waiting for Kafka");
                } catch (Exception e) {
                    last = e;
                }
            }
            throw new ContainerLaunchException("the broker at " + bootstrapServers + " is not ready after "
                    + startupTimeout.toSeconds() + " s" + (last == null ? "" : ": " + TestServers.sentence(last)));
        }
    }

    /** A Kafka container that waits for its start script, written once the mapped port is known. */
    private static final class KafkaContainer extends GenericContainer<KafkaContainer> {
        private final List<String> launch;

        KafkaContainer(String image, List<String> launch) {
            super(DockerImageName.parse(image));
            this.launch = launch;
            withCreateContainerCmdModifier(cmd -> cmd.withEntrypoint("sh", "-c", "while [ ! -f " + KAFKA_START_MARKER
                    + " ]; do sleep 0.1; done; exec " + KAFKA_START_SCRIPT)); // an entry point set here clears the image's command
        }

        String bootstrapServers() {
            return getHost() + ":" + getMappedPort(KAFKA_HOST_PORT);
        }

        @Override
        protected void containerIsStarting(InspectContainerResponse containerInfo) {
            String script = startScript(advertisedListeners(getHost(), getMappedPort(KAFKA_HOST_PORT)), launch);
            copyFileToContainer(Transferable.of(script, 0755), KAFKA_START_SCRIPT);
            copyFileToContainer(Transferable.of("", 0644), KAFKA_START_MARKER);
        }
    }
}
