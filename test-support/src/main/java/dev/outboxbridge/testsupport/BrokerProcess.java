package dev.outboxbridge.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

/**
 * A single-node Kafka broker (KRaft, combined broker and controller) in its own JVM, from the
 * Kafka jars on the classpath, so that the fault harness can {@code kill -9} it and restart it on
 * the same log directory. Its settings shorten the session timeout so a restarted broker is back
 * within seconds.
 */
public final class BrokerProcess {

    private final Path dir;
    private final Path config;
    private final int port;
    private final int clientPort;
    private final String clientProtocol;

    private BrokerProcess(Path dir, Path config, int port, int clientPort, String clientProtocol) {
        this.dir = dir;
        this.config = config;
        this.port = port;
        this.clientPort = clientPort;
        this.clientProtocol = clientProtocol;
    }

    /** An extra PLAINTEXT client listener on {@code port}, advertised at {@code advertisedPort} (e.g. a proxy's). */
    public record Listener(String name, int port, int advertisedPort) {
    }

    /** Writes the configuration and formats the log directory (once). */
    public static BrokerProcess format(Path dir) throws IOException, InterruptedException {
        return format(dir, Map.of(), null, List.of());
    }

    public static BrokerProcess format(Path dir, Map<String, String> saslUsers) throws IOException, InterruptedException {
        return format(dir, saslUsers, null, List.of());
    }

    public static BrokerProcess format(Path dir, Map<String, String> saslUsers, List<Listener> extraListeners)
            throws IOException, InterruptedException {
        return format(dir, saslUsers, null, extraListeners);
    }

    /**
     * The broker's TLS identity: a PKCS12 keystore holding its private key and certificate chain
     * (the certificate must name {@code localhost}, the host clients connect to).
     */
    public record Tls(Path keystore, String password) {
        @Override
        public String toString() {
            return "Tls[keystore=" + keystore + ", password=[hidden]]";
        }
    }

