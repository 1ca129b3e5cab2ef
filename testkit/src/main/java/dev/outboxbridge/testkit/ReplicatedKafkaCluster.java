package dev.outboxbridge.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A replicated Kafka cluster for fault tests: three brokers (by default), each a separate operating
 * system process, plus one KRaft controller process, started from the Kafka jars on the classpath
 * (no Docker). Brokers default to replication factor 3 and {@code min.insync.replicas=2}, as a
 * production cluster should, and notice a dead or paused broker within seconds (short broker session
 * and replica lag timeouts).
 *
 * <p>The controller runs apart from the brokers so that killing or pausing brokers, even two of
 * three, never takes away the metadata quorum: the cluster then behaves as a production cluster
 * with a healthy controller quorum does (leaders move, in-sync replica sets shrink and grow
 * again). {@link #killController()} and {@link #restartController()} take the quorum away and back: with one
 * controller there is no quorum while it is down (brokers go on serving with the leaders and in-sync replica sets
 * they have, but nothing in the metadata can change: no leader moves, no in-sync set shrinks, no topic is created).
 *
 * <pre>{@code
 * try (ReplicatedKafkaCluster kafka = ReplicatedKafkaCluster.start(Path.of("target/kafka-cluster"));
 *      TestKafka ns = kafka.newNamespace("orders")) {
 *     String topic = ns.topic("order");
 *     ns.createTopic(topic, 1);                          // replication factor 3
 *     int leader = kafka.leaderOf(topic, 0);
 *     kafka.kill(leader);                                 // kill -9; another broker becomes the leader
 *     kafka.awaitLeaderOtherThan(topic, 0, leader, Duration.ofSeconds(30));
 *     kafka.restart(leader);
 *     kafka.awaitFullIsr(topic, Duration.ofSeconds(60));
 * }
 * }</pre>
 *
 * <p>Faults are real: {@link #kill(int)} sends SIGKILL, {@link #pause(int)} SIGSTOP and
 * {@link #resume(int)} SIGCONT (so pausing needs a POSIX {@code kill} command: Linux or macOS).
 * Each process runs with a small heap (256 MiB for a broker, 160 MiB
 * for the controller) and logs to {@code <directory>/<node>/server.log}. The processes are stopped by
 * {@link #close()} and, failing that, when this JVM exits. Thread-safe; starts no thread of its own
 * (besides the testkit's shutdown hook).
 */
public final class ReplicatedKafkaCluster implements KafkaServer, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ReplicatedKafkaCluster.class);
    static final String BROKER_HEAP = "256m";
    static final String CONTROLLER_HEAP = "160m";
    private static final int CONTROLLER_ID = 0;
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(90);
    private static final long STOP_SECONDS = 15;
    private static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(10);

    /**
     * Settings of every broker: replication factor 3 and min.insync.replicas 2 by default, and short
     * timeouts so that a killed or paused broker leaves the in-sync replica sets within seconds.
     */
    static final Map<String, String> BROKER_CONFIG;

    static {
        Map<String, String> c = new LinkedHashMap<>();
        c.put("default.replication.factor", "3");
        c.put("min.insync.replicas", "2");
        c.put("unclean.leader.election.enable", "false");
        c.put("offsets.topic.replication.factor", "3");
        c.put("offsets.topic.num.partitions", "5");
        c.put("transaction.state.log.replication.factor", "3");
        c.put("transaction.state.log.min.isr", "2");
        c.put("transaction.state.log.num.partitions", "5");
        c.put("share.coordinator.state.topic.replication.factor", "3");
        c.put("share.coordinator.state.topic.min.isr", "2");
        c.put("auto.create.topics.enable", "false");
        c.put("group.initial.rebalance.delay.ms", "0");
        // a follower that stopped fetching leaves the ISR after this (default 30 s)
        c.put("replica.lag.time.max.ms", "4000");
        c.put("broker.heartbeat.interval.ms", "500");
        c.put("num.network.threads", "2");
        c.put("num.io.threads", "2");
        c.put("num.replica.fetchers", "1");
        c.put("log.cleaner.dedupe.buffer.size", "4194304"); // allocated at start-up: 128 MiB by default
        c.put("log.cleaner.threads", "1");
        BROKER_CONFIG = Collections.unmodifiableMap(c);
    }

    private final Path directory;
    private final String clusterId;
    private final int controllerPort;
    private final Member controller;
    private final Map<Integer, Member> brokers; // broker id to node, ids 1..n
    private final String bootstrapServers;
    private final Admin admin;
    private boolean closed; // guarded by this

    /** One process of the cluster: its configuration, port and, while it runs, its process. */
    private static final class Member {
        final int id;
        final int port;
        final Path dir;
        final Path config;
        Process process; // guarded by the cluster
        boolean paused; // guarded by the cluster

        Member(int id, int port, Path dir) {
            this.id = id;
            this.port = port;
            this.dir = dir;
            this.config = dir.resolve("server.properties");
        }

        String name() {
            return id == CONTROLLER_ID ? "controller" : "broker-" + id;
        }
    }

    private ReplicatedKafkaCluster(Path directory, int brokerCount) {
        this.directory = directory;
        this.clusterId = org.apache.kafka.common.Uuid.randomUuid().toString() /* never starts with "-", which kafka-storage would read as an option */;
        this.controllerPort = freePort();
        this.controller = new Member(CONTROLLER_ID, controllerPort, directory.resolve("controller"));
        Map<Integer, Member> b = new LinkedHashMap<>();
        for (int id = 1; id <= brokerCount; id++) {
            b.put(id, new Member(id, freePort(), directory.resolve("broker-" + id)));
        }
        this.brokers = Collections.unmodifiableMap(b);
        this.bootstrapServers = b.values().stream().map(n -> "localhost:" + n.port).collect(Collectors.joining(","));
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "outbox-testkit-cluster-admin");
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(ADMIN_TIMEOUT.toMillis()));
        this.admin = Admin.create(props);
    }

    /** Starts three brokers and a controller in {@code directory} (created if missing; must be empty or new). */
    public static ReplicatedKafkaCluster start(Path directory) {
        return start(directory, 3);
    }

    /**
     * Starts {@code brokers} brokers (ids 1 to {@code brokers}) and a controller, formats their log
     * directories under {@code directory}, and waits until every broker is registered.
     *
     * @throws IllegalStateException naming the log to read when a process does not start
     */
    public static ReplicatedKafkaCluster start(Path directory, int brokers) {
        if (brokers < 1) {
            throw new IllegalArgumentException("brokers must be at least 1, got " + brokers);
        }
        long start = System.nanoTime();
        ReplicatedKafkaCluster cluster;
        try {
            Files.createDirectories(directory);
            cluster = new ReplicatedKafkaCluster(directory.toAbsolutePath(), brokers);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create the Kafka cluster directory " + directory + ": " + e.getMessage(), e);
        }
        try {
            ShutdownHook.stopOnExit("Kafka cluster " + cluster.bootstrapServers, cluster);
            cluster.formatAndStart();
            LOG.info("Kafka cluster of {} brokers ready at {} in {} ms (controller on port {}, logs in {})", brokers,
                    cluster.bootstrapServers, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start), cluster.controllerPort,
                    directory);
            return cluster;
        } catch (RuntimeException e) {
            cluster.close();
            throw e;
        }
    }

    private void formatAndStart() {
        List<Member> all = Stream.concat(Stream.of(controller), brokers.values().stream()).toList();
        try {
            for (Member n : all) {
                Files.createDirectories(n.dir);
                writeConfig(n);
            }
            // formatting runs a JVM per node: in parallel, they take about as long as one
            List<Process> formats = new ArrayList<>();
            for (Member n : all) {
                formats.add(java(n, "kafka.tools.StorageTool", List.of("format", "-t", clusterId, "-c", n.config.toString()),
                        "128m", n.dir.resolve("format.log")));
            }
            for (int i = 0; i < formats.size(); i++) {
                Process p = formats.get(i);
                if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                    p.destroyForcibly();
                    throw new IllegalStateException("Formatting the log directory of Kafka " + all.get(i).name() + " failed; see "
                            + all.get(i).dir.resolve("format.log"));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot prepare the Kafka cluster in " + directory + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while formatting the Kafka cluster", e);
        }
        synchronized (this) {
            for (Member n : all) {
                launch(n);
            }
        }
        awaitBrokers(brokers.keySet(), READY_TIMEOUT);
    }

    private void writeConfig(Member n) throws IOException {
        Properties p = new Properties();
        p.setProperty("node.id", String.valueOf(n.id));
        p.setProperty("controller.quorum.voters", CONTROLLER_ID + "@localhost:" + controllerPort);
        p.setProperty("controller.listener.names", "CONTROLLER");
        p.setProperty("log.dirs", n.dir.resolve("logs").toString());
        if (n.id == CONTROLLER_ID) {
            p.setProperty("process.roles", "controller");
            p.setProperty("listeners", "CONTROLLER://localhost:" + n.port);
            p.setProperty("listener.security.protocol.map", "CONTROLLER:PLAINTEXT");
            // a broker silent for this long is fenced and leaves every ISR (default 9 s)
            p.setProperty("broker.session.timeout.ms", "3000");
            p.setProperty("broker.heartbeat.interval.ms", BROKER_CONFIG.get("broker.heartbeat.interval.ms")); // checked against it
            p.setProperty("num.network.threads", "1");
            p.setProperty("num.io.threads", "1");
            // in KRaft the controller applies the topic defaults when it creates a topic
            for (String key : List.of("default.replication.factor", "min.insync.replicas", "unclean.leader.election.enable",
                    "offsets.topic.replication.factor", "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
                    "share.coordinator.state.topic.replication.factor", "share.coordinator.state.topic.min.isr")) {
                p.setProperty(key, BROKER_CONFIG.get(key));
            }
        } else {
            p.setProperty("process.roles", "broker");
            p.setProperty("listeners", "PLAINTEXT://localhost:" + n.port);
            p.setProperty("advertised.listeners", "PLAINTEXT://localhost:" + n.port);
            p.setProperty("inter.broker.listener.name", "PLAINTEXT");
            p.setProperty("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
            BROKER_CONFIG.forEach(p::setProperty);
        }
        try (Writer w = Files.newBufferedWriter(n.config, StandardCharsets.UTF_8)) {
            p.store(w, "Outbox Bridge testkit: Kafka " + n.name());
        }
    }

    private void launch(Member n) {
        try {
            n.process = java(n, "kafka.Kafka", List.of(n.config.toString()),
                    n.id == CONTROLLER_ID ? CONTROLLER_HEAP : BROKER_HEAP, n.dir.resolve("server.log"));
            n.paused = false;
            LOG.debug("Started Kafka {} (pid {})", n.name(), n.process.pid());
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot start Kafka " + n.name() + ": " + e.getMessage(), e);
        }
    }

    private static Process java(Member n, String mainClass, List<String> args, String heap, Path log) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("-Xmx" + heap);
        command.add("-XX:+UseSerialGC");
        command.add("-XX:TieredStopAtLevel=1"); // start-up time matters more than peak speed here
        command.add("-Dlog4j2.level=WARN");
        command.add("-cp");
        command.add(absoluteClassPath()); // the process runs in the node's directory: relative entries would miss
        command.add(mainClass);
        command.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.redirectErrorStream(true);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.directory(n.dir.toFile());
        return pb.start();
    }

    /** This JVM's class path with every entry absolute (a jar's manifest Class-Path is relative to the jar: still found). */
    private static String absoluteClassPath() {
        return Stream.of(System.getProperty("java.class.path").split(java.io.File.pathSeparator)).filter(e -> !e.isEmpty())
                .map(e -> Path.of(e).toAbsolutePath().toString()).collect(Collectors.joining(java.io.File.pathSeparator));
    }

    /** The {@code bootstrap.servers} value naming every broker, for example {@code localhost:40123,localhost:40125,...}. */
    @Override
    public String bootstrapServers() {
        return bootstrapServers;
    }

    /** The {@code bootstrap.servers} value of one broker. */
    public String bootstrapServers(int brokerId) {
        return "localhost:" + node(brokerId).port;
    }

    /** A new topic namespace on this cluster: its {@link TestKafka#createTopic} uses replication factor 3. */
    @Override
    public TestKafka newNamespace(String prefix) {
        return new TestKafka(bootstrapServers, Names.topicPrefix(prefix));
    }

    /** The broker ids, 1 to the number of brokers. */
    public Set<Integer> brokerIds() {
        return new TreeSet<>(brokers.keySet());
    }

    /** The directory holding every node's configuration, data and {@code server.log}. */
    public Path directory() {
        return directory;
    }

    /**
     * The id of the broker leading the partition, as the cluster metadata says now.
     *
     * @throws IllegalStateException when the partition has no leader
     */
    public int leaderOf(String topic, int partition) {
        Node leader = describe(topic, partition).leader();
        if (leader == null || leader.isEmpty()) {
            throw new IllegalStateException("Partition " + topic + "-" + partition + " has no leader");
        }
        return leader.id();
    }

    /** The ids of the partition's in-sync replicas, as the cluster metadata says now. */
    public Set<Integer> inSyncReplicas(String topic, int partition) {
        return describe(topic, partition).isr().stream().map(Node::id).collect(Collectors.toCollection(TreeSet::new));
    }

    /** The ids of the partition's replicas. */
    public Set<Integer> replicas(String topic, int partition) {
        return describe(topic, partition).replicas().stream().map(Node::id).collect(Collectors.toCollection(TreeSet::new));
    }

    /**
     * Waits until the partition has a leader other than {@code formerLeader} (after a kill or pause
     * of it) and returns its id.
     */
    public int awaitLeaderOtherThan(String topic, int partition, int formerLeader, Duration timeout) {
        return await("a leader of " + topic + "-" + partition + " other than broker " + formerLeader, timeout, () -> {
            Node leader = describe(topic, partition).leader();
            return leader != null && !leader.isEmpty() && leader.id() != formerLeader ? leader.id() : null;
        });
    }

    /** Waits until the partition's in-sync replicas are at most {@code size} (after killing or pausing brokers). */
    public void awaitIsrAtMost(String topic, int partition, int size, Duration timeout) {
        await("at most " + size + " in-sync replicas of " + topic + "-" + partition, timeout,
                () -> inSyncReplicas(topic, partition).size() <= size ? Boolean.TRUE : null);
    }

    /** Waits until every replica of every partition of the topic is in sync again (after restarts or resumes). */
    public void awaitFullIsr(String topic, Duration timeout) {
        await("every replica of " + topic + " in sync", timeout, () -> {
            TopicDescription d = describeTopic(topic);
            return d.partitions().stream().allMatch(p -> p.isr().size() == p.replicas().size()) ? Boolean.TRUE : null;
        });
    }

    /** {@code kill -9} of the broker: no shutdown, nothing flushed. Waits until the process is gone. */
    public void kill(int brokerId) {
        Member n = node(brokerId);
        synchronized (this) {
            Process p = n.process;
            if (p == null || !p.isAlive()) {
                throw new IllegalStateException("Kafka " + n.name() + " is not running");
            }
            p.destroyForcibly();
            waitForExit(n, p);
            n.process = null;
            n.paused = false;
            LOG.info("Killed Kafka {} (kill -9)", n.name());
        }
    }

    /** SIGSTOP: the broker process freezes with its connections open, as in a long GC pause or a frozen VM. */
    public void pause(int brokerId) {
        signal(brokerId, "STOP", true);
    }

    /** SIGCONT: a paused broker runs on. */
    public void resume(int brokerId) {
        signal(brokerId, "CONT", false);
    }

    /**
     * Starts the broker again on its log directory and port (after {@link #kill(int)}; a running
     * broker is killed first) and waits until it is registered with the controller again. Its
     * replicas then catch up and rejoin the in-sync sets ({@link #awaitFullIsr}).
     */
    public void restart(int brokerId) {
        Member n = node(brokerId);
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("The Kafka cluster is closed");
            }
            Process p = n.process;
            if (p != null && p.isAlive()) {
                if (n.paused) {
                    sendSignal(p, "CONT");
                }
                p.destroyForcibly();
                waitForExit(n, p);
            }
            launch(n);
        }
        awaitBrokers(Set.of(brokerId), READY_TIMEOUT);
        LOG.info("Restarted Kafka {}", n.name());
    }

    /**
     * {@code kill -9} of the KRaft controller process. With the single controller of this cluster the metadata quorum is
     * gone until {@link #restartController()}: brokers keep serving produce and fetch requests with the leaders and
     * in-sync replica sets they have, but no metadata change can be made (no leader election, no ISR change, no new
     * topic); a broker that fails meanwhile is not replaced as leader.
     */
    public void killController() {
        synchronized (this) {
            Process p = controller.process;
            if (p == null || !p.isAlive()) {
                throw new IllegalStateException("The Kafka controller is not running");
            }
            p.destroyForcibly();
            waitForExit(controller, p);
            controller.process = null;
            LOG.info("Killed the Kafka controller (kill -9)");
        }
    }

    /**
     * Starts the controller again on its metadata log directory and port (a running controller is killed first) and
     * waits until it leads the metadata quorum and every running broker fetches from it again.
     */
    public void restartController() {
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("The Kafka cluster is closed");
            }
            Process p = controller.process;
            if (p != null && p.isAlive()) {
                p.destroyForcibly();
                waitForExit(controller, p);
            }
            launch(controller);
        }
        awaitQuorum(READY_TIMEOUT);
        LOG.info("Restarted the Kafka controller");
    }

    /** Whether the controller's process runs. */
    public synchronized boolean isControllerRunning() {
        return controller.process != null && controller.process.isAlive();
    }

    /**
     * Waits until the controller leads the metadata quorum and every running broker has fetched the metadata log from it
     * since this call began (so the brokers can have metadata changed again).
     */
    public void awaitQuorum(Duration timeout) {
        long since = System.currentTimeMillis();
        await("the controller leading the metadata quorum, every running broker fetching from it (see "
                + controller.dir.resolve("server.log") + ")", timeout, () -> {
                    synchronized (this) {
                        if (controller.process == null || !controller.process.isAlive()) {
                            throw new IllegalStateException("Kafka controller exited; see " + controller.dir.resolve("server.log"));
                        }
                    }
                    org.apache.kafka.clients.admin.QuorumInfo q = admin.describeMetadataQuorum().quorumInfo()
                            .get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                    LOG.debug("Metadata quorum: leader {}, epoch {}, observers {}", q.leaderId(), q.leaderEpoch(), q.observers());
                    if (q.leaderId() != CONTROLLER_ID) {
                        return null;
                    }
                    Set<Integer> fetched = q.observers().stream().filter(r -> r.lastFetchTimestamp().orElse(0) >= since)
                            .map(org.apache.kafka.clients.admin.QuorumInfo.ReplicaState::replicaId).collect(Collectors.toSet());
                    for (Integer id : brokers.keySet()) {
                        if (isRunning(id) && !fetched.contains(id)) {
                            return null;
                        }
                    }
                    return Boolean.TRUE;
                });
    }

    /** Whether the broker's process runs (paused or not). */
    public synchronized boolean isRunning(int brokerId) {
        Process p = node(brokerId).process;
        return p != null && p.isAlive();
    }

    /** The broker's process id, while it runs. */
    public synchronized long pid(int brokerId) {
        Process p = node(brokerId).process;
        if (p == null || !p.isAlive()) {
            throw new IllegalStateException("Kafka " + node(brokerId).name() + " is not running");
        }
        return p.pid();
    }

    /** An admin client of the cluster, owned by it (closed by {@link #close()}). */
    public Admin admin() {
        return admin;
    }

    /**
     * Stops every process (paused ones are resumed first; SIGTERM, then SIGKILL after
     * 15 s each) and closes the admin client. Leaves the directory in place.
     * Never throws; calling it again does nothing.
     */
    @Override
    public void close() {
        List<Member> all;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            all = new ArrayList<>(brokers.values());
            all.add(controller); // last: brokers shut down cleanly only while the controller answers
        }
        try {
            admin.close(Duration.ofSeconds(5));
        } catch (RuntimeException e) {
            LOG.warn("Could not close the admin client of the Kafka cluster: {}", e.toString());
        }
        synchronized (this) {
            // brokers first, in parallel: SIGTERM to all, then wait
            for (Member n : all) {
                Process p = n.process;
                if (p != null && p.isAlive()) {
                    if (n.paused) {
                        sendSignal(p, "CONT");
                    }
                    if (n.id != CONTROLLER_ID) {
                        p.destroy();
                    }
                }
            }
            for (Member n : all) {
                Process p = n.process;
                if (p == null) {
                    continue;
                }
                if (n.id == CONTROLLER_ID) {
                    p.destroy();
                }
                try {
                    if (!p.waitFor(STOP_SECONDS, TimeUnit.SECONDS)) {
                        LOG.warn("Kafka {} (pid {}) did not stop within {} s after SIGTERM; killing it", n.name(), p.pid(), STOP_SECONDS);
                        p.destroyForcibly();
                        p.waitFor(5, TimeUnit.SECONDS);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    p.destroyForcibly();
                }
                n.process = null;
            }
        }
        LOG.info("Kafka cluster at {} stopped", bootstrapServers);
    }

    @Override
    public String toString() {
        return "Kafka cluster " + bootstrapServers;
    }

    private void signal(int brokerId, String signal, boolean pause) {
        Member n = node(brokerId);
        synchronized (this) {
            Process p = n.process;
            if (p == null || !p.isAlive()) {
                throw new IllegalStateException("Kafka " + n.name() + " is not running");
            }
            sendSignal(p, signal);
            n.paused = pause;
            LOG.info("{} Kafka {} (SIG{})", pause ? "Paused" : "Resumed", n.name(), signal);
        }
    }

    private static void sendSignal(Process p, String signal) {
        try {
            Process kill = new ProcessBuilder("kill", "-" + signal, String.valueOf(p.pid())).redirectErrorStream(true).start();
            if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
                throw new IllegalStateException("kill -" + signal + " " + p.pid() + " failed: "
                        + new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim());
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot run kill -" + signal + " (pausing a broker needs a POSIX kill command): "
                    + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while sending SIG" + signal, e);
        }
    }

    private static void waitForExit(Member n, Process p) {
        try {
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("Kafka " + n.name() + " (pid " + p.pid() + ") did not exit within 30 s of SIGKILL");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while waiting for Kafka " + n.name() + " to exit", e);
        }
    }

    private Member node(int brokerId) {
        Member n = brokers.get(brokerId);
        if (n == null) {
            throw new IllegalArgumentException("No broker " + brokerId + "; the brokers are " + brokers.keySet());
        }
        return n;
    }

    /** Waits until the cluster metadata lists every given broker (registered, not fenced). */
    private void awaitBrokers(Set<Integer> ids, Duration timeout) {
        await("brokers " + ids + " registered (logs in " + directory + ")", timeout, () -> {
            for (Integer id : ids) {
                Process p;
                synchronized (this) {
                    p = brokers.get(id).process;
                }
                if (p == null || !p.isAlive()) {
                    throw new IllegalStateException("Kafka broker-" + id + " exited; see " + brokers.get(id).dir.resolve("server.log"));
                }
            }
            Set<Integer> live = admin.describeCluster().nodes().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).stream()
                    .map(Node::id).collect(Collectors.toSet());
            return live.containsAll(ids) ? Boolean.TRUE : null;
        });
    }

    private TopicPartitionInfo describe(String topic, int partition) {
        return describeTopic(topic).partitions().stream().filter(p -> p.partition() == partition).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("Topic " + topic + " has no partition " + partition));
    }

    private TopicDescription describeTopic(String topic) {
        try {
            return admin.describeTopics(List.of(topic)).allTopicNames().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).get(topic);
        } catch (ExecutionException e) {
            throw new IllegalStateException("Cannot describe topic " + topic + ": " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("The Kafka cluster did not describe topic " + topic + " within " + ADMIN_TIMEOUT, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while describing topic " + topic, e);
        }
    }

    /** Something to wait for: a value when reached, null while not yet. */
    @FunctionalInterface
    private interface Condition<T> {
        T check() throws Exception;
    }

    private static <T> T await(String what, Duration timeout, Condition<T> condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        Exception last = null;
        while (true) {
            try {
                T value = condition.check();
                if (value != null) {
                    return value;
                }
            } catch (IllegalStateException e) {
                if (e.getMessage() != null && e.getMessage().contains("exited")) {
                    throw e;
                }
                last = e;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("Interrupted while waiting for " + what, e);
            } catch (Exception e) {
                last = e; // e.g. the metadata is moving: ask again
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("Timed out after " + timeout.toSeconds() + " s waiting for " + what
                        + (last == null ? "" : "; last error: " + last), last);
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("Interrupted while waiting for " + what, e);
            }
        }
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }


}
