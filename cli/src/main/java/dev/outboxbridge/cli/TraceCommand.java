package dev.outboxbridge.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.outboxbridge.db.OutboxRecordFormat;
import dev.outboxbridge.relay.RelayConfig;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.utils.Utils;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code trace <event-id>}: the outbox row, the record in Kafka, and the event's status at each consumer. */
@Command(name = "trace", mixinStandardHelpOptions = true,
        description = {"Where an event went: its outbox row (if still there), its record in Kafka (topic, partition, offset),"
                + " its status at each consumer (applied, parked, dead-lettered, not seen) and its dead letters.",
                "The partition comes from the key (the aggregate id) as the relay's producer computes it; that partition is"
                        + " read from the row's creation time on, at most --scan-limit records.",
                "Exits 1 when the event is not in Kafka or a consumer asked about has not applied it."})
final class TraceCommand extends CliCommand {

    @Parameters(paramLabel = "EVENT-ID", description = "The event id (the outbox row's id, the record's 'id' header).")
    String eventId;

    @Option(names = "--topic", paramLabel = "TOPIC", description = "The topic to search when the outbox row is gone (default: every topic of topic.prefix).")
    String topic;

    @Option(names = "--key", paramLabel = "KEY", description = "The aggregate id when the outbox row is gone: only its partition is read.")
    String key;

    @Option(names = "--since", paramLabel = "DURATION", description = "When the outbox row is gone, read from this long ago (e.g. PT2H); default: the last --scan-limit records.")
    Duration since;

    @Option(names = "--scan-limit", paramLabel = "N", defaultValue = "100000", description = "Most records read per partition (default ${DEFAULT-VALUE}).")
    long scanLimit;

    @Option(names = "--consumer", paramLabel = "NAME", description = "A consumer to report (repeatable; default: inbox setting consumers).")
    List<String> consumers;

    @Override
    int run(Output out) throws Exception {
        UUID id;
        try {
            id = UUID.fromString(eventId);
        } catch (IllegalArgumentException e) {
            throw CliException.config("'" + eventId + "' is not an event id: event ids are UUIDs (the outbox row's id column)");
        }
        RelayConfig config = relay();
        ObjectNode data = out.object();
        data.put("eventId", id.toString());
        ObjectNode row = outboxRow(config, id, out);
        data.set("outboxRow", row == null ? out.object().nullNode() : row);
        String searchTopic = row != null ? row.get("topic").asText() : topic;
        String searchKey = row != null ? row.get("key").asText() : key;
        ArrayNode found = out.array();
        try (KafkaAccess kafka = KafkaAccess.ofRelay(config, timeout())) {
            List<String> topics = searchTopic != null ? List.of(searchTopic) : RelayFacts.relayTopics(kafka, config);
            ObjectNode search = data.putObject("search");
            search.put("topics", String.join(",", topics));
            Map<TopicPartition, Long> starts = new HashMap<>();
            for (String t : topics) {
                List<TopicPartition> partitions = kafka.partitions(t);
                if (partitions.isEmpty()) {
                    search.put("missingTopic", t);
                    continue;
                }
                if (searchKey != null && !config.producerOverrides().containsKey(ProducerConfig.PARTITIONER_CLASS_CONFIG)) {
                    int p = Utils.toPositive(Utils.murmur2(searchKey.getBytes(StandardCharsets.UTF_8))) % partitions.size();
                    partitions = List.of(new TopicPartition(t, p));
                }
                starts.putAll(startOffsets(kafka, partitions, row));
            }
            search.put("partitions", starts.keySet().stream().map(tp -> tp.topic() + "/" + tp.partition()).sorted().toList().toString());
            search.put("scanLimit", scanLimit);
            kafka.scan(starts, scanLimit, r -> {
                Header h = r.headers().lastHeader(OutboxRecordFormat.HEADER_ID);
                if (h != null && id.toString().equals(new String(h.value(), StandardCharsets.UTF_8))) {
                    found.add(RelayFacts.record(r, out));
                }
            });
            data.set("kafka", found);
            String relayDeadLetters = config.getString(RelayConfig.DEAD_LETTER_TOPIC);
            if (found.isEmpty() && !relayDeadLetters.isEmpty()) {
                ArrayNode diverted = out.array();
                List<TopicPartition> tps = kafka.partitions(relayDeadLetters);
                Map<TopicPartition, Long> dlStarts = tps.isEmpty() ? Map.of() : startOffsets(kafka, tps, row);
                kafka.scan(new HashMap<>(dlStarts), scanLimit, r -> {
                    Header h = r.headers().lastHeader(OutboxRecordFormat.HEADER_ID);
                    if (h != null && id.toString().equals(new String(h.value(), StandardCharsets.UTF_8))) {
                        diverted.add(RelayFacts.record(r, out));
                    }
                });
                data.set("relayDeadLetters", diverted);
            }
            InboxSettings inbox = inbox();
            List<String> names = InboxFacts.consumers(consumers, inbox);
            if (inbox.hasDatabase()) {
                try (Connection c = Databases.inbox(inbox)) {
                    data.set("consumers", InboxFacts.eventStatus(c, inbox.table(), id, names, out));
                }
                try (KafkaAccess consumerKafka = KafkaAccess.ofInbox(inbox, this)) {
                    for (JsonNode n : data.get("consumers")) {
                        String consumer = n.get("consumer").asText();
                        ((ObjectNode) n).set("deadLetters",
                                InboxFacts.deadLettersOf(consumerKafka, inbox.deadLetterTopic(consumer), id.toString(), scanLimit, out));
                    }
                }
            } else {
                data.putNull("consumers");
            }
        }
        List<String> problems = new ArrayList<>();
        if (found.isEmpty()) {
            problems.add(row == null ? "not found in Kafka within the search" : "the outbox row is not in Kafka (yet): see outbox-cli status for the lag");
        }
        if (data.get("consumers").isArray()) {
            data.get("consumers").forEach(n -> {
                if (!"APPLIED".equals(n.get("status").asText())) {
                    problems.add("consumer " + n.get("consumer").asText() + ": " + n.get("status").asText());
                }
            });
        }
        ArrayNode p = data.putArray("problems");
        problems.forEach(p::add);
        out.emit(data, w -> human(w, data));
        return problems.isEmpty() ? OutboxCli.EXIT_OK : OutboxCli.EXIT_PROBLEM;
    }

