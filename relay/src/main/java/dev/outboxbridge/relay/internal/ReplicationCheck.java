package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks that a topic the relay writes (a target topic, the dead-letter topic, the position topic) keeps what
 * {@code acks=all} promises: an acknowledged event survives the loss of a broker, and the loss of one broker does not
 * stop publishing. That needs a replication factor above {@code min.insync.replicas}, {@code min.insync.replicas} of at
 * least 2, and {@code unclean.leader.election.enable=false}; RF 3 with {@code min.insync.replicas=2} is the usual
 * choice. {@value RelayConfig#KAFKA_REPLICATION_CHECK} says what a violation does: refuse (the relay stops with the
 * topic, its settings and the fix), warn (a warning with the same, once per topic; the default, so a single-broker
 * development setup starts) or off. Each topic is checked once, the first time the relay sees it (two Admin calls,
 * never on the hot path: {@link TopicGuard} caches the topics it checked). A checked topic is handed to the
 * {@link KafkaReplicaMonitor}, which watches its in-sync replicas while the relay runs.
 */
final class ReplicationCheck {

    private static final Logger LOG = LoggerFactory.getLogger(ReplicationCheck.class);
    private static final long TIMEOUT_SECONDS = 30;
    /** After the relay created a topic a broker may not know it for a moment. */
    private static final long UNKNOWN_TOPIC_RETRY_MS = 10_000;

    enum Mode { REFUSE, WARN, OFF }

    private final Mode mode;
    private final String positionTopic; // null with offset.storage=file
    private final String deadLetterTopic; // null without one
    private final KafkaReplicaMonitor monitor; // may be null

    ReplicationCheck(Mode mode, String positionTopic, String deadLetterTopic, KafkaReplicaMonitor monitor) {
        this.mode = mode;
        this.positionTopic = positionTopic;
        this.deadLetterTopic = deadLetterTopic == null || deadLetterTopic.isEmpty() ? null : deadLetterTopic;
        this.monitor = monitor;
    }

    static ReplicationCheck of(RelayConfig config, KafkaReplicaMonitor monitor) {
        return new ReplicationCheck(mode(config), config.offsetsInKafka() ? config.getString(RelayConfig.OFFSET_STORAGE_TOPIC) : null,
                config.getString(RelayConfig.DEAD_LETTER_TOPIC), monitor);
    }

    static Mode mode(RelayConfig config) {
        return Mode.valueOf(config.getString(RelayConfig.KAFKA_REPLICATION_CHECK).trim().toUpperCase(Locale.ROOT));
    }

    Mode mode() {
        return mode;
    }

    /** What the topic is to the relay, for messages. */
    String role(String topic) {
        if (topic.equals(positionTopic)) {
            return "position topic (" + RelayConfig.OFFSET_STORAGE_TOPIC + ")";
        }
        if (topic.equals(deadLetterTopic)) {
            return "dead-letter topic (" + RelayConfig.DEAD_LETTER_TOPIC + ")";
        }
        return "target topic";
    }

