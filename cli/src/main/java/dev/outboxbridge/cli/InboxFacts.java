package dev.outboxbridge.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.outboxbridge.db.SchemaCheck;
import dev.outboxbridge.db.TableName;
import dev.outboxbridge.inbox.DeadLetterHeaders;
import dev.outboxbridge.inbox.InboxConsumer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;

/**
 * What the inbox tables say (read with the SQL of docs/consumer-failures.md, "The redrive procedure"), and the
 * dead-letter topics' records; the redrive itself goes through {@link InboxConsumer#redrive}.
 */
final class InboxFacts {

    private InboxFacts() {
    }

    static String parkedKeyTable(TableName inbox) {
        return TableName.parse(inbox.schema() + "." + SchemaCheck.INBOX_PARKED_KEY_TABLE).quoted();
    }

    static String parkedEventTable(TableName inbox) {
        return TableName.parse(inbox.schema() + "." + SchemaCheck.INBOX_PARKED_EVENT_TABLE).quoted();
    }

    /** Runs {@code sql}, translating a missing table into the fix (migrate the inbox, or set the inbox table). */
    static CliException missingTables(SQLException e, TableName inbox) {
        if ("42P01".equals(e.getSQLState())) {
            return CliException.config("The inbox tables are not in the inbox database: " + e.getMessage() + ". Fix: set inbox setting "
                    + InboxSettings.TABLE + " (now " + inbox + ") to the table the consumers use, or point " + InboxSettings.DATABASE_URL
                    + " at their database");
        }
        return new CliException(OutboxCli.EXIT_PROBLEM, "Reading the inbox tables failed (SQLState " + e.getSQLState() + "): " + e.getMessage(), e);
    }

