package dev.outboxbridge.demo;

import dev.outboxbridge.demo.Workload.Kind;
import dev.outboxbridge.demo.Workload.WrittenEvent;
import dev.outboxbridge.inbox.DeadLetterHeaders;
import dev.outboxbridge.testkit.TopicReader;
import java.io.PrintStream;
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
import java.util.Set;
import java.util.UUID;
import java.util.function.Predicate;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/**
 * Checks a run's full history against the guarantees: reads the topic and the dead-letter topics from
 * the start and the consumer's effects table, and compares them with what the workload committed and
 * rolled back. Poison events ({@link Kind#POISON}: the consumer cannot deserialize them) belong in the
 * topic and in the consumer's dead-letter topic, unapplied; oversized events ({@link Kind#OVERSIZED}:
 * larger than the topic accepts) belong in the relay's dead-letter topic only.
 * <ul>
 *   <li><b>L</b> every committed event is in Kafka where it belongs: a normal or poison event in the
 *       topic, an oversized one in the relay's dead-letter topic (with the reason and the intended topic
 *       in its headers) and never in the topic;</li>
 *   <li><b>P</b> no event of a rolled-back transaction, nor any id never committed, is in the topic or in
 *       a dead-letter topic;</li>
 *   <li><b>O</b> per aggregate, first occurrences in the topic are in one partition and follow the
 *       aggregate's versions without a gap, except the versions of its oversized events (which are in
 *       the relay's dead-letter topic, in version order too); each event id maps to one payload;</li>
 *   <li><b>X</b> each committed normal event's effect is applied exactly once in the consumer's
 *       database; each poison event is in the consumer's dead-letter topic as {@code handler-fatal} and
 *       its effect is never applied (correctly dead-lettered); nothing else is dead-lettered by the
 *       consumer, and no oversized event is applied.</li>
 * </ul>
 */
public final class HistoryChecker {

    private static final int MAX_EXAMPLES = 10;
    /** How long the checker waits for a topic to exist. */
    private static final Duration READ_TIMEOUT = Duration.ofSeconds(30);
    /** The event id header the relay sets on every record (the consumer's dead letters keep it). */
    static final String ID_HEADER = "id";
    /** Headers the relay adds to a dead letter (see RelayConfig's dead.letter.topic). */
    static final String RELAY_DLQ_REASON = dev.outboxbridge.relay.DeadLetterHeaders.REASON;
    static final String RELAY_DLQ_TOPIC = dev.outboxbridge.relay.DeadLetterHeaders.ORIGINAL_TOPIC;

    /** The checker's verdicts. */
    public record Verdict(long committed, long rolledBack, long kafkaRecords, long kafkaDuplicates, List<String> lost,
            List<String> phantoms, List<String> orderViolations, List<String> effectViolations, long effectsApplied,
            DeadLetters deadLetters) {

        public boolean ok() {
            return lost.isEmpty() && phantoms.isEmpty() && orderViolations.isEmpty() && effectViolations.isEmpty();
        }
    }

    /**
     * Where the committed poison and oversized events went (distinct events; duplicates in a dead-letter topic
     * count once), and how many records the dead-letter topics hold in all.
     */
    public record DeadLetters(long poison, long poisonInTopic, long poisonDeadLettered, long poisonApplied, long oversized,
            long oversizedDeadLettered, long oversizedInTopic, long oversizedApplied, long relayDeadLetterRecords,
            long consumerDeadLetterRecords) {

        public void print(PrintStream out) {
            out.printf("  poison events                    %,d committed: %,d in the topic, %,d in the consumer's dead-letter topic,"
                    + " %,d applied (must be 0)%n", poison, poisonInTopic, poisonDeadLettered, poisonApplied);
            out.printf("  oversized events                 %,d committed: %,d in the relay's dead-letter topic, %,d in the topic"
                    + " (must be 0), %,d applied (must be 0)%n", oversized, oversizedDeadLettered, oversizedInTopic, oversizedApplied);
            out.printf("  dead-letter records              relay %,d, consumer %,d (duplicates included)%n", relayDeadLetterRecords,
                    consumerDeadLetterRecords);
        }
    }