    /**
     * Checks the topic's replication against acks=all; with refuse, throws when it falls short.
     *
     * @throws RelayException (refuse) naming the topic, its replication factor and min.insync.replicas, and the fix
     */
    void check(Admin admin, String topic) throws InterruptedException {
        if (mode == Mode.OFF) {
            return;
        }
        TopicDescription description;
        Config config;
        try {
            description = describe(admin, topic);
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            config = admin.describeConfigs(List.of(resource)).all().get(TIMEOUT_SECONDS, TimeUnit.SECONDS).get(resource);
        } catch (ExecutionException | TimeoutException e) {
            String why = e instanceof ExecutionException ? String.valueOf(e.getCause()) : "no answer within " + TIMEOUT_SECONDS + " s";
            String message = "Cannot check the replication of Kafka " + role(topic) + " '" + topic + "' (" + why + "). Fix: grant the"
                    + " relay DESCRIBE and DESCRIBE_CONFIGS on the topic, or set " + RelayConfig.KAFKA_REPLICATION_CHECK + "=off";
            if (mode == Mode.REFUSE) {
                throw new RelayException(message + ". No event for it was published or marked processed.",
                        e instanceof ExecutionException ? e.getCause() : e);
            }
            LOG.warn(message);
            return;
        }
        int replicationFactor = description.partitions().stream().mapToInt(p -> p.replicas().size()).min().orElse(0);
        int minInsyncReplicas = intValue(config, TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, 1);
        boolean unclean = "true".equalsIgnoreCase(stringValue(config, TopicConfig.UNCLEAN_LEADER_ELECTION_ENABLE_CONFIG));
        if (monitor != null) {
            monitor.watch(topic, minInsyncReplicas);
        }
        List<String> problems = problems(replicationFactor, minInsyncReplicas, unclean);
        if (problems.isEmpty()) {
            LOG.debug("Kafka {} '{}': replication factor {}, min.insync.replicas={}: safe with acks=all", role(topic), topic,
                    replicationFactor, minInsyncReplicas);
            return;
        }
        String message = "Kafka " + role(topic) + " '" + topic + "' has replication factor " + replicationFactor
                + " and min.insync.replicas=" + minInsyncReplicas + (unclean ? " and unclean.leader.election.enable=true" : "")
                + ": " + String.join("; ", problems) + ". Fix: give it replication factor 3 or more with min.insync.replicas=2"
                + " and unclean.leader.election.enable=false (kafka-configs.sh --alter --entity-type topics --entity-name " + topic
                + " --add-config min.insync.replicas=2; more replicas with kafka-reassign-partitions.sh; see docs/kafka-cluster.md)";
        if (mode == Mode.REFUSE) {
            throw new RelayException(message + ", or set " + RelayConfig.KAFKA_REPLICATION_CHECK + "=warn on a development"
                    + " cluster. No event for it was published or marked processed.");
        }
        LOG.warn("{}. The relay publishes to it anyway ({}=warn; fine on a single-broker development cluster, set it to refuse"
                + " in production)", message, RelayConfig.KAFKA_REPLICATION_CHECK);
    }

    /** {@link #check} at start-up, where an interruption stops the start. */
    void checkAtStartup(Admin admin, String topic) {
        try {
            check(admin, topic);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RelayException("Interrupted while checking the replication of Kafka topic '" + topic + "'", e);
        }
    }

    /** What falls short of acks=all's promise with these settings; empty when nothing does. */
    static List<String> problems(int replicationFactor, int minInsyncReplicas, boolean uncleanLeaderElection) {
        List<String> problems = new ArrayList<>();
        if (minInsyncReplicas < 2) {
            problems.add("acks=all is then satisfied by the leader alone, so the loss of one broker can lose acknowledged events");
        }
        if (replicationFactor < minInsyncReplicas) {
            problems.add("fewer replicas than min.insync.replicas, so Kafka never accepts an event (NotEnoughReplicas)");
        } else if (replicationFactor == minInsyncReplicas) {
            problems.add("the loss of any one broker stops publishing (fewer in-sync replicas than min.insync.replicas)");
        }
        if (uncleanLeaderElection) {
            problems.add("a replica that is not in sync may become the leader and drop acknowledged events");
        }
        return problems;
    }

    private static TopicDescription describe(Admin admin, String topic)
            throws ExecutionException, TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(UNKNOWN_TOPIC_RETRY_MS);
        while (true) {
            try {
                TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get(TIMEOUT_SECONDS, TimeUnit.SECONDS)
                        .get(topic);
                if (d != null && !d.partitions().isEmpty() && d.partitions().stream().noneMatch(ReplicationCheck::noReplicas)) {
                    return d;
                }
                if (System.nanoTime() > deadline) {
                    return d;
                }
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException) || System.nanoTime() > deadline) {
                    throw e;
                }
            }
            Thread.sleep(200);
        }
    }

    private static boolean noReplicas(TopicPartitionInfo p) {
        return p.replicas() == null || p.replicas().isEmpty();
    }

    private static String stringValue(Config config, String key) {
        ConfigEntry entry = config == null ? null : config.get(key);
        return entry == null ? null : entry.value();
    }

    private static int intValue(Config config, String key, int fallback) {
        String value = stringValue(config, key);
        try {
            return value == null ? fallback : Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            return fallback;
        }
    }
}
