package dev.outboxbridge.testkit;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads a whole topic, from the beginning of every partition to its end offsets, without a consumer
 * group: the one way tests, the demo's history checker and the fault run read what is in Kafka.
 *
 * <p>Reading to end offsets (not "until N records, then a little longer") makes a duplicate or
 * phantom check independent of timing: every record written before the end offsets were taken is
 * returned, however slowly the broker hands it out. With {@code isolation.level=read_committed} in
 * the properties, the end offsets are the last stable offsets: records of transactions still open
 * then are not waited for.
 *
 * <pre>{@code
 * List<ConsumerRecord<byte[], byte[]>> all = TopicReader.readAtLeast(TopicReader.committedReader(bootstrap), topic,
 *         expected.size(), Duration.ofSeconds(60));
 * }</pre>
 */
public final class TopicReader {

    /** The longest a read to end offsets that are already known may take before it fails. */
    public static final Duration READ_TO_END_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration POLL_INTERVAL = Duration.ofMillis(100);

    private TopicReader() {
    }

    /**
     * Reader properties for {@code bootstrapServers} with {@code isolation.level=read_committed}: what
     * a transactional consumer would see, records of aborted transactions left out.
     */
    public static Properties committedReader(String bootstrapServers) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        return props;
    }

    /**
     * Every record of {@code topic} below the end offsets taken when the topic was found (waited for up
     * to {@code timeout}; empty if it did not appear), ordered by partition and then offset.
     *
     * @param consumerProperties bootstrap servers and, as needed, security settings, a client id and
     *        the isolation level; deserializers, group and offset commits are set here
     * @throws IllegalStateException if the records below the end offsets cannot be read within
     *         {@link #READ_TO_END_TIMEOUT}
     */
    public static List<ConsumerRecord<byte[], byte[]>> readToEnd(Properties consumerProperties, String topic, Duration timeout) {
        return readAtLeast(consumerProperties, topic, 0, timeout);
    }

    /**
     * Waits until at least {@code atLeast} records were read from {@code topic} or {@code timeout}
     * passed (the topic may not exist yet), then takes the end offsets and reads every record below
     * them: the result holds every record written before that moment, duplicates included, ordered
     * by partition and then offset. Fewer than {@code atLeast} when the timeout passed first, so
     * callers assert on the size.
     *
     * @throws IllegalStateException if the records below the end offsets cannot be read within
     *         {@link #READ_TO_END_TIMEOUT}
     */
    public static List<ConsumerRecord<byte[], byte[]>> readAtLeast(Properties consumerProperties, String topic, int atLeast,
            Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(properties(consumerProperties))) {
            List<TopicPartition> partitions = partitionsOf(consumer, topic, deadline);
            if (partitions.isEmpty()) {
                return records;
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            while (records.size() < atLeast && System.nanoTime() < deadline) {
                long left = deadline - System.nanoTime();
                consumer.poll(Duration.ofNanos(Math.max(0, Math.min(POLL_INTERVAL.toNanos(), left)))).forEach(records::add);
            }
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions, READ_TO_END_TIMEOUT);
            long readDeadline = System.nanoTime() + READ_TO_END_TIMEOUT.toNanos();
            while (!reached(consumer, end)) {
                if (System.nanoTime() > readDeadline) {
                    throw new IllegalStateException("Could not read " + topic + " to its end offsets " + end + " within "
                            + READ_TO_END_TIMEOUT.toSeconds() + " s (" + records.size() + " records read)");
                }
                consumer.poll(POLL_INTERVAL).forEach(records::add);
            }
        }
        records.sort(Comparator.<ConsumerRecord<byte[], byte[]>>comparingInt(ConsumerRecord::partition)
                .thenComparingLong(ConsumerRecord::offset));
        return records;
    }

    private static boolean reached(KafkaConsumer<byte[], byte[]> consumer, Map<TopicPartition, Long> end) {
        for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
            if (consumer.position(e.getKey(), READ_TO_END_TIMEOUT) < e.getValue()) {
                return false;
            }
        }
        return true;
    }

    private static Properties properties(Properties given) {
        Properties props = new Properties();
        props.putAll(given);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.remove(ConsumerConfig.GROUP_ID_CONFIG);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.putIfAbsent(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.putIfAbsent(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
        props.putIfAbsent(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5000");
        return props;
    }

    private static List<TopicPartition> partitionsOf(KafkaConsumer<byte[], byte[]> consumer, String topic, long deadline) {
        while (true) {
            long left = deadline - System.nanoTime();
            List<PartitionInfo> infos;
            try {
                infos = consumer.partitionsFor(topic, Duration.ofNanos(Math.max(left, 0)));
            } catch (org.apache.kafka.common.errors.TimeoutException e) {
                infos = List.of();
            }
            if (infos != null && !infos.isEmpty()) {
                List<TopicPartition> partitions = new ArrayList<>();
                infos.forEach(info -> partitions.add(new TopicPartition(info.topic(), info.partition())));
                return partitions;
            }
            if (System.nanoTime() >= deadline || !PostgresCluster.pause(POLL_INTERVAL.toMillis())) {
                return List.of();
            }
        }
    }
}
