package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Creates the position topic ({@code offset.storage.topic}) when it is missing (1 partition,
 * {@code cleanup.policy=compact}) and refuses an existing one that is not compacted only: a
 * deleting topic would one day drop the relay's position, and it would then resume from the slot.
 * Kafka Connect's {@code KafkaOffsetBackingStore} checks the same again when it starts.
 */
final class OffsetTopic {

    private static final Logger LOG = LoggerFactory.getLogger(OffsetTopic.class);
    private static final long TIMEOUT_SECONDS = 30;

    private OffsetTopic() {
    }

    /**
     * The topic's configuration. Right after the topic was created a broker may not know it yet
     * and answers UNKNOWN_TOPIC_OR_PARTITION: retried for up to 10 s.
     */
    private static Config describe(Admin admin, ConfigResource resource)
            throws ExecutionException, TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try {
                return admin.describeConfigs(List.of(resource)).all().get(TIMEOUT_SECONDS, TimeUnit.SECONDS).get(resource);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException) || System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(200);
            }
        }
    }

    public static void ensure(Admin admin, String topic, short replicationFactor) {
        try {
            boolean exists;
            try {
                admin.describeTopics(List.of(topic)).allTopicNames().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                exists = true;
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                    throw e;
                }
                exists = false;
            }
            if (!exists) {
                try {
                    admin.createTopics(List.of(new NewTopic(topic, Optional.of(1),
                                    replicationFactor < 0 ? Optional.empty() : Optional.of(replicationFactor))
                                    .configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT))))
                            .all().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                    LOG.info("Created position topic {} (1 partition, compacted)", topic);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw new RelayException("Cannot create the position topic '" + topic + "' (" + RelayConfig.OFFSET_STORAGE_TOPIC
                                + "): " + e.getCause() + ". Fix: create it yourself (kafka-topics.sh --create --topic " + topic
                                + " --partitions 1 --config cleanup.policy=compact) or grant the relay CREATE on it", e.getCause());
                    }
                }
            }
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config config = describe(admin, resource);
            ConfigEntry policy = config == null ? null : config.get(TopicConfig.CLEANUP_POLICY_CONFIG);
            String value = policy == null ? null : policy.value();
            if (!TopicConfig.CLEANUP_POLICY_COMPACT.equals(value)) {
                throw new RelayException("The position topic '" + topic + "' (" + RelayConfig.OFFSET_STORAGE_TOPIC + ") has cleanup.policy="
                        + value + "; it must be 'compact' only, or Kafka would one day delete the relay's position. Fix:"
                        + " kafka-configs.sh --alter --entity-type topics --entity-name " + topic
                        + " --add-config cleanup.policy=compact, or point " + RelayConfig.OFFSET_STORAGE_TOPIC + " at another topic");
            }
            if (exists) {
                LOG.info("Position topic {} exists (compacted)", topic);
            }
        } catch (ExecutionException e) {
            throw new RelayException("Cannot check the position topic '" + topic + "' (" + RelayConfig.OFFSET_STORAGE_TOPIC + "): "
                    + e.getCause() + ". Fix: check the relay's Kafka ACLs (DESCRIBE, DESCRIBE_CONFIGS, READ, WRITE on the topic)",
                    e.getCause());
        } catch (TimeoutException e) {
            throw new RelayException("Kafka did not answer within " + TIMEOUT_SECONDS + " s when checking the position topic '" + topic
                    + "': check " + RelayConfig.KAFKA_BOOTSTRAP_SERVERS + " and the brokers", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RelayException("Interrupted while checking the position topic '" + topic + "'", e);
        }
    }
}
