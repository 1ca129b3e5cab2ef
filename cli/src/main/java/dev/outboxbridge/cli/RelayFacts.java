package dev.outboxbridge.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.outboxbridge.db.OutboxRecordFormat;
import dev.outboxbridge.relay.RelayConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;

/**
 * What the relay leaves behind for an operator to read: its slot, its lease (who leads), its stored position and the
 * newest record in its topics. Two formulas are the relay's own and must stay equal to it (the relay keeps them in
 * its internal package): the lease's advisory lock key ({@code LeaderLease.lockKey}) and the stored position's key
 * (engine name {@value #ENGINE_NAME} and server {@code RelayConfig.offsetServerName()}).
 */
final class RelayFacts {

    /** The advisory lock namespace of the relay's lease (classid in pg_locks): "OB", as {@code LeaderLease}. */
    static final int LOCK_NAMESPACE = 0x4F42;
    /** The Debezium engine name the relay stores its position under, as {@code EngineProperties.ENGINE_NAME}. */
    static final String ENGINE_NAME = "outbox-bridge-relay";
    /** The suffix of the lease session's application_name: {@code <relay.name>-lease}. */
    static final String LEASE_SUFFIX = "-lease";

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private RelayFacts() {
    }

    /** The lease's advisory lock key of a database and slot, as {@code LeaderLease.lockKey}. */
    static int lockKey(String database, String slot) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest((database + "\u0000" + slot).getBytes(StandardCharsets.UTF_8));
            return ByteBuffer.wrap(digest).getInt();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available", e);
        }
    }

    /** The slot as pg_replication_slots shows it, with the WAL it retains and its lag; empty when it does not exist. */
    static Optional<ObjectNode> slot(Connection c, RelayConfig config, Output out) throws SQLException {
        boolean pg17 = Databases.serverVersion(c) >= 170000;
        String current = "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END";
        String sql = "SELECT plugin, slot_type, database, active, active_pid, wal_status, restart_lsn::text, confirmed_flush_lsn::text, "
                + current + "::text, pg_wal_lsn_diff(" + current + ", restart_lsn)::bigint,"
                + " pg_wal_lsn_diff(" + current + ", confirmed_flush_lsn)::bigint, safe_wal_size, pg_is_in_recovery()"
                + (pg17 ? ", failover, synced, inactive_since" : ", NULL::boolean, NULL::boolean, NULL::timestamptz")
                + " FROM pg_replication_slots WHERE slot_name = ?";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, config.slotName());
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return Optional.empty();
                }
                ObjectNode s = out.object();
                s.put("name", config.slotName());
                s.put("plugin", rs.getString(1));
                s.put("type", rs.getString(2));
                s.put("database", rs.getString(3));
                s.put("active", rs.getBoolean(4));
                int pid = rs.getInt(5);
                if (rs.wasNull()) {
                    s.putNull("activePid");
                } else {
                    s.put("activePid", pid);
                }
                s.put("walStatus", rs.getString(6));
                s.put("restartLsn", rs.getString(7));
                s.put("confirmedLsn", rs.getString(8));
                s.put("currentLsn", rs.getString(9));
                putLong(s, "retainedWalBytes", rs, 10);
                putLong(s, "lagBytes", rs, 11);
                putLong(s, "safeWalBytes", rs, 12);
                s.put("onStandby", rs.getBoolean(13));
                if (pg17) {
                    s.put("failover", rs.getBoolean(14));
                    s.put("synced", rs.getBoolean(15));
                    Timestamp inactive = rs.getTimestamp(16);
                    s.put("inactiveSince", inactive == null ? null : inactive.toInstant().toString());
                } else {
                    s.putNull("failover");
                    s.putNull("synced");
                    s.putNull("inactiveSince");
                }
                return Optional.of(s);
            }
        }
    }

    private static void putLong(ObjectNode n, String field, ResultSet rs, int column) throws SQLException {
        long v = rs.getLong(column);
        if (rs.wasNull()) {
            n.putNull(field);
        } else {
            n.put(field, v);
        }
    }

    /** The walsender streaming the slot (pg_stat_replication), with PostgreSQL's own lag measures when it has them. */
    static Optional<ObjectNode> walsender(Connection c, int pid, Output out) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT application_name, client_addr::text, backend_start, state,"
                + " EXTRACT(EPOCH FROM flush_lag), EXTRACT(EPOCH FROM replay_lag) FROM pg_stat_replication WHERE pid = ?")) {
            ps.setInt(1, pid);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return Optional.empty();
                }
                ObjectNode w = out.object();
                w.put("pid", pid);
                w.put("applicationName", rs.getString(1));
                w.put("clientAddress", rs.getString(2));
                w.put("since", rs.getTimestamp(3).toInstant().toString());
                w.put("state", rs.getString(4));
                double flush = rs.getDouble(5);
                if (rs.wasNull()) {
                    w.putNull("flushLagSeconds");
                } else {
                    w.put("flushLagSeconds", flush);
                }
                return Optional.of(w);
            }
        }
    }

    /**
     * The relay sessions of the lease: the one holding this slot's advisory lock (the leader) and the lease sessions in
     * the database that hold no relay lock (standbys; relays of another slot of the same database waiting for their
     * own lease would show here too).
     */
    static ObjectNode lease(Connection c, RelayConfig config, Output out) throws SQLException {
        ObjectNode lease = out.object();
        lease.put("haEnabled", config.getBoolean(RelayConfig.HA_ENABLED));
        int key = lockKey(config.databaseName(), config.slotName());
        lease.put("advisoryLock", LOCK_NAMESPACE + "/" + key);
        lease.putNull("leader");
        try (PreparedStatement ps = c.prepareStatement("SELECT l.pid, a.application_name, a.client_addr::text, a.backend_start"
                + " FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory'"
                + " AND l.classid::bigint = ? AND l.objid::bigint = ? AND l.objsubid = 2 AND l.granted"
                + " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")) {
            ps.setLong(1, LOCK_NAMESPACE);
            ps.setLong(2, Integer.toUnsignedLong(key));
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next()) {
                    lease.set("leader", session(rs, out));
                }
            }
        }
        ArrayNode standbys = lease.putArray("standbys");
        try (PreparedStatement ps = c.prepareStatement("SELECT a.pid, a.application_name, a.client_addr::text, a.backend_start"
                + " FROM pg_stat_activity a WHERE a.datname = current_database() AND a.application_name LIKE ?"
                + " AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory'"
                + " AND l.classid::bigint = ? AND l.granted) ORDER BY a.backend_start")) {
            ps.setString(1, "%" + LEASE_SUFFIX);
            ps.setLong(2, LOCK_NAMESPACE);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    standbys.add(session(rs, out));
                }
            }
        }
        return lease;
    }

    private static ObjectNode session(ResultSet rs, Output out) throws SQLException {
        ObjectNode s = out.object();
        String app = rs.getString(2);
        s.put("relay", app != null && app.endsWith(LEASE_SUFFIX) ? app.substring(0, app.length() - LEASE_SUFFIX.length()) : app);
        s.put("pid", rs.getInt(1));
        s.put("clientAddress", rs.getString(3));
        Timestamp since = rs.getTimestamp(4);
        s.put("since", since == null ? null : since.toInstant().toString());
        return s;
    }

    /**
     * The relay's stored position (Debezium's offsets in offset.storage.topic, keyed by engine name and
     * {@code <database>.<slot>}): the LSN and the commit time of the last transaction whose events Kafka acknowledged.
     * Empty when nothing was stored yet; null fields when offset.storage=file (the CLI does not read the relay's file).
     */
    static ObjectNode position(KafkaAccess kafka, RelayConfig config, Output out) {
        ObjectNode p = out.object();
        p.put("storage", config.offsetsInKafka() ? RelayConfig.OFFSET_STORAGE_KAFKA : RelayConfig.OFFSET_STORAGE_FILE);
        if (!config.offsetsInKafka()) {
            p.put("file", config.getString(RelayConfig.OFFSET_FILE));
            p.put("stored", (String) null);
            return p;
        }
        String topic = config.getString(RelayConfig.OFFSET_STORAGE_TOPIC);
        p.put("topic", topic);
        String server = config.offsetServerName();
        p.put("key", "[\"" + ENGINE_NAME + "\",{\"server\":\"" + server + "\"}]");
        List<TopicPartition> partitions = kafka.partitions(topic);
        Map<TopicPartition, Long> starts = partitions.isEmpty() ? Map.of() : kafka.beginningOffsets(partitions);
        byte[][] last = new byte[1][];
        boolean[] found = {false};
        kafka.scan(new HashMap<>(starts), Long.MAX_VALUE / 2, r -> {
            if (isRelayKey(r.key(), server)) {
                found[0] = true;
                last[0] = r.value();
            }
        });
        if (!found[0] || last[0] == null) {
            p.putNull("stored");
            return p;
        }
        try {
            JsonNode v = MAPPER.readTree(last[0]);
            ObjectNode stored = out.object();
            JsonNode lsn = v.get("lsn");
            stored.put("lsn", lsn == null || lsn.isNull() ? null : Output.lsn(lsn.asLong()));
            JsonNode tx = v.get("txId");
            if (tx != null && !tx.isNull()) {
                stored.put("txId", tx.asLong());
            }
            JsonNode ts = v.get("ts_usec");
            if (ts != null && !ts.isNull()) {
                long micros = ts.asLong();
                stored.put("committedAt", Instant.ofEpochSecond(micros / 1_000_000, (micros % 1_000_000) * 1000).toString());
            }
            stored.set("raw", v);
            p.set("stored", stored);
        } catch (IOException e) {
            p.put("stored", "unreadable: " + e.getMessage());
        }
        return p;
    }

    private static boolean isRelayKey(byte[] key, String server) {
        if (key == null) {
            return false;
        }
        try {
            JsonNode k = MAPPER.readTree(key);
            return k.isArray() && k.size() == 2 && ENGINE_NAME.equals(k.get(0).asText()) && server.equals(k.get(1).path("server").asText());
        } catch (IOException e) {
            return false;
        }
    }

    /** Topics the relay publishes to: those starting with topic.prefix (its own position and dead-letter topics excluded). */
    static List<String> relayTopics(KafkaAccess kafka, RelayConfig config) {
        String prefix = config.topicPrefix();
        String positions = config.getString(RelayConfig.OFFSET_STORAGE_TOPIC);
        String deadLetters = config.getString(RelayConfig.DEAD_LETTER_TOPIC);
        return kafka.topics(t -> t.startsWith(prefix) && !t.startsWith("__") && !t.equals(positions) && !t.equals(deadLetters));
    }

    /** The newest record (by timestamp) among the last records of every partition of {@code topics}; null when all are empty. */
    static ObjectNode newestRecord(KafkaAccess kafka, List<String> topics, Output out) {
        Map<TopicPartition, Long> starts = new HashMap<>();
        List<TopicPartition> all = new java.util.ArrayList<>();
        for (String t : topics) {
            all.addAll(kafka.partitions(t));
        }
        if (all.isEmpty()) {
            return null;
        }
        Map<TopicPartition, Long> begin = kafka.beginningOffsets(all);
        Map<TopicPartition, Long> end = kafka.endOffsets(all);
        for (TopicPartition tp : all) {
            starts.put(tp, Math.max(begin.get(tp), end.get(tp) - 3)); // the last few: a control record may end a partition
        }
        ConsumerRecord<?, ?>[] newest = new ConsumerRecord<?, ?>[1];
        kafka.scan(starts, 3, r -> {
            // within a partition a later offset is newer even at the same millisecond
            if (newest[0] == null || r.timestamp() > newest[0].timestamp() || (r.timestamp() == newest[0].timestamp()
                    && r.topic().equals(newest[0].topic()) && r.partition() == newest[0].partition() && r.offset() > newest[0].offset())) {
                newest[0] = r;
            }
        });
        return newest[0] == null ? null : record(newest[0], out);
    }

    /** A record's place and identity: topic, partition, offset, timestamp, key and event id. */
    static ObjectNode record(ConsumerRecord<?, ?> r, Output out) {
        ObjectNode n = out.object();
        n.put("topic", r.topic());
        n.put("partition", r.partition());
        n.put("offset", r.offset());
        n.put("timestamp", Instant.ofEpochMilli(r.timestamp()).toString());
        n.put("key", r.key() == null ? null : Output.text((byte[]) r.key()));
        Header id = r.headers().lastHeader(OutboxRecordFormat.HEADER_ID);
        n.put("eventId", id == null ? null : Output.text(id.value()));
        Header type = r.headers().lastHeader(OutboxRecordFormat.HEADER_EVENT_TYPE);
        n.put("eventType", type == null ? null : Output.text(type.value()));
        return n;
    }
}