    private HistoryChecker() {
    }

    /** Checks a run without dead-letter topics: every committed event must be a normal one. */
    public static Verdict check(List<WrittenEvent> committed, List<UUID> rolledBack, String bootstrapServers, String topic,
            DataSource consumerDb, String effectsTable) throws SQLException {
        return check(committed, rolledBack, bootstrapServers, topic, null, null, consumerDb, effectsTable);
    }

    /**
     * Checks a run; {@code relayDeadLetterTopic} and {@code consumerDeadLetterTopic} are read when not null (a run
     * with oversized or poison events needs them).
     */
    public static Verdict check(List<WrittenEvent> committed, List<UUID> rolledBack, String bootstrapServers, String topic,
            String relayDeadLetterTopic, String consumerDeadLetterTopic, DataSource consumerDb, String effectsTable)
            throws SQLException {
        List<ConsumerRecord<byte[], byte[]>> records = readTopic(bootstrapServers, topic);
        List<ConsumerRecord<byte[], byte[]>> relayDeadLetters = relayDeadLetterTopic == null ? List.of()
                : readTopic(bootstrapServers, relayDeadLetterTopic);
        List<ConsumerRecord<byte[], byte[]>> consumerDeadLetters = consumerDeadLetterTopic == null ? List.of()
                : readTopic(bootstrapServers, consumerDeadLetterTopic);
        Map<UUID, WrittenEvent> byId = new HashMap<>();
        committed.forEach(e -> byId.put(e.id(), e));
        Set<UUID> rolledBackIds = new HashSet<>(rolledBack);
        // per aggregate, the versions expected in the topic (all but the oversized ones), in order
        Map<String, int[]> topicVersions = versions(committed, e -> e.kind() != Kind.OVERSIZED);

        List<String> lost = new ArrayList<>();
        Map<UUID, byte[]> payloadOf = new HashMap<>();
        Map<String, Integer> partitionOf = new HashMap<>();
        Map<String, Integer> lastIndex = new HashMap<>();
        List<String> phantoms = new ArrayList<>();
        List<String> order = new ArrayList<>();
        long duplicates = 0;
        long oversizedInTopic = 0;
        for (ConsumerRecord<byte[], byte[]> r : records) { // per partition in offset order
            UUID id = eventId(r, ID_HEADER);
            if (!known(r, id, byId, rolledBackIds, phantoms)) {
                continue;
            }
            String key = new String(r.key(), StandardCharsets.UTF_8);
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
            WrittenEvent e = byId.get(id);
            if (e.kind() == Kind.OVERSIZED) {
                oversizedInTopic++;
                example(lost, "oversized event " + id + " (" + e.orderId() + " v" + e.version() + ") is in " + r.topic() + "-"
                        + r.partition() + "@" + r.offset() + " instead of the relay's dead-letter topic");
                continue;
            }
            int[] expected = topicVersions.get(key);
            int index = expected == null ? -1 : Arrays.binarySearch(expected, e.version());
            Integer last = lastIndex.get(key);
            int next = last == null ? 0 : last + 1;
            if (index != next) {
                String want = expected != null && next < expected.length ? "v" + expected[next] : "nothing more";
                example(order, "aggregate " + key + ": " + (last == null ? "first version in Kafka is " + e.version()
                        : "version " + e.version() + " follows version " + expected[last]) + " (expected " + want + ")");
            }
            if (index >= 0) {
                lastIndex.put(key, index);
            }
        }

        // the relay's dead letters: oversized events only, each with the reason and the topic it was meant for
        Map<UUID, ConsumerRecord<byte[], byte[]>> relayDeadLettered = new HashMap<>();
        Map<String, Integer> lastDeadLetteredVersion = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : relayDeadLetters) {
            UUID id = eventId(r, ID_HEADER);
            if (!known(r, id, byId, rolledBackIds, phantoms) || relayDeadLettered.putIfAbsent(id, r) != null) {
                continue;
            }
            WrittenEvent e = byId.get(id);
            String reason = header(r, RELAY_DLQ_REASON);
            if (e.kind() != Kind.OVERSIZED) {
                example(lost, e.kind() + " event " + id + " (" + e.orderId() + " v" + e.version()
                        + ") was dead-lettered by the relay instead of published: " + reason);
                continue;
            }
            if (reason == null || reason.isBlank() || !topic.equals(header(r, RELAY_DLQ_TOPIC))) {
                example(lost, "the relay's dead letter of event " + id + " lacks the reason or the intended topic: "
                        + RELAY_DLQ_REASON + "=" + reason + ", " + RELAY_DLQ_TOPIC + "=" + header(r, RELAY_DLQ_TOPIC));
            }
            Integer last = lastDeadLetteredVersion.put(e.orderId(), e.version());
            if (last != null && last > e.version()) {
                example(order, "aggregate " + e.orderId() + ": oversized version " + e.version() + " follows version " + last
                        + " in the relay's dead-letter topic");
            }
        }