    /**
     * The status of one event at each consumer: {@code APPLIED} or {@code DEAD_LETTERED} (its inbox row), {@code PARKED}
     * (stored behind a parked key, or the parked key's head) or {@code NOT_SEEN}; for every consumer in
     * {@code consumers} and every other consumer that has a row for it.
     */
    static ArrayNode eventStatus(Connection c, TableName inbox, UUID eventId, Collection<String> consumers, Output out) {
        Map<String, ObjectNode> byConsumer = new java.util.TreeMap<>();
        for (String consumer : consumers) {
            ObjectNode n = out.object();
            n.put("consumer", consumer);
            n.put("status", "NOT_SEEN");
            byConsumer.put(consumer, n);
        }
        try {
            try (PreparedStatement ps = c.prepareStatement("SELECT consumer_name, status, topic, kafka_partition, kafka_offset, processed_at FROM "
                    + inbox.quoted() + " WHERE event_id = ?")) {
                ps.setObject(1, eventId);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        ObjectNode n = byConsumer.computeIfAbsent(rs.getString(1), k -> out.object().put("consumer", k));
                        n.put("status", rs.getString(2));
                        n.put("topic", rs.getString(3));
                        n.put("partition", rs.getInt(4));
                        n.put("offset", rs.getLong(5));
                        n.put("at", rs.getTimestamp(6).toInstant().toString());
                    }
                }
            }
            String events = parkedEventTable(inbox);
            try (PreparedStatement ps = c.prepareStatement("SELECT e.consumer_name, e.topic, e.record_key, e.kafka_partition, e.kafka_offset,"
                    + " e.parked_at, k.status, k.attempts, k.last_error, e.seq = (SELECT min(seq) FROM " + events + " h"
                    + " WHERE h.consumer_name = e.consumer_name AND h.topic = e.topic AND h.record_key = e.record_key)"
                    + " FROM " + events + " e LEFT JOIN " + parkedKeyTable(inbox) + " k ON k.consumer_name = e.consumer_name"
                    + " AND k.topic = e.topic AND k.record_key = e.record_key WHERE e.event_id = ?")) {
                ps.setObject(1, eventId);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        ObjectNode n = byConsumer.computeIfAbsent(rs.getString(1), k -> out.object().put("consumer", k));
                        ObjectNode parked = out.object();
                        parked.put("topic", rs.getString(2));
                        parked.put("key", rs.getString(3));
                        parked.put("partition", rs.getInt(4));
                        parked.put("offset", rs.getLong(5));
                        parked.put("parkedAt", rs.getTimestamp(6).toInstant().toString());
                        parked.put("keyStatus", rs.getString(7));
                        parked.put("attempts", rs.getInt(8));
                        parked.put("lastError", rs.getString(9));
                        parked.put("head", rs.getBoolean(10));
                        n.set("parked", parked);
                        if (!"DEAD_LETTERED".equals(n.path("status").asText())) {
                            n.put("status", "PARKED");
                        }
                    }
                }
            }
        } catch (SQLException e) {
            throw missingTables(e, inbox);
        }
        ArrayNode result = out.array();
        byConsumer.values().forEach(result::add);
        return result;
    }

    /** The parked keys of the consumers (all consumers when empty), oldest first, with the events waiting behind each. */
    static ArrayNode parkedKeys(Connection c, TableName inbox, Collection<String> consumers, Output out) {
        String sql = "SELECT k.consumer_name, k.topic, k.record_key, k.kafka_partition, k.status, k.attempts, k.next_attempt_at,"
                + " k.last_error, k.parked_at, k.updated_at, (SELECT count(*) FROM " + parkedEventTable(inbox) + " e"
                + " WHERE e.consumer_name = k.consumer_name AND e.topic = k.topic AND e.record_key = k.record_key)"
                + " FROM " + parkedKeyTable(inbox) + " k" + (consumers.isEmpty() ? "" : " WHERE k.consumer_name = ANY (?)")
                + " ORDER BY k.parked_at, k.consumer_name, k.topic, k.record_key";
        ArrayNode keys = out.array();
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            if (!consumers.isEmpty()) {
                ps.setArray(1, c.createArrayOf("varchar", consumers.toArray()));
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ObjectNode k = out.object();
                    k.put("consumer", rs.getString(1));
                    k.put("topic", rs.getString(2));
                    k.put("key", rs.getString(3));
                    k.put("partition", rs.getInt(4));
                    k.put("status", rs.getString(5));
                    k.put("attempts", rs.getInt(6));
                    Timestamp next = rs.getTimestamp(7);
                    k.put("nextAttemptAt", next == null ? null : next.toInstant().toString());
                    k.put("lastError", rs.getString(8));
                    k.put("parkedAt", rs.getTimestamp(9).toInstant().toString());
                    k.put("updatedAt", rs.getTimestamp(10).toInstant().toString());
                    k.put("waitingEvents", rs.getLong(11));
                    keys.add(k);
                }
            }
        } catch (SQLException e) {
            throw missingTables(e, inbox);
        }
        return keys;
    }

    /** The events stored behind a parked key, in order (the first is the head). */
    static ArrayNode parkedEvents(Connection c, TableName inbox, String consumer, String topic, String key, Output out) {
        ArrayNode events = out.array();
        try (PreparedStatement ps = c.prepareStatement("SELECT event_id, seq, kafka_partition, kafka_offset, event_type, aggregate_type,"
                + " payload, header_names, header_values, committed_at, parked_at FROM " + parkedEventTable(inbox)
                + " WHERE consumer_name = ? AND topic = ? AND record_key = ? ORDER BY seq")) {
            ps.setString(1, consumer);
            ps.setString(2, topic);
            ps.setString(3, key);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ObjectNode e = out.object();
                    e.put("eventId", rs.getObject(1).toString());
                    e.put("seq", rs.getLong(2));
                    e.put("partition", rs.getInt(3));
                    e.put("offset", rs.getLong(4));
                    e.put("eventType", rs.getString(5));
                    e.put("aggregateType", rs.getString(6));
                    e.put("payload", Output.text(rs.getBytes(7)));
                    String[] names = (String[]) rs.getArray(8).getArray();
                    String[] values = (String[]) rs.getArray(9).getArray();
                    ObjectNode headers = e.putObject("headers");
                    for (int i = 0; i < names.length; i++) {
                        headers.put(names[i], values[i]);
                    }
                    Timestamp committed = rs.getTimestamp(10);
                    e.put("committedAt", committed == null ? null : committed.toInstant().toString());
                    e.put("parkedAt", rs.getTimestamp(11).toInstant().toString());
                    events.add(e);
                }
            }
        } catch (SQLException e) {
            throw missingTables(e, inbox);
        }
        return events;
    }

    /** Redrives a parked key through the inbox's own API: an inbox consumer that is never started needs only the database. */
    static boolean redrive(InboxSettings settings, String bootstrapServers, String consumer, String topic, String key,
            InboxConsumer.RedriveMode mode) {
        try (InboxConsumer inbox = InboxConsumer.builder()
                .consumerName(consumer)
                // required by the builder, never contacted: the consumer is not started, redrive works in the database
                .kafkaProperties(Map.of("bootstrap.servers", bootstrapServers))
                .topics(List.of(topic))
                .dataSource(new InboxDataSource(settings))
                .inboxTable(settings.table().toString())
                .handler((event, tx) -> {
                    throw new IllegalStateException("the CLI's inbox consumer is never started");
                })
                .build()) {
            return inbox.redrive(topic, key, mode);
        } catch (IllegalStateException e) {
            throw new CliException(OutboxCli.EXIT_PROBLEM, "The redrive of key '" + key + "' of " + topic + " for consumer '" + consumer
                    + "' failed: " + e.getMessage() + (e.getCause() == null ? "" : " (" + e.getCause().getMessage() + ")"), e);
        }
    }

    /** A dead letter as the CLI shows it: where it is, the event and the dead-letter headers. */
    static ObjectNode deadLetter(ConsumerRecord<byte[], byte[]> r, boolean full, Output out) {
        ObjectNode n = RelayFacts.record(r, out);
        n.put("eventId", header(r, DeadLetterHeaders.EVENT_ID) != null ? header(r, DeadLetterHeaders.EVENT_ID) : n.path("eventId").asText(null));
        n.put("consumer", header(r, DeadLetterHeaders.CONSUMER));
        n.put("reason", header(r, DeadLetterHeaders.REASON));
        n.put("originalTopic", header(r, DeadLetterHeaders.ORIGINAL_TOPIC));
        n.put("originalPartition", header(r, DeadLetterHeaders.ORIGINAL_PARTITION));
        n.put("originalOffset", header(r, DeadLetterHeaders.ORIGINAL_OFFSET));
        n.put("attempts", header(r, DeadLetterHeaders.ATTEMPTS));
        n.put("exceptionClass", header(r, DeadLetterHeaders.EXCEPTION_CLASS));
        String message = header(r, DeadLetterHeaders.EXCEPTION_MESSAGE);
        n.put("exceptionMessage", full ? message : Output.shorten(message, 160));
        if (full) {
            ObjectNode headers = n.putObject("headers");
            for (Header h : r.headers()) {
                headers.put(h.key(), Output.text(h.value()));
            }
            n.put("payload", Output.text(r.value()));
        }
        return n;
    }

    static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null ? null : Output.text(h.value());
    }

    /** The dead letters of {@code topic} whose event id is {@code eventId}, reading at most {@code limit} per partition from the end. */
    static ArrayNode deadLettersOf(KafkaAccess kafka, String topic, String eventId, long limit, Output out) {
        ArrayNode found = out.array();
        List<TopicPartition> tps = kafka.partitions(topic);
        if (tps.isEmpty()) {
            return found;
        }
        Map<TopicPartition, Long> begin = kafka.beginningOffsets(tps);
        Map<TopicPartition, Long> end = kafka.endOffsets(tps);
        Map<TopicPartition, Long> starts = new HashMap<>();
        tps.forEach(tp -> starts.put(tp, Math.max(begin.get(tp), end.get(tp) - limit)));
        kafka.scan(starts, limit, r -> {
            if (eventId.equals(header(r, DeadLetterHeaders.EVENT_ID))) {
                found.add(deadLetter(r, false, out));
            }
        });
        return found;
    }

    /** The consumers to look at: those given on the command line, else the configured ones. */
    static List<String> consumers(List<String> given, InboxSettings settings) {
        Set<String> names = new LinkedHashSet<>(given == null ? List.of() : given);
        if (names.isEmpty()) {
            names.addAll(settings.consumers());
        }
        return new ArrayList<>(names);
    }
}