    /** Where to start reading: the record's timestamp is its commit time, never before the row's created_at (5 min margin). */
    private Map<TopicPartition, Long> startOffsets(KafkaAccess kafka, List<TopicPartition> partitions, ObjectNode row) {
        Map<TopicPartition, Long> begin = kafka.beginningOffsets(partitions);
        Map<TopicPartition, Long> end = kafka.endOffsets(partitions);
        Map<TopicPartition, Long> starts = new HashMap<>();
        Instant from = row != null ? Instant.parse(row.get("createdAt").asText()).minus(Duration.ofMinutes(5))
                : since != null ? Instant.now().minus(since) : null;
        if (from == null) {
            partitions.forEach(tp -> starts.put(tp, Math.max(begin.get(tp), end.get(tp) - scanLimit)));
            return starts;
        }
        Map<TopicPartition, Long> query = new HashMap<>();
        partitions.forEach(tp -> query.put(tp, from.toEpochMilli()));
        var offsets = kafka.consumer().offsetsForTimes(query, kafka.timeout());
        partitions.forEach(tp -> {
            var o = offsets.get(tp);
            starts.put(tp, o == null ? end.get(tp) : o.offset());
        });
        return starts;
    }

    private static ObjectNode outboxRow(RelayConfig config, UUID id, Output out) throws SQLException {
        try (Connection c = Databases.relay(config);
                PreparedStatement ps = c.prepareStatement("SELECT aggregatetype, aggregateid, type, created_at, octet_length(payload)"
                        + " FROM " + config.outboxTable().quoted() + " WHERE id = ?")) {
            ps.setObject(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                ObjectNode row = out.object();
                row.put("table", config.outboxTable().toString());
                row.put("aggregateType", rs.getString(1));
                row.put("key", rs.getString(2));
                row.put("eventType", rs.getString(3));
                row.put("createdAt", rs.getTimestamp(4).toInstant().toString());
                row.put("payloadBytes", rs.getLong(5));
                row.put("topic", OutboxRecordFormat.topic(config.topicPrefix(), rs.getString(1)));
                return row;
            }
        }
    }

    private static void human(PrintWriter w, ObjectNode d) {
        w.printf("Event %s%n", d.get("eventId").asText());
        JsonNode row = d.get("outboxRow");
        w.printf("  outbox row   %s%n", row.isNull() ? "not in the outbox table (removed, or never written)"
                : row.get("table").asText() + ": " + row.get("aggregateType").asText() + " " + row.get("key").asText() + " "
                        + row.get("eventType").asText() + ", created " + row.get("createdAt").asText() + " -> topic " + row.get("topic").asText());
        JsonNode kafka = d.get("kafka");
        if (kafka.isEmpty()) {
            w.printf("  kafka        NOT FOUND in %s (at most %s records per partition)%n", d.get("search").get("partitions").asText(),
                    d.get("search").get("scanLimit").asText());
        }
        for (JsonNode r : kafka) {
            w.printf("  kafka        %s partition %s offset %s, key %s, at %s%n", r.get("topic").asText(), r.get("partition").asText(),
                    r.get("offset").asText(), Output.str(r, "key"), r.get("timestamp").asText());
        }
        if (kafka.size() > 1) {
            w.printf("               (%d copies: the relay re-sent it after a crash; consumers apply it once)%n", kafka.size());
        }
        d.path("relayDeadLetters").forEach(r -> w.printf("  relay DLT    %s partition %s offset %s (Kafka refused the record)%n",
                r.get("topic").asText(), r.get("partition").asText(), r.get("offset").asText()));
        JsonNode consumers = d.get("consumers");
        if (consumers.isNull()) {
            w.println("  consumers    (no inbox database configured: --inbox-config)");
        } else if (consumers.isEmpty()) {
            w.println("  consumers    no consumer has recorded it (name them with --consumer or inbox setting consumers)");
        }
        for (JsonNode n : consumers) {
            String status = n.get("status").asText();
            StringBuilder line = new StringBuilder(status);
            if (n.has("at")) {
                line.append(" at ").append(n.get("at").asText()).append(" (").append(n.get("topic").asText()).append('/')
                        .append(n.get("partition").asText()).append('@').append(n.get("offset").asText()).append(')');
            }
            JsonNode parked = n.get("parked");
            if (parked != null) {
                line.append("; key ").append(parked.get("key").asText()).append(" parked ").append(Output.str(parked, "keyStatus"))
                        .append(parked.get("head").asBoolean() ? ", this event is its head" : ", waiting behind its head")
                        .append(" (attempts ").append(parked.get("attempts").asText()).append(")");
            }
            w.printf("  %-12s %s%n", n.get("consumer").asText(), line);
            for (JsonNode dl : n.path("deadLetters")) {
                w.printf("  %-12s dead letter %s partition %s offset %s: %s, %s%n", "", dl.get("topic").asText(), dl.get("partition").asText(),
                        dl.get("offset").asText(), Output.str(dl, "reason"), Output.str(dl, "exceptionMessage"));
            }
        }
        d.get("problems").forEach(p -> w.println("  PROBLEM: " + p.asText()));
    }
}
