package dev.outboxbridge.demo.faults;

import dev.outboxbridge.demo.RelayProcesses;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.PostgresStandbyPair;
import dev.outboxbridge.testkit.ReplicatedKafkaCluster;
import dev.outboxbridge.testsupport.BrokerProcess;
import dev.outboxbridge.testsupport.ChildJvm;
import dev.outboxbridge.testsupport.FaultPoints;
import dev.outboxbridge.testsupport.MemoryReport;
import dev.outboxbridge.testsupport.Supervised;
import dev.outboxbridge.testsupport.TcpProxy;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The processes and links of a fault run: the relays and the billing consumers as supervised OS
 * processes, with network faults one TCP proxy per client and server, and with broker faults the
 * harness's own Kafka broker process. {@link #close()} stops them in reverse order: consumers,
 * relays, the broker, the proxies.
 *
 * <p>On the {@link Kind#HA} topology the servers are a PostgreSQL primary with a synchronous standby
 * ({@link PostgresStandbyPair}) and a Kafka cluster of three brokers and a KRaft controller
 * ({@link ReplicatedKafkaCluster}); the fault run owns both (this class only acts on them), and every
 * client reaches the primary through the pair's host list.
 *
 * <p>The leading relay is found by asking each relay: every relay process serves its operations
 * endpoint on a port of its own, and {@link #leader()} reads the {@code outbox_relay_leader} gauge
 * of its {@code /metrics} (1 while that relay publishes).
 */
public final class Topology implements AutoCloseable {

    /** The servers a fault run runs on. */
    public enum Kind {
        /** One PostgreSQL server and one Kafka broker (the shared test servers, or the harness's own broker process). */
        SINGLE,
        /**
         * The production topology: a PostgreSQL 17 primary with a streaming synchronous standby (failover slots) and a
         * Kafka cluster of three brokers (replication factor 3, min.insync.replicas 2) and one KRaft controller.
         */
        HA
    }

    static final String RELAY_KAFKA = "relay-kafka";
    static final String CONSUMER_KAFKA = "consumer-kafka";
    static final String RELAY_POSTGRES = "relay-postgres";
    static final String CONSUMER_POSTGRES = "consumer-postgres";
    private static final String RELAY_MAIN = "dev.outboxbridge.relay.app.RelayMain";
    private static final String LEADER_GAUGE = "outbox_relay_leader";
    private static final Duration ASK_TIMEOUT = Duration.ofSeconds(1);
    private static final Duration RESTART_DELAY = Duration.ofSeconds(1);

    /** A relay process and the port of its operations endpoint. */
    private record RelayProcess(Supervised process, int operationsPort) {

        /**
         * Whether this relay publishes now, by its {@code outbox_relay_leader} gauge; false when it does
         * not answer within {@link #ASK_TIMEOUT} (stopped, paused, restarting).
         */
        boolean publishing() {
            return leaderGauge(scrape()) == 1;
        }

        /** The relay's {@code /metrics} scrape, or "" when it does not answer within {@link #ASK_TIMEOUT}. */
        String scrape() {
            try {
                HttpURLConnection c = (HttpURLConnection) URI.create("http://localhost:" + operationsPort + "/metrics").toURL()
                        .openConnection();
                c.setConnectTimeout((int) ASK_TIMEOUT.toMillis());
                c.setReadTimeout((int) ASK_TIMEOUT.toMillis());
                try (InputStream in = c.getInputStream()) {
                    return new String(in.readAllBytes(), StandardCharsets.UTF_8);
                } finally {
                    c.disconnect();
                }
            } catch (IOException e) {
                return "";
            }
        }
    }

    private final Path workDir;
    private final boolean faultPoints;
    private final PrintStream out;
    private final List<TcpProxy> links = new ArrayList<>();
    private final List<RelayProcess> relays = new ArrayList<>();
    private final List<Supervised> consumers = new ArrayList<>();
    private Supervised broker; // null unless the harness runs its own
    private PostgresStandbyPair pair; // HA only, owned by the fault run
    private ReplicatedKafkaCluster cluster; // HA only, owned by the fault run
    private String brokerBootstrap;
    private boolean closed;

    private Topology(Path workDir, boolean faultPoints, PrintStream out) {
        this.workDir = workDir;
        this.faultPoints = faultPoints;
        this.out = out;
    }

    /**
     * Starts the links (a TCP proxy per client and server when {@code network}) and the harness's own
     * broker process (when {@code ownBroker}; with {@code network}, one listener per client, each
     * advertised at that client's proxy). Relays and consumers join through {@link #startRelay} and
     * {@link #startConsumer}. With {@code faultPoints}, each of them is given a fault point file.
     */
    static Topology start(Path workDir, PostgresServer postgres, boolean network, boolean ownBroker, boolean faultPoints,
            PrintStream out) throws Exception {
        Topology t = new Topology(workDir, faultPoints, out);
        try {
            List<BrokerProcess.Listener> listeners = List.of();
            if (network) {
                int relayKafkaPort = BrokerProcess.freePort();
                int consumerKafkaPort = BrokerProcess.freePort();
                t.links.add(TcpProxy.start(RELAY_KAFKA, "localhost", relayKafkaPort));
                t.links.add(TcpProxy.start(CONSUMER_KAFKA, "localhost", consumerKafkaPort));
                t.links.add(TcpProxy.start(RELAY_POSTGRES, postgres.host(), postgres.port()));
                t.links.add(TcpProxy.start(CONSUMER_POSTGRES, postgres.host(), postgres.port()));
                listeners = List.of(new BrokerProcess.Listener("RELAY", relayKafkaPort, t.link(RELAY_KAFKA).port()),
                        new BrokerProcess.Listener("CONSUMER", consumerKafkaPort, t.link(CONSUMER_KAFKA).port()));
            }
            if (ownBroker) {
                BrokerProcess process = BrokerProcess.format(workDir.resolve("kafka"), Map.of(), listeners);
                t.brokerBootstrap = process.bootstrapServers();
                t.broker = new Supervised("kafka", process::start, RESTART_DELAY);
                process.awaitReady(Duration.ofSeconds(90));
                out.println("  harness Kafka broker (killable) at " + t.brokerBootstrap);
            }
            return t;
        } catch (Exception | Error e) {
            t.close();
            throw e;
        }
    }

    /**
     * The HA topology on {@code pair} and {@code cluster} (which the caller owns and closes after this topology). Relays
     * and consumers join through {@link #startRelay} and {@link #startConsumer}.
     */
    static Topology startHa(Path workDir, PostgresStandbyPair pair, ReplicatedKafkaCluster cluster, boolean faultPoints,
            PrintStream out) {
        Topology t = new Topology(workDir, faultPoints, out);
        t.pair = pair;
        t.cluster = cluster;
        out.println("  PostgreSQL pair " + pair.hostList() + ", Kafka cluster " + cluster.bootstrapServers() + " (logs in "
                + cluster.directory() + ")");
        return t;
    }

    Kind kind() {
        return pair != null ? Kind.HA : Kind.SINGLE;
    }

    /** The PostgreSQL primary and standby of the HA topology. */
    PostgresStandbyPair pair() {
        if (pair == null) {
            throw new IllegalStateException("This fault run has no PostgreSQL standby pair: run it with the HA topology");
        }
        return pair;
    }

    /** The Kafka cluster of the HA topology. */
    ReplicatedKafkaCluster cluster() {
        if (cluster == null) {
            throw new IllegalStateException("This fault run has no replicated Kafka cluster: run it with the HA topology");
        }
        return cluster;
    }

    /**
     * Where the checker reads the producers of the topic's batches (F): the harness's broker's log directory, or on the
     * HA topology the log directory of broker 1, a replica of every partition (read once its replicas are in sync).
     */
    Optional<Path> publisherLogs() {
        if (cluster != null) {
            return Optional.of(cluster.directory().resolve("broker-1").resolve("logs"));
        }
        return ownBroker() ? Optional.of(brokerLogs()) : Optional.empty();
    }

    /** HA: every broker and the controller running, none paused (SIGCONT to each running broker does no harm). */
    void restoreKafka() {
        if (!cluster.isControllerRunning()) {
            cluster.restartController();
        }
        for (int id : cluster.brokerIds()) {
            if (cluster.isRunning(id)) {
                cluster.resume(id);
            } else {
                cluster.restart(id);
            }
        }
    }

    /** The largest value of a gauge over the relays that answer (-1 when none reports it). */
    double relayGauge(String name) {
        return relays.stream().mapToDouble(r -> RelayProcesses.gauge(r.scrape(), name)).max().orElse(-1);
    }

    /** Whether this topology runs its own broker (whose log directory {@link #brokerLogs()} is). */
    boolean ownBroker() {
        return broker != null;
    }

    /** The bootstrap servers of the harness's broker, or {@code shared} when it runs none. */
    String kafkaBootstrap(String shared) {
        if (cluster != null) {
            return cluster.bootstrapServers();
        }
        return ownBroker() ? brokerBootstrap : shared;
    }

    /** Where the relays connect to Kafka: through their proxy with network faults, else {@code kafka}. */
    String relayBootstrap(String kafka) {
        return links.isEmpty() ? kafka : "localhost:" + link(RELAY_KAFKA).port();
    }

    /** Where the consumers connect to Kafka: through their proxy with network faults, else {@code kafka}. */
    String consumerBootstrap(String kafka) {
        return links.isEmpty() ? kafka : "localhost:" + link(CONSUMER_KAFKA).port();
    }

    /** The proxy of one link, by name ({@link #RELAY_KAFKA}, ...); only with network faults. */
    Optional<TcpProxy> proxy(String name) {
        return links.stream().filter(l -> l.name().equals(name)).findFirst();
    }

    /** The links, with network faults; empty otherwise. */
    List<TcpProxy> links() {
        return links;
    }

    /** The harness's broker process. */
    Supervised broker() {
        if (broker == null) {
            throw new IllegalStateException("This fault run uses a broker it does not run itself; broker faults need its own");
        }
        return broker;
    }

    /** The log directories of the harness's broker (for {@link dev.outboxbridge.testsupport.PublisherLog}). */
    Path brokerLogs() {
        return workDir.resolve("kafka").resolve("logs");
    }

    /**
     * Starts a supervised relay process ({@code RelayMain}, {@code -Xmx512m}) configured by {@code env},
     * with its operations endpoint on a free port (for {@link #leader()}) and, with fault points, its
     * fault point file. Logs to {@code <name>.log} in the work directory.
     */
    void startRelay(String name, Map<String, String> env) throws Exception {
        int port = BrokerProcess.freePort();
        Map<String, String> e = withFaultPoints(env, name);
        e.put(RelayConfig.environmentVariable(RelayConfig.HTTP_PORT), String.valueOf(port));
        relays.add(new RelayProcess(new Supervised(name, g -> ChildJvm.start(name + "-" + g, RELAY_MAIN, List.of(), e,
                workDir.resolve(name + ".log"), "512m"), RESTART_DELAY), port));
    }

    /** Starts a supervised billing consumer process ({@link ConsumerMain}, {@code -Xmx256m}) configured by {@code env}. */
    void startConsumer(String name, Map<String, String> env) throws Exception {
        Map<String, String> e = withFaultPoints(env, name);
        consumers.add(new Supervised(name, g -> ChildJvm.start(name + "-" + g, ConsumerMain.class.getName(), List.of(), e,
                workDir.resolve(name + ".log"), "256m"), RESTART_DELAY));
    }

    List<Supervised> relays() {
        return relays.stream().map(RelayProcess::process).toList();
    }

    List<Supervised> consumers() {
        return List.copyOf(consumers);
    }

    /**
     * The relay that publishes now, as the relays themselves report it (their {@code outbox_relay_leader}
     * gauge); empty while none does, during a failover.
     */
    Optional<Supervised> leader() {
        return relays.stream().filter(RelayProcess::publishing).map(RelayProcess::process).findFirst();
    }

    /** The processes by kind, for the memory report: relays, consumers and the broker when the harness runs it. */
    Map<String, List<Supervised>> processesByKind() {
        Map<String, List<Supervised>> kinds = new LinkedHashMap<>();
        kinds.put(MemoryReport.RELAY, relays());
        kinds.put("consumer", consumers());
        if (broker != null) {
            kinds.put("kafka broker", List.of(broker));
        }
        return kinds;
    }

    /** The file through which the harness arms fault points in the named process. */
    Path faultPointFile(String process) {
        return workDir.resolve(process + ".faultpoints");
    }

    /** Consumers, relays, the broker, then the proxies; every one is closed even if another fails. Idempotent. */
    @Override
    public synchronized void close() throws InterruptedException {
        if (closed) {
            return;
        }
        closed = true;
        List<AutoCloseable> order = new ArrayList<>(consumers);
        relays.forEach(r -> order.add(r.process()));
        if (broker != null) {
            order.add(broker);
        }
        order.addAll(links);
        for (AutoCloseable c : order) {
            try {
                c.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw e;
            } catch (Exception e) {
                out.println("  could not stop " + c + ": " + e);
            }
        }
    }

    /** {@code env} plus the fault point file of {@code process} when this run halts processes at fault points. */
    private Map<String, String> withFaultPoints(Map<String, String> env, String process) {
        Map<String, String> m = new HashMap<>(env);
        if (faultPoints) {
            m.put(FaultPoints.FILE_ENV, faultPointFile(process).toString());
        }
        return m;
    }

    private TcpProxy link(String name) {
        return proxy(name).orElseThrow(() -> new IllegalStateException("No link " + name + " without network faults"));
    }

    /** The value of the leader gauge in a Prometheus scrape, or -1 if it is not there. */
    static double leaderGauge(String scrape) {
        return RelayProcesses.gauge(scrape, LEADER_GAUGE);
    }
}