    /**
     * Like {@link #format(Path)}; with {@code saslUsers} (user to password) clients must connect to a
     * SASL listener with mechanism PLAIN ({@link #bootstrapServers()}), while the broker talks to
     * itself on a separate PLAINTEXT listener ({@link #internalBootstrapServers()}). With {@code tls}
     * that client listener also requires TLS: SASL_SSL, or SSL when there are no SASL users; without
     * it, SASL_PLAINTEXT. {@link #clientSecurityProtocol()} says which.
     */
    public static BrokerProcess format(Path dir, Map<String, String> saslUsers, Tls tls, List<Listener> extraListeners)
            throws IOException, InterruptedException {
        Files.createDirectories(dir);
        int port = freePort();
        int controllerPort = freePort();
        String clientProtocol = tls != null ? (saslUsers.isEmpty() ? "SSL" : "SASL_SSL") : saslUsers.isEmpty() ? "PLAINTEXT" : "SASL_PLAINTEXT";
        boolean separateClientListener = !"PLAINTEXT".equals(clientProtocol);
        int clientPort = separateClientListener ? freePort() : port;
        Properties p = new Properties();
        p.setProperty("process.roles", "broker,controller");
        p.setProperty("node.id", "1");
        p.setProperty("controller.quorum.bootstrap.servers", "localhost:" + controllerPort);
        p.setProperty("listeners", "PLAINTEXT://localhost:" + port + ",CONTROLLER://localhost:" + controllerPort);
        p.setProperty("advertised.listeners", "PLAINTEXT://localhost:" + port + ",CONTROLLER://localhost:" + controllerPort);
        p.setProperty("controller.listener.names", "CONTROLLER");
        p.setProperty("inter.broker.listener.name", "PLAINTEXT");
        p.setProperty("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.setProperty("log.dirs", dir.resolve("logs").toString());
        p.setProperty("offsets.topic.replication.factor", "1");
        p.setProperty("offsets.topic.num.partitions", "5");
        p.setProperty("transaction.state.log.replication.factor", "1");
        p.setProperty("transaction.state.log.min.isr", "1");
        p.setProperty("share.coordinator.state.topic.replication.factor", "1");
        p.setProperty("share.coordinator.state.topic.min.isr", "1");
        p.setProperty("min.insync.replicas", "1");
        p.setProperty("auto.create.topics.enable", "false");
        p.setProperty("group.initial.rebalance.delay.ms", "0");
        p.setProperty("broker.session.timeout.ms", "3000");
        p.setProperty("broker.heartbeat.interval.ms", "500");
        if (separateClientListener) {
            // the listener is named after its protocol, e.g. SASL_SSL://localhost:port
            p.setProperty("listeners", "PLAINTEXT://localhost:" + port + "," + clientProtocol + "://localhost:" + clientPort
                    + ",CONTROLLER://localhost:" + controllerPort);
            p.setProperty("advertised.listeners", "PLAINTEXT://localhost:" + port + "," + clientProtocol + "://localhost:" + clientPort
                    + ",CONTROLLER://localhost:" + controllerPort);
            p.setProperty("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT," + clientProtocol + ":" + clientProtocol
                    + ",CONTROLLER:PLAINTEXT");
        }
        if (!saslUsers.isEmpty()) {
            p.setProperty("sasl.enabled.mechanisms", "PLAIN");
            StringBuilder jaas = new StringBuilder("org.apache.kafka.common.security.plain.PlainLoginModule required");
            saslUsers.forEach((user, password) -> jaas.append(" user_").append(user).append("=\"").append(password).append('"'));
            p.setProperty("listener.name." + clientProtocol.toLowerCase(Locale.ROOT) + ".plain.sasl.jaas.config",
                    jaas.append(';').toString());
        }
        if (tls != null) {
            // server-side TLS only (clients are not asked for certificates): clients authenticate with SASL
            String prefix = "listener.name." + clientProtocol.toLowerCase(Locale.ROOT) + ".";
            p.setProperty(prefix + "ssl.keystore.type", "PKCS12");
            p.setProperty(prefix + "ssl.keystore.location", tls.keystore().toAbsolutePath().toString());
            p.setProperty(prefix + "ssl.keystore.password", tls.password());
            p.setProperty(prefix + "ssl.key.password", tls.password());
            p.setProperty(prefix + "ssl.client.auth", "none");
        }
        for (Listener l : extraListeners) {
            p.setProperty("listeners", p.getProperty("listeners") + "," + l.name() + "://localhost:" + l.port());
            p.setProperty("advertised.listeners", p.getProperty("advertised.listeners") + "," + l.name() + "://localhost:" + l.advertisedPort());
            p.setProperty("listener.security.protocol.map", p.getProperty("listener.security.protocol.map") + "," + l.name() + ":PLAINTEXT");
        }
        Path config = dir.resolve("server.properties");
        try (var w = Files.newBufferedWriter(config, StandardCharsets.UTF_8)) {
            p.store(w, "Outbox Bridge fault harness broker");
        }
        BrokerProcess broker = new BrokerProcess(dir, config, port, clientPort, clientProtocol);
        String clusterId = org.apache.kafka.common.Uuid.randomUuid().toString() /* never starts with "-", which kafka-storage would read as an option */;
        ChildJvm format = ChildJvm.start("kafka-format", "kafka.tools.StorageTool",
                List.of("format", "-t", clusterId, "-c", config.toString(), "--standalone"), Map.of(),
                dir.resolve("broker.log"), "256m");
        if (!format.waitFor(Duration.ofSeconds(60)) || format.exitValue() != 0) {
            throw new IllegalStateException("Formatting the Kafka log directory failed; see " + dir.resolve("broker.log"));
        }
        return broker;
    }

    public ChildJvm start(int generation) throws IOException {
        return ChildJvm.start("kafka-" + generation, "kafka.Kafka", List.of(config.toString()), Map.of(),
                dir.resolve("broker.log"), "1g");
    }

    /** Where clients connect (the SASL and/or TLS listener when those are on). */
    public String bootstrapServers() {
        return "localhost:" + clientPort;
    }

    /** The {@code security.protocol} clients use on {@link #bootstrapServers()}: PLAINTEXT, SASL_PLAINTEXT, SSL or SASL_SSL. */
    public String clientSecurityProtocol() {
        return clientProtocol;
    }

    /** The broker's own PLAINTEXT listener (no authentication). */
    public String internalBootstrapServers() {
        return "localhost:" + port;
    }

    /** Waits until the broker answers metadata requests on its internal listener. */
    public void awaitReady(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        RuntimeException last = null;
        while (System.nanoTime() < deadline) {
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, internalBootstrapServers(),
                    AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000", AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "4000"))) {
                admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
                return;
            } catch (Exception e) {
                last = new IllegalStateException(e);
                Thread.sleep(200);
            }
        }
        throw new IllegalStateException("The Kafka broker at " + bootstrapServers() + " was not ready within " + timeout
                + "; see " + dir.resolve("broker.log"), last);
    }

    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

}
