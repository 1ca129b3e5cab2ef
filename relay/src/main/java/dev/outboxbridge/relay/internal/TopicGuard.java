package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes sure a target topic exists before the first send to it: the relay never relies on broker
 * auto-creation (a send to a missing topic would block for {@code max.block.ms} and then fail).
 */
final class TopicGuard {

    private static final Logger LOG = LoggerFactory.getLogger(TopicGuard.class);
    private static final long ADMIN_TIMEOUT_SECONDS = 30;

    private final Admin admin;
    private final boolean create;
    private final int partitions;
    private final short replicationFactor;
    private final Set<String> known = ConcurrentHashMap.newKeySet();
    private final Map<String, Integer> maxMessageBytes = new ConcurrentHashMap<>();
    private final ReplicationCheck replication; // null: none

    public TopicGuard(Admin admin, boolean create, int partitions, short replicationFactor) {
        this(admin, create, partitions, replicationFactor, null);
    }

    /** With {@code replication}, each topic's replication is checked once, the first time it is seen (not on the hot path). */
    public TopicGuard(Admin admin, boolean create, int partitions, short replicationFactor, ReplicationCheck replication) {
        this.admin = admin;
        this.create = create;
        this.partitions = partitions;
        this.replicationFactor = replicationFactor;
        this.replication = replication;
    }

    public void ensure(Collection<String> topics) throws InterruptedException {
        for (String topic : topics) {
            if (!known.contains(topic)) {
                ensure(topic);
                if (replication != null) {
                    replication.check(admin, topic); // refuse: throws before anything is sent to the topic
                }
                maxMessageBytes.put(topic, readMaxMessageBytes(topic));
                known.add(topic);
            }
        }
    }

    /** The topic's max.message.bytes as last read (after {@link #ensure}); Integer.MAX_VALUE when unknown. */
    public int maxMessageBytes(String topic) {
        return maxMessageBytes.getOrDefault(topic, Integer.MAX_VALUE);
    }

    private int readMaxMessageBytes(String topic) throws InterruptedException {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        try {
            Config config = admin.describeConfigs(List.of(resource)).all().get(ADMIN_TIMEOUT_SECONDS, TimeUnit.SECONDS).get(resource);
            ConfigEntry entry = config == null ? null : config.get(TopicConfig.MAX_MESSAGE_BYTES_CONFIG);
            return entry == null || entry.value() == null ? Integer.MAX_VALUE : Integer.parseInt(entry.value());
        } catch (ExecutionException | TimeoutException | NumberFormatException e) {
            LOG.debug("Cannot read max.message.bytes of topic {}: {}", topic, e.toString());
            return Integer.MAX_VALUE; // the broker still refuses an oversized record; the relay then stops on the failed send
        }
    }

    private void ensure(String topic) throws InterruptedException {
        try {
            admin.describeTopics(List.of(topic)).allTopicNames().get(ADMIN_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            LOG.info("Publishing to topic {}", topic);
            return;
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                throw new RelayException("Cannot check Kafka topic '" + topic + "': " + e.getCause(), e.getCause());
            }
        } catch (TimeoutException e) {
            throw new RelayException("Kafka did not answer within " + ADMIN_TIMEOUT_SECONDS + " s when checking topic '" + topic
                    + "': check " + RelayConfig.KAFKA_BOOTSTRAP_SERVERS + " and the brokers", e);
        }
        if (!create) {
            throw new RelayException("Kafka topic '" + topic + "' does not exist. The relay does not rely on topic auto-creation."
                    + " Fix: create it (kafka-topics.sh --create --topic " + topic + " --partitions <n>), or set "
                    + RelayConfig.TOPIC_CREATE + "=true. No event for it was published or marked processed.");
        }
        try {
            admin.createTopics(List.of(new NewTopic(topic, Optional.of(partitions),
                            replicationFactor < 0 ? Optional.empty() : Optional.of(replicationFactor))))
                    .all().get(ADMIN_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            LOG.info("Created topic {} ({} partitions)", topic, partitions);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new RelayException("Cannot create Kafka topic '" + topic + "': " + e.getCause()
                        + ". Fix: create it yourself or grant the relay CREATE on the cluster", e.getCause());
            }
        } catch (TimeoutException e) {
            throw new RelayException("Kafka did not answer within " + ADMIN_TIMEOUT_SECONDS + " s when creating topic '" + topic + "'", e);
        }
    }
}
