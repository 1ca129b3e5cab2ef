package dev.outboxbridge.demo;

import dev.outboxbridge.demo.Workload.WrittenEvent;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Checks a run's full history against the guarantees: reads the topic from the start and the
 * consumer's effects table, and compares both with what the workload committed and rolled back.
 * <ul>
 *   <li><b>L</b> every committed event is in Kafka;</li>
 *   <li><b>P</b> no event of a rolled-back transaction is;</li>
 *   <li><b>O</b> per aggregate, first occurrences are in version order and in one partition, and
 *       each event id maps to one payload;</li>
 *   <li><b>X</b> each committed event's effect is applied exactly once in the consumer's database.</li>
 * </ul>
 */
public final class HistoryChecker {

    private static final int MAX_EXAMPLES = 5;

    /** The checker's verdicts. */
    public record Verdict(long committed, long rolledBack, long kafkaRecords, long kafkaDuplicates, List<String> lost,
            List<String> phantoms, List<String> orderViolations, List<String> effectViolations, long effectsApplied) {

        public boolean ok() {
            return lost.isEmpty() && phantoms.isEmpty() && orderViolations.isEmpty() && effectViolations.isEmpty();
        }
    }

    private HistoryChecker() {
    }

    public static Verdict check(List<WrittenEvent> committed, List<UUID> rolledBack, String bootstrapServers, String topic,
            DataSource consumerDb, String effectsTable) throws SQLException {
        List<ConsumerRecord<byte[], byte[]>> records = readTopic(bootstrapServers, topic);
        Map<UUID, WrittenEvent> byId = new HashMap<>();
        committed.forEach(e -> byId.put(e.id(), e));
        Set<UUID> rolledBackIds = new HashSet<>(rolledBack);

        Map<UUID, byte[]> payloadOf = new HashMap<>();
        Map<String, Integer> partitionOf = new HashMap<>();
        Map<String, Integer> lastVersion = new HashMap<>();
        List<String> phantoms = new ArrayList<>();
        List<String> order = new ArrayList<>();
        long duplicates = 0;
        for (ConsumerRecord<byte[], byte[]> r : records) { // per partition in offset order
            Header h = r.headers().lastHeader("id");
            UUID id = h == null ? null : UUID.fromString(new String(h.value(), StandardCharsets.UTF_8));
            String key = new String(r.key(), StandardCharsets.UTF_8);
            if (id == null || rolledBackIds.contains(id) || !byId.containsKey(id)) {
                example(phantoms, "record " + r.topic() + "-" + r.partition() + "@" + r.offset() + " id " + id
                        + (id != null && rolledBackIds.contains(id) ? " from a rolled-back transaction" : " never committed"));
                continue;
            }
            byte[] previous = payloadOf.putIfAbsent(id, r.value());
            if (previous != null) {
                duplicates++;
                if (!Arrays.equals(previous, r.value())) {
                    example(order, "event " + id + " has two different payloads");
                }
                continue;
            }
            Integer p = partitionOf.putIfAbsent(key, r.partition());
            if (p != null && p != r.partition()) {
                example(order, "aggregate " + key + " is in partitions " + p + " and " + r.partition());
            }
            int version = byId.get(id).version();
            Integer last = lastVersion.put(key, version);
            if (last != null && version != last + 1) {
                example(order, "aggregate " + key + ": version " + version + " follows version " + last);
            } else if (last == null && version != 1) {
                example(order, "aggregate " + key + ": first version in Kafka is " + version);
            }
        }
        List<String> lost = new ArrayList<>();
        for (WrittenEvent e : committed) {
            if (!payloadOf.containsKey(e.id())) {
                example(lost, "event " + e.id() + " (" + e.orderId() + " v" + e.version() + ")");
            }
        }
        List<String> effects = new ArrayList<>();
        long applied = 0;
        Map<UUID, Integer> effectCount = new HashMap<>();
        try (Connection c = consumerDb.getConnection(); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT event_id, count(*) FROM " + effectsTable + " GROUP BY event_id")) {
            while (rs.next()) {
                effectCount.put(rs.getObject(1, UUID.class), rs.getInt(2));
                applied += rs.getInt(2);
            }
        }
        for (WrittenEvent e : committed) {
            int n = effectCount.getOrDefault(e.id(), 0);
            if (n != 1) {
                example(effects, "event " + e.id() + " applied " + n + " times");
            }
        }
        for (UUID id : effectCount.keySet()) {
            if (!byId.containsKey(id)) {
                example(effects, "effect of an event that never committed: " + id);
            }
        }
        return new Verdict(committed.size(), rolledBack.size(), records.size(), duplicates, lost, phantoms, order, effects, applied);
    }

    private static void example(List<String> list, String text) {
        if (list.size() < MAX_EXAMPLES) {
            list.add(text);
        } else if (list.size() == MAX_EXAMPLES) {
            list.add("...");
        }
    }

    /** Reads every record of the topic from the beginning to the current end, partition by partition. */
    static List<ConsumerRecord<byte[], byte[]>> readTopic(String bootstrapServers, String topic) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5000");
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
                    .map(i -> new TopicPartition(topic, i.partition())).toList();
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions, Duration.ofSeconds(30));
            for (TopicPartition tp : partitions) {
                consumer.assign(List.of(tp));
                consumer.seekToBeginning(List.of(tp));
                long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                while (consumer.position(tp) < end.get(tp)) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("Could not read " + tp + " to offset " + end.get(tp) + " within 60 s");
                    }
                    consumer.poll(Duration.ofMillis(200)).forEach(out::add);
                }
            }
        }
        return out;
    }
}
