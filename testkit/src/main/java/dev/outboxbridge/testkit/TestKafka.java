package dev.outboxbridge.testkit;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A per-test namespace on a {@link KafkaServer}: every topic name starts with the unique
 * {@link #prefix()}, so tests never see each other's records. {@link #close()} deletes the topics
 * created through {@link #createTopic(String, int)}.
 *
 * <pre>{@code
 * try (TestKafka kafka = TestServers.kafka().newNamespace("orders")) {
 *     String topic = kafka.topic("order");            // e.g. "orders-k3x9a1.order"
 *     kafka.createTopic(topic, 3);
 *     // ... run the code under test ...
 *     List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, 1, Duration.ofSeconds(30));
 * }
 * }</pre>
 *
 * <p>Thread-safe.
 */
public final class TestKafka implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TestKafka.class);
    private static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(30);
    private static final int MAX_REPLICATION_FACTOR = 3;

    private final String bootstrapServers;
    private final String prefix;
    private final Admin admin;
    private final Set<String> createdTopics = new LinkedHashSet<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile short replicationFactor;

    TestKafka(String bootstrapServers, String prefix) {
        this.bootstrapServers = bootstrapServers;
        this.prefix = prefix;
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "outbox-testkit-admin-" + prefix);
        this.admin = Admin.create(props);
    }

    /** The {@code bootstrap.servers} value of the broker. */
    public String bootstrapServers() {
        return bootstrapServers;
    }

    /** The unique prefix of this namespace's topic names, for example {@code orders-k3x9a1.}. */
    public String prefix() {
        return prefix;
    }

    /** {@code prefix() + base}: a topic name of this namespace. */
    public String topic(String base) {
        return prefix + base;
    }

    /**
     * Creates a topic with the given number of partitions and a replication factor of
     * {@code min(3, number of brokers)}, and waits until every partition has a leader. The topic is
     * deleted by {@link #close()}. Normally {@code name} comes from {@link #topic(String)}.
     *
     * @throws IllegalStateException if the topic cannot be created (for example, it exists already)
     */
    public void createTopic(String name, int partitions) {
        if (partitions < 1) {
            throw new IllegalArgumentException("partitions must be at least 1, got " + partitions);
        }
        try {
            NewTopic topic = new NewTopic(name, partitions, replicationFactor());
            admin.createTopics(List.of(topic)).all().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            synchronized (createdTopics) {
                createdTopics.add(name);
            }
            awaitLeaders(name, partitions);
            LOG.debug("Created topic {} with {} partition(s)", name, partitions);
        } catch (ExecutionException e) {
            throw new IllegalStateException("Could not create topic " + name + " on " + bootstrapServers + ": "
                    + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("Timed out after " + ADMIN_TIMEOUT.toSeconds() + " s creating topic "
                    + name + " on " + bootstrapServers, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while creating topic " + name, e);
        }
    }

    /** An admin client for the broker, owned by this namespace (closed by {@link #close()}). */
    public Admin admin() {
        return admin;
    }

    /**
     * New producer properties: bootstrap servers, {@code byte[]} serializers, {@code acks=all},
     * idempotence and one request in flight. Add or override settings as needed.
     *
     * <p>One request in flight: right after a topic is created the embedded broker may refuse a
     * partition's first batch and accept the next, which leaves an idempotent producer with several
     * requests in flight retrying {@code OUT_OF_ORDER_SEQUENCE_NUMBER} until its delivery timeout.
     */
    public Properties producerProperties() {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "1");
        return props;
    }

    /**
     * New consumer properties: bootstrap servers, the group id, {@code byte[]} deserializers,
     * {@code auto.offset.reset=earliest} and {@code enable.auto.commit=false}. Group ids are
     * cluster-wide: use {@link #topic(String)} to make one unique to this namespace.
     */
    public Properties consumerProperties(String groupId) {
        Properties props = baseConsumerProperties();
        props.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        return props;
    }

    /**
     * Reads a topic from the beginning of every partition to its end offsets, without a consumer
     * group ({@link TopicReader#readAtLeast}): waits until at least {@code atLeast} records were read
     * or {@code timeout} passed (the topic may not exist yet), then reads every record below the end
     * offsets taken at that moment, so duplicates written before it are always in the result, never
     * a matter of timing.
     *
     * @return every record read, ordered by partition and then offset; fewer than {@code atLeast}
     *         when the timeout passed first (assert on the size)
     */
    public List<ConsumerRecord<byte[], byte[]>> readAll(String topic, int atLeast, Duration timeout) {
        return TopicReader.readAtLeast(readerProperties(), topic, atLeast, timeout);
    }

    /**
     * Every record of the topic below its end offsets taken now ({@link TopicReader#readToEnd});
     * waits up to {@code timeout} for the topic to exist (empty if it does not).
     */
    public List<ConsumerRecord<byte[], byte[]>> readAll(String topic, Duration timeout) {
        return TopicReader.readToEnd(readerProperties(), topic, timeout);
    }

    /** The {@code client.id} of the consumer {@link #readAll} uses in the namespace {@code prefix} (for quotas in tests). */
    static String readerClientId(String prefix) {
        return "outbox-testkit-reader-" + prefix;
    }

    /**
     * Deletes the topics created through {@link #createTopic(String, int)} and closes the admin
     * client. Never throws: a failure is logged as a warning. Calling it again does nothing.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        List<String> topics;
        synchronized (createdTopics) {
            topics = new ArrayList<>(createdTopics);
        }
        try {
            if (!topics.isEmpty()) {
                try {
                    admin.deleteTopics(topics).all().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                    LOG.debug("Deleted topics {}", topics);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                        LOG.warn("Could not delete test topics {} on {}: {}", topics, bootstrapServers,
                                e.getCause().toString(), e.getCause());
                    }
                } catch (TimeoutException e) {
                    LOG.warn("Timed out deleting test topics {} on {}", topics, bootstrapServers);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    LOG.warn("Interrupted while deleting test topics {}", topics);
                }
            }
        } catch (RuntimeException e) {
            LOG.warn("Could not delete test topics {} on {}: {}", topics, bootstrapServers, e.toString(), e);
        } finally {
            try {
                admin.close(Duration.ofSeconds(10));
            } catch (RuntimeException e) {
                LOG.warn("Could not close the admin client of {}: {}", prefix, e.toString(), e);
            }
        }
    }

    @Override
    public String toString() {
        return "TestKafka[" + prefix + " on " + bootstrapServers + "]";
    }

    private Properties readerProperties() {
        Properties props = baseConsumerProperties();
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, readerClientId(prefix));
        return props;
    }

    private Properties baseConsumerProperties() {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
        return props;
    }

    private short replicationFactor() throws ExecutionException, InterruptedException, TimeoutException {
        if (replicationFactor == 0) {
            int brokers = admin.describeCluster().nodes().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).size();
            replicationFactor = (short) Math.max(1, Math.min(MAX_REPLICATION_FACTOR, brokers));
        }
        return replicationFactor;
    }

    private void awaitLeaders(String name, int partitions)
            throws ExecutionException, InterruptedException, TimeoutException {
        long deadline = System.nanoTime() + ADMIN_TIMEOUT.toNanos();
        while (true) {
            try {
                Map<String, TopicDescription> descriptions = admin.describeTopics(List.of(name))
                        .allTopicNames().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                TopicDescription description = descriptions.get(name);
                if (description != null && description.partitions().size() == partitions
                        && description.partitions().stream().allMatch(TestKafka::hasLeader)) {
                    return;
                }
            } catch (ExecutionException e) {
                // the broker may not know the topic yet
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                    throw e;
                }
            }
            if (System.nanoTime() >= deadline) {
                throw new TimeoutException("partitions of " + name + " have no leader after "
                        + ADMIN_TIMEOUT.toSeconds() + " s");
            }
            Thread.sleep(20);
        }
    }

    private static boolean hasLeader(TopicPartitionInfo partition) {
        return partition.leader() != null && !partition.leader().isEmpty();
    }
}
