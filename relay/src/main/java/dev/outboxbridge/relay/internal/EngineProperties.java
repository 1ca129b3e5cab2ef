package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The settings the relay gives the Debezium engine and its Kafka clients, and the one table of the keys it owns. Not API:
 * public for {@code RelayConfig}'s validation.
 *
 * <p>{@link #OWNED} is both what the relay sets and what it refuses from users: a {@code debezium.*} or
 * {@code kafka.producer.*} value for an owned key stops the relay at start-up with the key, the value, the reason and
 * the fix ({@link #refuseOwned}); it is never replaced. The properties are built only through {@code own(...)} and
 * {@code byDefault(...)}, which fail for a key missing from the tables, so the two cannot drift apart.
 * {@link #DEFAULTS} are the relay's defaults a user may override.
 */
public final class EngineProperties {

    private static final String DEBEZIUM = RelayConfig.DEBEZIUM_PREFIX;
    private static final String PRODUCER = RelayConfig.PRODUCER_PREFIX;
    /** Debezium engine name: with the server name (database.slot), the key of the stored position. */
    static final String ENGINE_NAME = "outbox-bridge-relay";
    /** The heartbeat: a non-transactional logical message the relay publishes nothing for. */
    static final String HEARTBEAT_QUERY = "SELECT pg_logical_emit_message(false, '" + Relay.HEARTBEAT_PREFIX + "', '')";

    /** The per-table key of the snapshot's SELECT: this prefix and the table's name. */
    static final String SELECT_OVERRIDE_PREFIX = "snapshot.select.statement.overrides.";

    /** Owned keys, with their prefix ({@code debezium.} or {@code kafka.producer.}): why the relay owns it, and the fix. */
    public static final Map<String, String> OWNED;
    /** Keys the relay sets by default, with their prefix: the default and why; a user's value wins. */
    public static final Map<String, String> DEFAULTS;

    static {
        Map<String, String> o = new LinkedHashMap<>();
        String position = "the stored position is keyed by [engine name, {server: database.slot}], one per slot";
        o.put(DEBEZIUM + "name", position + ". Fix: remove it (relay.name names the relay in logs and metrics)");
        o.put(DEBEZIUM + "topic.prefix", position + ". Fix: remove it; the prefix of the Kafka topics is " + RelayConfig.TOPIC_PREFIX);
        o.put(DEBEZIUM + "connector.class", "the relay runs Debezium's Postgres connector. Fix: remove it");
        o.put(DEBEZIUM + "offset.storage", useInstead(RelayConfig.OFFSET_STORAGE) + " (kafka or file)");
        o.put(DEBEZIUM + "offset.storage.file.filename", useInstead(RelayConfig.OFFSET_FILE));
        o.put(DEBEZIUM + "offset.storage.topic", useInstead(RelayConfig.OFFSET_STORAGE_TOPIC));
        o.put(DEBEZIUM + "offset.storage.partitions", "the position topic has exactly one partition. Fix: remove it");
        o.put(DEBEZIUM + "offset.storage.replication.factor", useInstead(RelayConfig.OFFSET_STORAGE_REPLICATION_FACTOR));
        o.put(DEBEZIUM + "offset.flush.interval.ms", useInstead(RelayConfig.OFFSET_FLUSH_INTERVAL_MS));
        o.put(DEBEZIUM + "bootstrap.servers", useInstead(RelayConfig.KAFKA_BOOTSTRAP_SERVERS));
        o.put(DEBEZIUM + "linger.ms", "the position producer must not batch: a position flush waits for its one record,"
                + " so the relay sets it to 0. Fix: remove it (" + PRODUCER + "linger.ms tunes the event producer)");
        o.put(DEBEZIUM + "isolation.level", "the position store reads its topic read_committed, so a position written in a"
                + " Kafka transaction that aborted (delivery.guarantee=exactly_once) is never read back. Fix: remove it");
        o.put(DEBEZIUM + KafkaPositionStore.FENCE_PROPERTY, "it ties the position store to this relay's lease. Fix: remove it");
        o.put(DEBEZIUM + "database.hostname", useInstead(RelayConfig.DATABASE_HOSTNAME));
        o.put(DEBEZIUM + "database.port", useInstead(RelayConfig.DATABASE_PORT));
        o.put(DEBEZIUM + "database.dbname", useInstead(RelayConfig.DATABASE_DBNAME));
        o.put(DEBEZIUM + "database.user", useInstead(RelayConfig.DATABASE_USER));
        o.put(DEBEZIUM + "database.password", useInstead(RelayConfig.DATABASE_PASSWORD));
        o.put(DEBEZIUM + "plugin.name", "the relay decodes with pgoutput. Fix: remove it");
        o.put(DEBEZIUM + "slot.name", useInstead(RelayConfig.SLOT_NAME));
        o.put(DEBEZIUM + "slot.failover", useInstead(RelayConfig.SLOT_FAILOVER));
        o.put(DEBEZIUM + "slot.drop.on.stop", "the slot holds the position: the relay never drops it. Fix: remove it");
        o.put(DEBEZIUM + "publication.name", useInstead(RelayConfig.PUBLICATION_NAME));
        o.put(DEBEZIUM + "publication.autocreate.mode", "the relay checks or creates the publication itself. Fix: use "
                + RelayConfig.PUBLICATION_CREATE + " instead");
        o.put(DEBEZIUM + "table.include.list", useInstead(RelayConfig.OUTBOX_TABLE));
        String snapshot = "the relay snapshots the outbox table only on a first start, in the order it chooses. Fix: remove it; "
                + RelayConfig.FIRST_START_SNAPSHOT + " turns the first-start snapshot on or off";
        o.put(DEBEZIUM + "snapshot.mode", snapshot);
        o.put(DEBEZIUM + "snapshot.mode.custom.name", snapshot);
        o.put(DEBEZIUM + "snapshot.select.statement.overrides", snapshot);
        o.put(DEBEZIUM + SELECT_OVERRIDE_PREFIX + "<outbox table>", snapshot);
        o.put(DEBEZIUM + "snapshot.max.threads", "one thread reads the table, so the snapshot keeps its order. Fix: remove it");
        o.put(DEBEZIUM + "offset.mismatch.strategy", "a stored position behind the slot must stop the relay, never resume"
                + " silently. Fix: remove it");
        o.put(DEBEZIUM + "lsn.flush.mode", "the slot advances only after Kafka acknowledged the events. Fix: remove it");
        o.put(DEBEZIUM + "flush.lsn.source", "the slot advances only after Kafka acknowledged the events. Fix: remove it");
        o.put(DEBEZIUM + "heartbeat.interval.ms", useInstead(RelayConfig.HEARTBEAT_INTERVAL_MS));
        o.put(DEBEZIUM + "heartbeat.action.query", "the relay's heartbeat is a logical message it publishes nothing for. Fix: use "
                + RelayConfig.HEARTBEAT_INTERVAL_MS + " instead");
        o.put(DEBEZIUM + "message.prefix.include.list", "the relay's heartbeat messages must be decoded. Fix: remove it");
        o.put(DEBEZIUM + "message.prefix.exclude.list", "the relay's heartbeat messages must be decoded. Fix: remove it");
        o.put(DEBEZIUM + "tombstones.on.delete", "the relay publishes inserts only. Fix: remove it");
        o.put(DEBEZIUM + "skipped.operations", "the relay publishes inserts only. Fix: remove it");
        o.put(DEBEZIUM + "poll.interval.ms", useInstead(RelayConfig.POLL_INTERVAL_MS));
        o.put(DEBEZIUM + "max.batch.size", useInstead(RelayConfig.MAX_BATCH_SIZE));
        o.put(DEBEZIUM + "max.queue.size", useInstead(RelayConfig.MAX_QUEUE_SIZE));
        // the position store's Kafka clients take their settings (security above all) from kafka.producer.*, like the
        // producer and the admin client: one place for them, so a debezium.* value could only disagree
        for (String key : AdminClientConfig.configNames()) {
            if (key.equals(AdminClientConfig.CLIENT_ID_CONFIG)) {
                continue; // not passed on: the position store names its clients itself
            }
            o.putIfAbsent(DEBEZIUM + key, "the position store's Kafka clients take it from " + PRODUCER + key
                    + ", as the producer and the admin client do. Fix: set " + PRODUCER + key + " instead");
        }
        o.put(PRODUCER + "bootstrap.servers", useInstead(RelayConfig.KAFKA_BOOTSTRAP_SERVERS));
        o.put(PRODUCER + "key.serializer", "the relay sends raw bytes. Fix: remove it");
        o.put(PRODUCER + "value.serializer", "the relay sends raw bytes. Fix: remove it");
        o.put(PRODUCER + "transactional.id", "the relay sets it itself: none with " + RelayConfig.DELIVERY_GUARANTEE + "="
                + RelayConfig.AT_LEAST_ONCE + ", one per database and slot with " + RelayConfig.EXACTLY_ONCE + ". Fix: remove it;"
                + " to name the transactional id yourself, set " + RelayConfig.DELIVERY_TRANSACTIONAL_ID + " (with "
                + RelayConfig.DELIVERY_GUARANTEE + "=" + RelayConfig.EXACTLY_ONCE + ")");
        OWNED = Collections.unmodifiableMap(o);

        Map<String, String> d = new LinkedHashMap<>();
        d.put(DEBEZIUM + "binary.handling.mode", "bytes: a bytea payload is sent as it is stored");
        d.put(DEBEZIUM + "retriable.restart.connector.wait.ms", "2000: Debezium waits 10 s by default before reconnecting after"
                + " a retriable error (e.g. the walsender was terminated); a sidecar should be back within a couple of seconds");
        d.put(DEBEZIUM + "slot.retry.delay.ms", "1000: a new leader may find the previous leader's walsender on the slot for a"
                + " moment; retry every second");
        d.put(DEBEZIUM + "slot.max.retries", "30: with slot.retry.delay.ms, half a minute for the previous walsender to go");
        d.put(DEBEZIUM + "statistics.metrics.enabled", "false: Debezium's latency statistics (quantiles per event) feed JMX"
                + " metrics the relay does not read; its own outbox.relay.publish.latency measures commit to acknowledgement");
        d.put(PRODUCER + "linger.ms", "5: small, for latency");
        d.put(PRODUCER + "compression.type", "none");
        d.put(PRODUCER + "max.request.size", "the larger of 1 MiB and " + RelayConfig.MAX_RECORD_BYTES + " + 64 KiB");
        d.put(PRODUCER + "client.id", "<relay.name>-producer");
        DEFAULTS = Collections.unmodifiableMap(d);
    }

    private EngineProperties() {
    }

    private static String useInstead(String relaySetting) {
        return "it comes from the relay's own setting. Fix: use '" + relaySetting + "' instead";
    }

    /** Why the relay owns this key (with its prefix), or null: {@link #OWNED}, where a per-table key is listed once. */
    public static String whyOwned(String prefixedKey) {
        String why = OWNED.get(prefixedKey);
        if (why == null && prefixedKey.startsWith(DEBEZIUM + SELECT_OVERRIDE_PREFIX)) {
            why = OWNED.get(DEBEZIUM + SELECT_OVERRIDE_PREFIX + "<outbox table>");
        }
        return why;
    }

    /** Refuses a user's value for an owned key (prefix: debezium. or kafka.producer.), naming the key, the value, the reason and the fix. */
    public static void refuseOwned(String prefix, Map<String, String> overrides) {
        overrides.forEach((key, value) -> {
            String why = whyOwned(prefix + key);
            if (why != null) {
                throw new ConfigException(prefix + key, value, "not allowed: the relay sets it: " + why);
            }
        });
    }

    /** The Debezium engine's properties; {@code instance} ties the position store to this relay's lease. */
    public static Properties engine(RelayConfig config, String instance) {
        Properties p = new Properties();
        config.debeziumOverrides().forEach(p::setProperty); // none of them is owned: RelayConfig refused those
        own(p, "name", ENGINE_NAME);
        own(p, "topic.prefix", config.offsetServerName());
        own(p, "connector.class", "io.debezium.connector.postgresql.PostgresConnector");
        if (config.offsetsInKafka()) {
            // security settings (kafka.producer.security.protocol, sasl.*, ssl.*) apply to the position store's clients too
            admin(config).forEach((k, v) -> {
                if (!AdminClientConfig.CLIENT_ID_CONFIG.equals(k)) {
                    own(p, k, v);
                }
            });
            own(p, "offset.storage", KafkaPositionStore.class.getName()); // Kafka Connect's store, reads of own writes from memory
            own(p, "bootstrap.servers", config.bootstrapServers());
            own(p, "offset.storage.topic", config.getString(RelayConfig.OFFSET_STORAGE_TOPIC));
            own(p, "offset.storage.partitions", 1);
            own(p, "linger.ms", 0); // the position producer: a flush waits for its one record, do not batch
            own(p, KafkaPositionStore.FENCE_PROPERTY, instance); // a fenced relay stores no position
            // read_committed in both modes: under exactly_once only committed positions exist for the relay; under
            // at_least_once there are no transactions (and a switch back from exactly_once ignores aborted positions)
            own(p, "isolation.level", "read_committed");
            own(p, "offset.storage.replication.factor", config.getShort(RelayConfig.OFFSET_STORAGE_REPLICATION_FACTOR));
        } else {
            own(p, "offset.storage", "org.apache.kafka.connect.storage.FileOffsetBackingStore");
            own(p, "offset.storage.file.filename", config.getString(RelayConfig.OFFSET_FILE));
        }
        own(p, "offset.flush.interval.ms", config.getLong(RelayConfig.OFFSET_FLUSH_INTERVAL_MS));
        // one host: Debezium accepts no host list (its database.hostname validator refuses one); with a list in
        // database.hostname, Preflight resolved the primary and the relay hands the engine that host (Preflight.engineConfig)
        own(p, "database.hostname", config.databaseHost());
        own(p, "database.port", config.databasePort());
        own(p, "database.dbname", config.databaseName());
        own(p, "database.user", config.databaseUser());
        own(p, "database.password", config.databasePassword().value());
        own(p, "plugin.name", "pgoutput");
        own(p, "slot.name", config.slotName());
        own(p, "slot.drop.on.stop", false);
        // when the engine creates the slot (first start with the snapshot); Preflight refused an explicit true below 17
        own(p, "slot.failover", config.getBoolean(RelayConfig.SLOT_FAILOVER));
        own(p, "publication.name", config.publicationName());
        own(p, "publication.autocreate.mode", "disabled");
        own(p, "table.include.list", config.outboxTable().toString());
        if (config.getBoolean(RelayConfig.FIRST_START_SNAPSHOT)) {
            // FirstStartSnapshotter decides: a snapshot on a first start (or after an unfinished one), none otherwise
            own(p, "snapshot.mode", "custom");
            own(p, "snapshot.mode.custom.name", FirstStartSnapshotter.NAME);
            own(p, "snapshot.select.statement.overrides", config.outboxTable().toString());
            ownSelect(p, config.outboxTable().toString(), snapshotSelect(config.outboxTable()));
            own(p, "snapshot.max.threads", 1);
        } else {
            own(p, "snapshot.mode", "no_data");
        }
        // a stored position behind the slot means the slot was dropped and recreated (or moved by hand): the WAL in
        // between is gone, so fail instead of resuming silently; a stored position ahead of the slot advances the slot
        own(p, "offset.mismatch.strategy", "trust_offset");
        own(p, "lsn.flush.mode", "connector");
        long heartbeat = config.getLong(RelayConfig.HEARTBEAT_INTERVAL_MS);
        if (heartbeat > 0) {
            // a non-transactional logical message: decoded even though the publication covers only the outbox table, so
            // the position moves past other tables' WAL; the relay publishes nothing for it
            own(p, "heartbeat.interval.ms", heartbeat);
            own(p, "heartbeat.action.query", HEARTBEAT_QUERY);
        }
        own(p, "tombstones.on.delete", false);
        own(p, "skipped.operations", "u,d,t");
        own(p, "poll.interval.ms", config.getLong(RelayConfig.POLL_INTERVAL_MS));
        own(p, "max.batch.size", config.getInt(RelayConfig.MAX_BATCH_SIZE));
        own(p, "max.queue.size", config.getInt(RelayConfig.MAX_QUEUE_SIZE));
        byDefault(p, "binary.handling.mode", "bytes");
        byDefault(p, "retriable.restart.connector.wait.ms", "2000");
        byDefault(p, "slot.retry.delay.ms", "1000");
        byDefault(p, "slot.max.retries", "30");
        byDefault(p, "statistics.metrics.enabled", "false");
        return p;
    }

    /**
     * The snapshot's SELECT: the outbox rows in commit order. PostgreSQL keeps no commit order of rows, but with
     * {@code track_commit_timestamp=on} it records each transaction's commit time ({@code pg_xact_commit_timestamp}, also
     * for a subtransaction's id and for a frozen row, whose raw {@code xmin} stays readable): a transaction that waited for
     * a lock another one held (e.g. on the aggregate's row) commits after it, so its commit time is later, whatever its
     * transaction id (assigned at its first write, possibly before it waited). Rows of one transaction share the commit
     * time: then the command counter ({@code cmin}, statement order in the whole transaction, subtransactions included),
     * then the id (append order within a multi-row statement when ids come from one UUIDv7 generator). A row without a
     * commit time (committed before the setting was on) is refused before the snapshot ({@link SnapshotOrderCheck}); with
     * the setting off the function fails for the first row read, so the snapshot never publishes in another order. Uses no
     * column the relay does not require.
     */
    static String snapshotSelect(dev.outboxbridge.db.TableName table) {
        return "SELECT * FROM " + table.quoted() + " ORDER BY pg_xact_commit_timestamp(xmin), cmin::text::bigint, id";
    }

    /** The event producer's properties: the relay's defaults, then the user's kafka.producer.*, then what the guarantees need. */
    public static Map<String, Object> producer(RelayConfig config) {
        Map<String, Object> p = new HashMap<>();
        byDefault(p, ProducerConfig.LINGER_MS_CONFIG, "5");
        byDefault(p, ProducerConfig.COMPRESSION_TYPE_CONFIG, "none");
        byDefault(p, ProducerConfig.MAX_REQUEST_SIZE_CONFIG,
                String.valueOf(Math.max(1_048_576, config.getInt(RelayConfig.MAX_RECORD_BYTES) + 65_536)));
        byDefault(p, ProducerConfig.CLIENT_ID_CONFIG, config.name() + "-producer");
        p.putAll(config.producerOverrides()); // none of them is owned: RelayConfig refused those
        ownProducer(p, ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
        ownProducer(p, ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        ownProducer(p, ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        // the guarantees: RelayConfig accepts only these values from users (true; all or -1)
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.putIfAbsent(ProducerConfig.ACKS_CONFIG, "all");
        if (config.exactlyOnce()) {
            // shared by every relay of the slot: the initTransactions() of a new leader fences the previous one
            ownProducer(p, ProducerConfig.TRANSACTIONAL_ID_CONFIG, config.transactionalId());
        }
        return p;
    }

    /** The admin client's properties: the kafka.producer.* settings an admin client knows (security above all). */
    static Map<String, Object> admin(RelayConfig config) {
        Map<String, Object> p = new HashMap<>(config.producerOverrides());
        p.keySet().retainAll(AdminClientConfig.configNames());
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, config.name() + "-admin");
        return p;
    }

    private static void own(Properties p, String key, Object value) {
        if (!OWNED.containsKey(DEBEZIUM + key)) {
            throw new IllegalStateException("Relay bug: it sets Debezium setting '" + key + "' missing from EngineProperties.OWNED");
        }
        p.setProperty(key, String.valueOf(value));
    }

    private static void ownSelect(Properties p, String table, String select) {
        p.setProperty(SELECT_OVERRIDE_PREFIX + table, select); // owned through the prefix (see refuseOwned)
    }

    private static void byDefault(Properties p, String key, String value) {
        if (!DEFAULTS.containsKey(DEBEZIUM + key)) {
            throw new IllegalStateException("Relay bug: default for Debezium setting '" + key + "' missing from EngineProperties.DEFAULTS");
        }
        p.putIfAbsent(key, value);
    }

    private static void ownProducer(Map<String, Object> p, String key, Object value) {
        if (!OWNED.containsKey(PRODUCER + key)) {
            throw new IllegalStateException("Relay bug: it sets producer setting '" + key + "' missing from EngineProperties.OWNED");
        }
        p.put(key, value);
    }

    private static void byDefault(Map<String, Object> p, String key, String value) {
        if (!DEFAULTS.containsKey(PRODUCER + key)) {
            throw new IllegalStateException("Relay bug: default for producer setting '" + key + "' missing from EngineProperties.DEFAULTS");
        }
        p.put(key, value);
    }
}
