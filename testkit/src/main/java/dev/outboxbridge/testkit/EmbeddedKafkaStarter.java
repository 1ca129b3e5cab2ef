package dev.outboxbridge.testkit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;
import org.apache.kafka.common.utils.Utils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Starts an in-process Kafka broker (KRaft, one combined broker + controller node). */
final class EmbeddedKafkaStarter {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafkaStarter.class);
    private static final long READY_TIMEOUT_MS = TimeUnit.SECONDS.toMillis(60);

    /** Broker settings for a single node that starts fast. */
    static final Map<String, String> BROKER_CONFIG;

    static {
        Map<String, String> config = new LinkedHashMap<>();
        config.put("offsets.topic.replication.factor", "1");
        config.put("offsets.topic.num.partitions", "5");
        config.put("transaction.state.log.replication.factor", "1");
        config.put("transaction.state.log.min.isr", "1");
        config.put("transaction.state.log.num.partitions", "5");
        config.put("share.coordinator.state.topic.replication.factor", "1");
        config.put("share.coordinator.state.topic.min.isr", "1");
        config.put("min.insync.replicas", "1");
        config.put("auto.create.topics.enable", "false");
        config.put("group.initial.rebalance.delay.ms", "0");
        BROKER_CONFIG = Map.copyOf(config);
    }

    private EmbeddedKafkaStarter() {
    }

    /** A started broker and how to stop it. */
    record Started(KafkaCluster cluster, AutoCloseable stopper) {
    }

    static Started start() {
        long start = System.nanoTime();
        KafkaClusterTestKit kit = null;
        Path baseDirectory = null;
        try {
            // our own directory: the kit's default one is deleted by a shutdown hook of its own,
            // concurrently with the broker's shutdown; the kit deletes this one on close
            baseDirectory = Files.createTempDirectory("outbox-testkit-kafka-");
            TestKitNodes nodes = new TestKitNodes.Builder()
                    .setBaseDirectory(baseDirectory)
                    .setCombined(true)
                    .setNumBrokerNodes(1)
                    .setNumControllerNodes(1)
                    .build();
            KafkaClusterTestKit.Builder builder = new KafkaClusterTestKit.Builder(nodes);
            BROKER_CONFIG.forEach(builder::setConfigProp);
            kit = builder.build();
            kit.format();
            kit.startup();
            kit.waitForReadyBrokers();
            String bootstrapServers = kit.bootstrapServers();
            awaitClusterMetadata(bootstrapServers, READY_TIMEOUT_MS);
            LOG.info("Embedded Kafka broker (KRaft) ready at {} in {} ms", bootstrapServers,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
            return new Started(new KafkaCluster(bootstrapServers), kit);
        } catch (Exception | LinkageError e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            ShutdownHook.closeQuietly("embedded Kafka", kit);
            deleteQuietly(baseDirectory);
            throw new IllegalStateException("Could not start the in-process Kafka broker (KafkaClusterTestKit): "
                    + TestServers.sentence(e) + " Fix: keep every org.apache.kafka artifact on the test classpath "
                    + "on one version (kafka-test-common-runtime, kafka_2.13, kafka-server, kafka-clients), "
                    + "make sure java.io.tmpdir ("
                    + System.getProperty("java.io.tmpdir") + ") is writable and localhost ports can be bound; "
                    + "or use an external broker by setting " + Environment.KAFKA_BOOTSTRAP_SERVERS + ".", e);
        }
    }

    private static void deleteQuietly(Path directory) {
        if (directory == null) {
            return;
        }
        try {
            Utils.delete(directory.toFile());
        } catch (IOException | RuntimeException e) {
            LOG.warn("Could not delete {}: {}", directory, e.toString());
        }
    }

    /** Waits until a client sees the broker in the cluster metadata. */
    static void awaitClusterMetadata(String bootstrapServers, long timeoutMs) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "outbox-testkit-startup");
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(Math.min(timeoutMs, 10_000)));
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(timeoutMs));
        try (Admin admin = Admin.create(props)) {
            int brokers = admin.describeCluster().nodes().get(timeoutMs, TimeUnit.MILLISECONDS).size();
            if (brokers == 0) {
                throw new IllegalStateException("the cluster reports no broker");
            }
        }
    }
}