        // the consumer's dead letters: poison events only, dead-lettered as fatal
        Set<UUID> consumerDeadLettered = new HashSet<>();
        List<String> effects = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : consumerDeadLetters) {
            UUID id = eventId(r, ID_HEADER);
            if (id == null) {
                id = eventId(r, DeadLetterHeaders.EVENT_ID);
            }
            if (!known(r, id, byId, rolledBackIds, phantoms) || !consumerDeadLettered.add(id)) {
                continue;
            }
            WrittenEvent e = byId.get(id);
            String reason = header(r, DeadLetterHeaders.REASON);
            if (e.kind() != Kind.POISON) {
                example(effects, e.kind() + " event " + id + " (" + e.orderId() + " v" + e.version() + ") was dead-lettered by the"
                        + " consumer (" + reason + ": " + header(r, DeadLetterHeaders.EXCEPTION_MESSAGE) + ")");
            } else if (!DeadLetterHeaders.REASON_HANDLER_FATAL.equals(reason)) {
                example(effects, "poison event " + id + " was dead-lettered as " + reason + " after "
                        + header(r, DeadLetterHeaders.ATTEMPTS) + " attempt(s), not at once as " + DeadLetterHeaders.REASON_HANDLER_FATAL);
            }
        }

        long poison = 0;
        long poisonInTopic = 0;
        long poisonDeadLettered = 0;
        long oversized = 0;
        long oversizedDeadLettered = 0;
        for (WrittenEvent e : committed) {
            switch (e.kind()) {
                case OVERSIZED -> {
                    oversized++;
                    if (relayDeadLettered.containsKey(e.id())) {
                        oversizedDeadLettered++;
                    } else if (!payloadOf.containsKey(e.id())) {
                        example(lost, "oversized event " + e.id() + " (" + e.orderId() + " v" + e.version()
                                + ") is in neither the topic nor the relay's dead-letter topic");
                    }
                }
                case POISON, NORMAL -> {
                    if (e.kind() == Kind.POISON) {
                        poison++;
                        poisonInTopic += payloadOf.containsKey(e.id()) ? 1 : 0;
                        poisonDeadLettered += consumerDeadLettered.contains(e.id()) ? 1 : 0;
                    }
                    if (!payloadOf.containsKey(e.id())) {
                        example(lost, (e.kind() == Kind.POISON ? "poison event " : "event ") + e.id() + " (" + e.orderId() + " v"
                                + e.version() + ")");
                    }
                }
            }
        }

        long applied = 0;
        Map<UUID, Integer> effectCount = new HashMap<>();
        try (Connection c = consumerDb.getConnection(); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT event_id, count(*) FROM " + effectsTable + " GROUP BY event_id")) {
            while (rs.next()) {
                effectCount.put(rs.getObject(1, UUID.class), rs.getInt(2));
                applied += rs.getInt(2);
            }
        }
        long poisonApplied = 0;
        long oversizedApplied = 0;
        for (WrittenEvent e : committed) {
            int n = effectCount.getOrDefault(e.id(), 0);
            switch (e.kind()) {
                case NORMAL -> {
                    if (n != 1) {
                        example(effects, "event " + e.id() + " (" + e.orderId() + " v" + e.version() + ") applied " + n + " times");
                    }
                }
                case POISON -> {
                    if (n != 0) {
                        poisonApplied++;
                        example(effects, "poison event " + e.id() + " applied " + n + " times (must be 0)");
                    }
                    if (!consumerDeadLettered.contains(e.id())) {
                        example(effects, "poison event " + e.id() + " (" + e.orderId() + " v" + e.version()
                                + ") is not in the consumer's dead-letter topic");
                    }
                }
                case OVERSIZED -> {
                    if (n != 0) {
                        oversizedApplied++;
                        example(effects, "oversized event " + e.id() + " applied " + n + " times (must be 0)");
                    }
                }
            }
        }
        for (UUID id : effectCount.keySet()) {
            if (!byId.containsKey(id)) {
                example(effects, "effect of an event that never committed: " + id);
            }
        }
        DeadLetters deadLetters = new DeadLetters(poison, poisonInTopic, poisonDeadLettered, poisonApplied, oversized,
                oversizedDeadLettered, oversizedInTopic, oversizedApplied, relayDeadLetters.size(), consumerDeadLetters.size());
        return new Verdict(committed.size(), rolledBack.size(), records.size(), duplicates, lost, phantoms, order, effects, applied,
                deadLetters);
    }

    /** Per aggregate, the sorted versions of its committed events that {@code include} accepts. */
    private static Map<String, int[]> versions(List<WrittenEvent> committed, Predicate<WrittenEvent> include) {
        Map<String, List<Integer>> lists = new HashMap<>();
        for (WrittenEvent e : committed) {
            if (include.test(e)) {
                lists.computeIfAbsent(e.orderId(), k -> new ArrayList<>()).add(e.version());
            }
        }
        Map<String, int[]> out = new HashMap<>();
        lists.forEach((k, v) -> out.put(k, v.stream().mapToInt(Integer::intValue).sorted().toArray()));
        return out;
    }

    /** Whether the record carries an event id that committed; else notes a phantom. */
    private static boolean known(ConsumerRecord<byte[], byte[]> r, UUID id, Map<UUID, WrittenEvent> byId, Set<UUID> rolledBackIds,
            List<String> phantoms) {
        if (id == null || rolledBackIds.contains(id) || !byId.containsKey(id)) {
            example(phantoms, "record " + r.topic() + "-" + r.partition() + "@" + r.offset() + " id " + id
                    + (id != null && rolledBackIds.contains(id) ? " from a rolled-back transaction" : " never committed"));
            return false;
        }
        return true;
    }

    private static UUID eventId(ConsumerRecord<byte[], byte[]> r, String header) {
        String value = header(r, header);
        if (value == null) {
            return null;
        }
        try {
            return UUID.fromString(value);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    private static void example(List<String> list, String text) {
        if (list.size() < MAX_EXAMPLES) {
            list.add(text);
        } else if (list.size() == MAX_EXAMPLES) {
            list.add("...");
        }
    }

    /** Every record of {@code topic} below its end offsets now, as a read_committed consumer sees them ({@link TopicReader}). */
    static List<ConsumerRecord<byte[], byte[]>> readTopic(String bootstrapServers, String topic) {
        return TopicReader.readToEnd(TopicReader.committedReader(bootstrapServers), topic, READ_TIMEOUT);
    }
}
