package dev.outboxbridge.cli;

import dev.outboxbridge.relay.RelayConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Read-only access to Kafka for the commands: an admin client and a consumer that only {@code assign}s (no group, no
 * committed offsets: the CLI never moves a consumer group). Every wait is bounded; a timeout is reported as Kafka
 * unreachable.
 */
final class KafkaAccess implements AutoCloseable {

    /** Default of {@code --timeout}: the longest any one Kafka call waits. */
    static final int DEFAULT_TIMEOUT_SECONDS = 20;

    private final Map<String, Object> props;
    private final String describe;
    private final Duration timeout;
    private Admin admin;
    private KafkaConsumer<byte[], byte[]> consumer;

    private KafkaAccess(Map<String, Object> props, String describe, Duration timeout) {
        this.props = props;
        this.describe = describe;
        this.timeout = timeout;
    }

    /** Kafka as the relay reaches it: kafka.bootstrap.servers and the kafka.producer.* settings clients share (security). */
    static KafkaAccess ofRelay(RelayConfig config, Duration timeout) {
        Map<String, Object> p = new HashMap<>(config.producerOverrides());
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
        return new KafkaAccess(p, "Kafka at " + config.bootstrapServers() + " (relay setting " + RelayConfig.KAFKA_BOOTSTRAP_SERVERS + ")", timeout);
    }

    /** Kafka as the consumers reach it: the inbox settings' kafka.*, or the relay's when they name no bootstrap servers. */
    static KafkaAccess ofInbox(InboxSettings inbox, CliCommand command) {
        if (inbox.kafka().containsKey(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG)) {
            return new KafkaAccess(new HashMap<>(inbox.kafka()), "Kafka at " + inbox.kafka().get(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG)
                    + " (inbox setting " + InboxSettings.KAFKA_PREFIX + "bootstrap.servers)", command.timeout());
        }
        if (!command.relayConfigured()) {
            throw CliException.config("No Kafka cluster configured for the consumers. Fix: set " + InboxSettings.KAFKA_PREFIX
                    + "bootstrap.servers in the --inbox-config file (or OUTBOX_INBOX_KAFKA_BOOTSTRAP_SERVERS), or give the relay's --config");
        }
        return ofRelay(command.relay(), command.timeout());
    }

    Duration timeout() {
        return timeout;
    }

    String bootstrapServers() {
        return String.valueOf(props.get(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG));
    }

    Admin admin() {
        if (admin == null) {
            Map<String, Object> p = new HashMap<>(props);
            p.keySet().retainAll(AdminClientConfig.configNames());
            p.put(AdminClientConfig.CLIENT_ID_CONFIG, "outbox-cli-admin");
            p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
            p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) timeout.toMillis() / 2);
            admin = create(() -> Admin.create(p));
        }
        return admin;
    }

    KafkaConsumer<byte[], byte[]> consumer() {
        if (consumer == null) {
            Map<String, Object> p = new HashMap<>(props);
            p.keySet().retainAll(ConsumerConfig.configNames());
            p.remove(ConsumerConfig.GROUP_ID_CONFIG);
            p.put(ConsumerConfig.CLIENT_ID_CONFIG, "outbox-cli-reader");
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
            p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
            p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) timeout.toMillis() / 2);
            consumer = create(() -> new KafkaConsumer<>(p));
        }
        return consumer;
    }

    private <T> T create(java.util.function.Supplier<T> factory) {
        try {
            return factory.get();
        } catch (KafkaException e) {
            throw CliException.config("Cannot create a Kafka client for " + describe + ": " + e.getMessage()
                    + (e.getCause() == null ? "" : " (" + e.getCause().getMessage() + ")") + ". Fix: check the security settings"
                    + " (security.protocol, ssl.*, sasl.*) given with the Kafka settings");
        }
    }

    /** The partitions of a topic, or empty when it does not exist. */
    List<TopicPartition> partitions(String topic) {
        try {
            TopicDescription d = admin().describeTopics(List.of(topic)).allTopicNames().get(timeout.toMillis() + 1000, TimeUnit.MILLISECONDS).get(topic);
            List<TopicPartition> out = new ArrayList<>();
            d.partitions().forEach(p -> out.add(new TopicPartition(topic, p.partition())));
            return out;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                return List.of();
            }
            throw failure("describe topic " + topic, e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            throw failure("describe topic " + topic, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw failure("describe topic " + topic, e);
        }
    }

    /** Topic names (internal ones excluded) accepted by {@code filter}. */
    List<String> topics(Predicate<String> filter) {
        try {
            Set<String> names = admin().listTopics().names().get(timeout.toMillis() + 1000, TimeUnit.MILLISECONDS);
            return names.stream().filter(filter).sorted().toList();
        } catch (ExecutionException e) {
            throw failure("list topics", e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            throw failure("list topics", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw failure("list topics", e);
        }
    }

    Map<TopicPartition, Long> beginningOffsets(Collection<TopicPartition> tps) {
        try {
            return consumer().beginningOffsets(tps, timeout);
        } catch (TimeoutException e) {
            throw failure("read the beginning offsets", e);
        }
    }

    Map<TopicPartition, Long> endOffsets(Collection<TopicPartition> tps) {
        try {
            return consumer().endOffsets(tps, timeout);
        } catch (TimeoutException e) {
            throw failure("read the end offsets", e);
        }
    }

    /**
     * Reads each partition from its start offset up to its end offset at the time of the call (or {@code limit} records
     * per partition), handing every record to {@code visitor}.
     */
    void scan(Map<TopicPartition, Long> starts, long limit, java.util.function.Consumer<ConsumerRecord<byte[], byte[]>> visitor) {
        if (starts.isEmpty()) {
            return;
        }
        KafkaConsumer<byte[], byte[]> c = consumer();
        Map<TopicPartition, Long> ends = endOffsets(starts.keySet());
        Map<TopicPartition, Long> stops = new HashMap<>();
        starts.forEach((tp, start) -> stops.put(tp, Math.min(ends.getOrDefault(tp, 0L), start + limit)));
        List<TopicPartition> open = new ArrayList<>();
        starts.forEach((tp, start) -> {
            if (start < stops.get(tp)) {
                open.add(tp);
            }
        });
        if (open.isEmpty()) {
            return;
        }
        c.assign(open);
        open.forEach(tp -> c.seek(tp, starts.get(tp)));
        long deadline = System.nanoTime() + timeout.toNanos(); // moved on by every poll that brings records
        while (!open.isEmpty()) {
            if (System.nanoTime() > deadline) {
                throw failure("read " + open + " to offset " + stops, null);
            }
            var records = c.poll(Duration.ofMillis(500));
            if (!records.isEmpty()) {
                deadline = System.nanoTime() + timeout.toNanos();
            }
            for (ConsumerRecord<byte[], byte[]> r : records) {
                TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                if (r.offset() < stops.get(tp)) {
                    visitor.accept(r);
                }
            }
            open.removeIf(tp -> c.position(tp, timeout) >= stops.get(tp));
            c.pause(c.assignment().stream().filter(tp -> !open.contains(tp)).toList());
        }
        c.unsubscribe();
    }

    CliException failure(String what, Throwable cause) {
        return CliException.unreachable("Cannot " + what + " on " + describe + ": "
                + (cause == null ? "timed out after " + timeout.toSeconds() + " s" : cause.toString())
                + ". Fix: check the bootstrap servers, that the brokers run, and the client's ACLs", cause);
    }

    @Override
    public void close() {
        if (consumer != null) {
            consumer.close(Duration.ofSeconds(5));
        }
        if (admin != null) {
            admin.close(Duration.ofSeconds(5));
        }
    }
}
