package dev.outboxbridge.relay;

import dev.outboxbridge.db.OutboxRecordFormat;
import dev.outboxbridge.db.TableName;
import dev.outboxbridge.relay.internal.EngineProperties;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.config.types.Password;

/**
 * Every setting of the relay, declared once (type, default, validator, documentation) in
 * {@link #DEFINITION}; the configuration reference is generated from it ({@link #main}).
 *
 * <p>Sources, later ones win: a properties file, then environment variables
 * {@code OUTBOX_RELAY_<KEY>} (key upper-cased, dots as underscores, e.g.
 * {@code OUTBOX_RELAY_DATABASE_PASSWORD}). Settings prefixed {@value #PRODUCER_PREFIX} pass through
 * to the Kafka producer, {@value #DEBEZIUM_PREFIX} to the Debezium engine; settings that would
 * break the delivery guarantees are refused, never corrected.
 */
public final class RelayConfig extends AbstractConfig {

    public static final String ENV_PREFIX = "OUTBOX_RELAY_";
    public static final String PRODUCER_PREFIX = "kafka.producer.";
    public static final String DEBEZIUM_PREFIX = "debezium.";

    public static final String NAME = "relay.name";
    public static final String DATABASE_HOSTNAME = "database.hostname";
    public static final String DATABASE_PORT = "database.port";
    public static final String DATABASE_DBNAME = "database.dbname";
    public static final String DATABASE_USER = "database.user";
    public static final String DATABASE_PASSWORD = "database.password";
    public static final String OUTBOX_TABLE = "outbox.table";
    public static final String SLOT_NAME = "slot.name";
    public static final String SLOT_CREATE = "slot.create";
    /** Create the slot as a failover slot (PostgreSQL 17+), synchronized to standbys: it survives a promotion. */
    public static final String SLOT_FAILOVER = "slot.failover";
    public static final String FIRST_START_SNAPSHOT = "first.start.snapshot";
    public static final String PUBLICATION_NAME = "publication.name";
    public static final String PUBLICATION_CREATE = "publication.create";
    public static final String KAFKA_BOOTSTRAP_SERVERS = "kafka.bootstrap.servers";
    public static final String TOPIC_PREFIX = "topic.prefix";
    public static final String TOPIC_CREATE = "topic.create";
    public static final String TOPIC_CREATE_PARTITIONS = "topic.create.partitions";
    public static final String TOPIC_CREATE_REPLICATION_FACTOR = "topic.create.replication.factor";
    public static final String OFFSET_STORAGE = "offset.storage";
    public static final String OFFSET_STORAGE_TOPIC = "offset.storage.topic";
    public static final String OFFSET_STORAGE_REPLICATION_FACTOR = "offset.storage.replication.factor";
    public static final String OFFSET_FILE = "offset.file";
    public static final String OFFSET_FLUSH_INTERVAL_MS = "offset.flush.interval.ms";
    public static final String POLL_INTERVAL_MS = "poll.interval.ms";
    public static final String MAX_BATCH_SIZE = "max.batch.size";
    public static final String MAX_QUEUE_SIZE = "max.queue.size";
    public static final String MAX_RECORD_BYTES = "max.record.bytes";
    public static final String SHUTDOWN_TIMEOUT_MS = "shutdown.timeout.ms";
    public static final String HEARTBEAT_INTERVAL_MS = "heartbeat.interval.ms";
    public static final String HTTP_PORT = "http.port";
    public static final String DEAD_LETTER_TOPIC = "dead.letter.topic";
    public static final String HA_ENABLED = "ha.enabled";
    public static final String HA_LEASE_MS = "ha.lease.ms";
    // delivery guarantee (issue 13): exactly-once publishing with Kafka transactions
    public static final String DELIVERY_GUARANTEE = "delivery.guarantee";
    public static final String DELIVERY_TRANSACTIONAL_ID = "delivery.transactional.id";
    public static final String AT_LEAST_ONCE = "at_least_once";
    public static final String EXACTLY_ONCE = "exactly_once";
    // Kafka replication check (docs/kafka-cluster.md)
    public static final String KAFKA_REPLICATION_CHECK = "kafka.replication.check";
    public static final String KAFKA_REPLICATION_CHECK_REFUSE = "refuse";
    public static final String KAFKA_REPLICATION_CHECK_WARN = "warn";
    public static final String KAFKA_REPLICATION_CHECK_OFF = "off";
    // in-process restart (issue 14 part 2): a relay that failed starts a fresh run by itself (the embedded relay's default)
    public static final String RESTART_ENABLED = "restart.enabled";
    public static final String RESTART_BACKOFF_INITIAL_MS = "restart.backoff.initial.ms";
    public static final String RESTART_BACKOFF_MAX_MS = "restart.backoff.max.ms";
    public static final String RESTART_BACKOFF_RESET_MS = "restart.backoff.reset.ms";

    public static final String OFFSET_STORAGE_KAFKA = "kafka";
    public static final String OFFSET_STORAGE_FILE = "file";

    /** The declaration of every relay setting. */
    public static final ConfigDef DEFINITION = new ConfigDef()
            .define(NAME, Type.STRING, "outbox-relay", new ConfigDef.NonEmptyStringWithoutControlChars(), Importance.LOW,
                    "Name of this relay in logs, thread names, Kafka client ids and metrics. The stored position is keyed by"
                            + " database and slot, not by this name.")
            .define(DATABASE_HOSTNAME, Type.STRING, ConfigDef.NO_DEFAULT_VALUE, new ConfigDef.NonEmptyString(), Importance.HIGH,
                    "Host of the PostgreSQL server that holds the outbox table; or a list of hosts, 'host1,host2:5433'"
                            + " (an entry without a port uses database.port), of which the relay reaches the primary"
                            + " (targetServerType=primary), again after each reconnection: after a promotion it finds the new"
                            + " primary. See docs/deployment.md.")
            .define(DATABASE_PORT, Type.INT, 5432, Range.between(1, 65535), Importance.HIGH, "Port of the PostgreSQL server.")
            .define(DATABASE_DBNAME, Type.STRING, ConfigDef.NO_DEFAULT_VALUE, new ConfigDef.NonEmptyString(), Importance.HIGH,
                    "Database that holds the outbox table.")
            .define(DATABASE_USER, Type.STRING, ConfigDef.NO_DEFAULT_VALUE, new ConfigDef.NonEmptyString(), Importance.HIGH,
                    "PostgreSQL role of the relay: needs REPLICATION and SELECT on the outbox table"
                            + " (and CREATE on the database if publication.create=true).")
            .define(DATABASE_PASSWORD, Type.PASSWORD, "", Importance.HIGH,
                    "Password of database.user. Never logged; prefer the environment variable OUTBOX_RELAY_DATABASE_PASSWORD.")
            .define(OUTBOX_TABLE, Type.STRING, "public.outbox_event", new TableNameValidator(), Importance.HIGH,
                    "The outbox table, 'table' or 'schema.table'.")
            .define(SLOT_NAME, Type.STRING, "outbox_bridge", new Identifier(), Importance.HIGH,
                    "Logical replication slot (pgoutput) the relay reads. It holds the durable position in PostgreSQL:"
                            + " it advances only after the events are acknowledged by Kafka.")
            .define(SLOT_CREATE, Type.BOOLEAN, true, Importance.MEDIUM,
                    "Create the slot at start-up when it does not exist. With first.start.snapshot=true (the default) the rows"
                            + " already in the outbox table are published first; with false, events committed before the slot"
                            + " exists are never published.")
            .define(SLOT_FAILOVER, Type.BOOLEAN, true, Importance.MEDIUM,
                    "Create the slot as a failover slot (PostgreSQL 17+): with sync_replication_slots on a standby and"
                            + " synchronized_standby_slots on the primary, PostgreSQL keeps it in step on the standby, so the relay"
                            + " resumes from it after a promotion. At start-up the relay warns when the slot is not synchronized"
                            + " to a standby (metric outbox.relay.slot.failover.ready). On PostgreSQL 16 or older the default"
                            + " only warns (the slot is lost at a failover: see docs/deployment.md); an explicit true refuses"
                            + " to start there. false: a plain slot.")
            .define(FIRST_START_SNAPSHOT, Type.BOOLEAN, true, Importance.MEDIUM,
                    "On a first start (no stored position), publish the rows already in the outbox table before the stream:"
                            + " the slot is created with an exported snapshot, so the two meet with no gap and no duplicate."
                            + " Rows are read in their transactions' commit order (pg_xact_commit_timestamp), which needs"
                            + " track_commit_timestamp=on when the table is not empty: a row without a commit time stops the start"
                            + " with the fix, never published out of order (see docs/first-deployment.md). A slot that exists"
                            + " without a stored position gets the table as it is now and then its own stream: nothing lost, rows"
                            + " committed after the slot's position published twice. false: only inserts committed after the"
                            + " slot exists are published.")
            .define(PUBLICATION_NAME, Type.STRING, "outbox_bridge_pub", new Identifier(), Importance.HIGH,
                    "Publication the slot decodes. It must cover only the outbox table and publish inserts.")
            .define(PUBLICATION_CREATE, Type.BOOLEAN, true, Importance.MEDIUM,
                    "Create the publication (FOR TABLE <outbox.table> WITH (publish = 'insert')) when it does not exist."
                            + " An existing publication is checked, never altered.")
            .define(KAFKA_BOOTSTRAP_SERVERS, Type.STRING, ConfigDef.NO_DEFAULT_VALUE, new ConfigDef.NonEmptyString(), Importance.HIGH,
                    "Kafka bootstrap servers, host:port[,host:port...]. Other producer settings pass through with the prefix '"
                            + PRODUCER_PREFIX + "'.")
            .define(TOPIC_PREFIX, Type.STRING, OutboxRecordFormat.DEFAULT_TOPIC_PREFIX, new TopicPrefix(), Importance.HIGH,
                    "Topic of an event = this prefix + its aggregatetype (Debezium EventRouter's default routing).")
            .define(TOPIC_CREATE, Type.BOOLEAN, false, Importance.MEDIUM,
                    "Create a missing target topic with the Kafka Admin API. When false (the default) a missing topic"
                            + " stops the relay with an error naming it; the relay never relies on broker auto-creation.")
            .define(TOPIC_CREATE_PARTITIONS, Type.INT, 3, Range.atLeast(1), Importance.LOW,
                    "Partitions of topics created when topic.create=true.")
            .define(TOPIC_CREATE_REPLICATION_FACTOR, Type.SHORT, (short) -1, Importance.LOW,
                    "Replication factor of topics created when topic.create=true; -1 = the broker's default.")
            .define(OFFSET_STORAGE, Type.STRING, OFFSET_STORAGE_KAFKA, ConfigDef.ValidString.in(OFFSET_STORAGE_KAFKA, OFFSET_STORAGE_FILE),
                    Importance.HIGH,
                    "Where the relay stores its position (the engine's offsets). 'kafka': a compacted Kafka topic"
                            + " (offset.storage.topic), which survives the loss of the relay's container and disk and needs no"
                            + " write access to the database. 'file': a local file (offset.file); losing it makes the relay resume"
                            + " from the slot's confirmed position, re-sending what was published since the last flush.")
            .define(OFFSET_STORAGE_TOPIC, Type.STRING, "outbox-relay-offsets", new TopicName(), Importance.MEDIUM,
                    "Compacted topic holding the positions when offset.storage=kafka; one key per database and slot, so"
                            + " relays may share it. Created at start-up (1 partition, cleanup.policy=compact) when missing;"
                            + " an existing topic must be compacted.")
            .define(OFFSET_STORAGE_REPLICATION_FACTOR, Type.SHORT, (short) -1, Importance.LOW,
                    "Replication factor of offset.storage.topic when the relay creates it; -1 = the broker's default.")
            .define(OFFSET_FILE, Type.STRING, "relay-offsets.dat", new ConfigDef.NonEmptyString(), Importance.LOW,
                    "File holding the position when offset.storage=file.")
            .define(OFFSET_FLUSH_INTERVAL_MS, Type.LONG, 100L, Range.between(0, 600_000), Importance.MEDIUM,
                    "How often the position of the acknowledged events is stored and then confirmed to the slot; 0 = after"
                            + " every batch (one synchronous write to the position store per batch: it costs throughput). A crash"
                            + " (kill -9) re-sends at most the events acknowledged since the last flush plus the batch in flight;"
                            + " a clean stop re-sends nothing.")
            .define(POLL_INTERVAL_MS, Type.LONG, 10L, Range.between(1, 60_000), Importance.LOW,
                    "How long the engine waits for more changes before handing over a partial batch (latency vs batching).")
            .define(MAX_BATCH_SIZE, Type.INT, 2048, Range.between(1, 100_000), Importance.LOW,
                    "Most change events handed to the publisher at once.")
            .define(MAX_QUEUE_SIZE, Type.INT, 8192, Range.between(2, 1_000_000), Importance.LOW,
                    "Change events buffered between the WAL reader and the publisher; bounds memory. Must be greater than"
                            + " max.batch.size.")
            .define(MAX_RECORD_BYTES, Type.INT, OutboxRecordFormat.DEFAULT_MAX_RECORD_BYTES, Range.atLeast(OutboxRecordFormat.MIN_MAX_RECORD_BYTES), Importance.MEDIUM,
                    "Largest record (payload + key + headers) the relay sends. Keep it equal to outbox-core's"
                            + " maxRecordBytes and below the broker's message.max.bytes.")
            .define(HEARTBEAT_INTERVAL_MS, Type.LONG, 10_000L, Range.between(0, 3_600_000), Importance.MEDIUM,
                    "How often the relay writes a heartbeat into the WAL (SELECT pg_logical_emit_message(false,"
                            + " 'outbox-bridge-heartbeat', '')) and confirms its position, so the slot advances and PostgreSQL"
                            + " frees WAL while the outbox is idle and other tables are busy. 0 = off (the slot then holds WAL"
                            + " until the next outbox event).")
            .define(DEAD_LETTER_TOPIC, Type.STRING, "", new OptionalTopicName(), Importance.MEDIUM,
                    "What to do with a record Kafka refuses for good (too large for its topic, invalid topic, not authorized)."
                            + " Empty (the default): stop publishing, report unhealthy with the event id and the reason, losing and"
                            + " reordering nothing. A topic name: send the record there instead (headers outbox.dlq.reason and"
                            + " outbox.dlq.topic added, see DeadLetterHeaders; without its payload when it was too large) and go on.")
            .define(HTTP_PORT, Type.INT, -1, Range.between(-1, 65535), Importance.MEDIUM,
                    "Port of the relay application's (outbox-relay-app) operations endpoints: /health/live (200 unless the relay"
                            + " failed), /health/ready (200 while publishing) and /metrics (Prometheus). -1 = no HTTP server (the"
                            + " default), 0 = any free port; the sidecar image sets 8080. An embedded Relay (the outbox-relay"
                            + " library) never opens a port: its metrics go to the MeterRegistry given to Relay.builder.")
            .define(HA_ENABLED, Type.BOOLEAN, true, Importance.HIGH,
                    "Let several relays run on the same database and slot, exactly one publishing: each competes for a lease"
                            + " (a PostgreSQL advisory lock on a connection of its own); the holder publishes, the others wait as"
                            + " standbys (ready, not publishing) and one takes over when the leader dies, is paused or loses its"
                            + " database connection. A relay that loses the lease stops publishing before another can start, then"
                            + " exits for its supervisor to start it again as a standby. Needs offset.storage=kafka (the position"
                            + " must be shared) and PostgreSQL 14 or newer. false: a single relay, publishing as soon as it started.")
            .define(HA_LEASE_MS, Type.LONG, 4_000L, Range.between(1_000, 60_000), Importance.MEDIUM,
                    "The lease when ha.enabled=true. The leader confirms it every ha.lease.ms/8 and stops publishing when it"
                            + " could not for 3/4 of it; PostgreSQL frees the lock of a session silent for ha.lease.ms"
                            + " (idle_session_timeout); a new holder waits ha.lease.ms before publishing. Takeover takes about"
                            + " ha.lease.ms plus the engine's start after a kill -9 of the leader, and twice that after the"
                            + " leader was cut off from PostgreSQL. Each start of a relay waits it once.")
            .define(KAFKA_REPLICATION_CHECK, Type.STRING, KAFKA_REPLICATION_CHECK_WARN,
                    ConfigDef.ValidString.in(KAFKA_REPLICATION_CHECK_REFUSE, KAFKA_REPLICATION_CHECK_WARN, KAFKA_REPLICATION_CHECK_OFF),
                    Importance.MEDIUM,
                    "Checks each topic the relay writes (every target topic the first time it is seen, the dead-letter topic,"
                            + " offset.storage.topic) against what acks=all promises: replication factor above min.insync.replicas,"
                            + " min.insync.replicas of at least 2, unclean.leader.election.enable=false (e.g. RF 3,"
                            + " min.insync.replicas=2). 'refuse': a topic that falls short stops the relay with the topic, its"
                            + " settings and the fix, before anything is sent to it. 'warn' (the default, so that a single-broker"
                            + " development setup starts): one warning per topic, with the same. 'off': no check. While the relay"
                            + " runs (warn or refuse) it also watches those topics' in-sync replicas: see docs/kafka-cluster.md.")
            .define(SHUTDOWN_TIMEOUT_MS, Type.LONG, 30_000L, Range.between(1_000, 600_000), Importance.LOW,
                    "How long close() may take, all waits together: the batch in flight (at most half of it), the engine's"
                            + " last position flush, the lease and the Kafka clients. What has not finished by then is abandoned"
                            + " with a warning; events not yet marked processed are sent again after a restart.")
            // in-process restart (issue 14 part 2)
            .define(RESTART_ENABLED, Type.BOOLEAN, false, Importance.MEDIUM,
                    "Restart the relay in its process after a failure: a run that ends failed (the PostgreSQL primary moved to"
                            + " a promoted standby, a lost lease, a broker outage past the delivery timeout, ...) is closed"
                            + " completely (engine, lease, monitors, producer) and, after restart.backoff.*, a fresh run starts"
                            + " from the same settings, with every start-up check and the primary resolved again from the host"
                            + " list: a restart is as safe as a process restart. A start() that fails is not retried (it throws:"
                            + " a configuration error is reported at once). false (the default for the library and the sidecar):"
                            + " the relay stays failed, and the sidecar (outbox-relay-app) exits with status 1 for its supervisor"
                            + " (systemd, Kubernetes) to start it again. The Spring Boot starter's embedded relay sets true unless"
                            + " given (outbox.relay.restart.enabled). While a restart is pending the relay is live, not ready"
                            + " (state RESTARTING); counted by the metric outbox.relay.restarts.")
            .define(RESTART_BACKOFF_INITIAL_MS, Type.LONG, 1_000L, Range.between(10, 600_000), Importance.LOW,
                    "With restart.enabled=true: the wait before the first restart after a failure; it doubles with each"
                            + " failure in a row (a restart whose start fails counts too), up to restart.backoff.max.ms, less up"
                            + " to 20% of random jitter so that relays that failed together do not restart in step.")
            .define(RESTART_BACKOFF_MAX_MS, Type.LONG, 60_000L, Range.between(10, 3_600_000), Importance.LOW,
                    "With restart.enabled=true: the longest wait between restarts; at least restart.backoff.initial.ms.")
            .define(RESTART_BACKOFF_RESET_MS, Type.LONG, 120_000L, Range.between(1_000, 86_400_000), Importance.LOW,
                    "With restart.enabled=true: a run that started and lasted this long (from its start) before it failed"
                            + " starts the backoff again from restart.backoff.initial.ms.")
            // delivery guarantee (issue 13)
            .define(DELIVERY_GUARANTEE, Type.STRING, AT_LEAST_ONCE, ConfigDef.ValidString.in(AT_LEAST_ONCE, EXACTLY_ONCE),
                    Importance.HIGH,
                    "at_least_once: an idempotent producer; a crash re-sends the events acknowledged since the last position"
                            + " flush and the batch in flight. exactly_once: a transactional producer; each batch's events and"
                            + " the relay's position after them are written in one Kafka transaction, the slot is confirmed"
                            + " only after it committed, and a new leader fences every earlier relay of the slot in Kafka:"
                            + " a read_committed consumer (consumer-inbox's default) sees every event exactly once. Needs"
                            + " offset.storage=kafka. See docs/exactly-once.md.")
            .define(DELIVERY_TRANSACTIONAL_ID, Type.STRING, "", Importance.LOW,
                    "The transactional.id of the producer when delivery.guarantee=exactly_once; empty (the default) ="
                            + " outbox-relay-<database>-<slot>. Every relay of a slot must use the same one (that is how Kafka"
                            + " fences a previous leader) and no two slots may share one.");

    private final Map<String, String> producerOverrides;
    private final Map<String, String> debeziumOverrides;

    private RelayConfig(Map<String, String> props) {
        super(DEFINITION, props, false);
        this.producerOverrides = Collections.unmodifiableMap(prefixed(props, PRODUCER_PREFIX));
        this.debeziumOverrides = Collections.unmodifiableMap(prefixed(props, DEBEZIUM_PREFIX));
        checkCrossKeyRules();
    }

    /**
     * Builds the configuration from explicit properties.
     *
     * @throws ConfigException naming the setting, the value and the fix
     */
    public static RelayConfig of(Map<String, String> props) {
        Map<String, String> copy = new HashMap<>(props);
        rejectUnknown(copy);
        return new RelayConfig(copy);
    }

    /** Loads a properties file (optional: may be null), then applies environment variables over it. */
    public static RelayConfig load(Path file, Map<String, String> environment) {
        Map<String, String> props = new HashMap<>();
        if (file != null) {
            Properties p = new Properties();
            try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
                p.load(r);
            } catch (IOException e) {
                throw new ConfigException("Cannot read the relay configuration file " + file.toAbsolutePath() + ": " + e
                        + ". Fix the path given with --config, or configure the relay with OUTBOX_RELAY_* environment variables.");
            }
            p.stringPropertyNames().forEach(k -> props.put(k.trim(), p.getProperty(k).trim()));
        }
        props.putAll(fromEnvironment(environment));
        return of(props);
    }

    /** The environment variable of a setting: {@code database.password} is {@code OUTBOX_RELAY_DATABASE_PASSWORD}. */
    public static String environmentVariable(String setting) {
        return ENV_PREFIX + setting.toUpperCase(Locale.ROOT).replace('.', '_');
    }

    /** Settings as environment variables for a relay process ({@link #environmentVariable}), the inverse of {@link #load}. */
    public static Map<String, String> toEnvironment(Map<String, String> settings) {
        Map<String, String> env = new HashMap<>();
        settings.forEach((k, v) -> env.put(environmentVariable(k), v));
        return env;
    }

    /** Maps {@code OUTBOX_RELAY_DATABASE_PASSWORD=x} to {@code database.password=x}. */
    static Map<String, String> fromEnvironment(Map<String, String> environment) {
        Map<String, String> props = new HashMap<>();
        environment.forEach((name, value) -> {
            if (name.startsWith(ENV_PREFIX) && name.length() > ENV_PREFIX.length()) {
                props.put(name.substring(ENV_PREFIX.length()).toLowerCase(Locale.ROOT).replace('_', '.'), value);
            }
        });
        return props;
    }

    private static void rejectUnknown(Map<String, String> props) {
        for (String key : props.keySet()) {
            if (!DEFINITION.names().contains(key) && !key.startsWith(PRODUCER_PREFIX) && !key.startsWith(DEBEZIUM_PREFIX)) {
                throw new ConfigException("Unknown relay setting '" + key + "'. Known settings: " + new TreeMap<>(DEFINITION.configKeys()).keySet()
                        + "; Kafka producer settings take the prefix '" + PRODUCER_PREFIX + "', Debezium settings '" + DEBEZIUM_PREFIX + "'.");
            }
        }
    }

    private void checkCrossKeyRules() {
        // one table of the keys the relay sets, used to build the properties too: refused, never replaced
        EngineProperties.refuseOwned(PRODUCER_PREFIX, producerOverrides);
        EngineProperties.refuseOwned(DEBEZIUM_PREFIX, debeziumOverrides);
        String idempotence = producerOverrides.get("enable.idempotence");
        if (idempotence != null && !"true".equalsIgnoreCase(idempotence.trim())) {
            throw new ConfigException(PRODUCER_PREFIX + "enable.idempotence", idempotence,
                    "must be true: without idempotence a retried send can duplicate or reorder events of one aggregate");
        }
        String acks = producerOverrides.get("acks");
        if (acks != null && !"all".equalsIgnoreCase(acks.trim()) && !"-1".equals(acks.trim())) {
            throw new ConfigException(PRODUCER_PREFIX + "acks", acks,
                    "must be all: an event is marked processed only when every in-sync replica has it; remove the setting");
        }
        String inFlight = producerOverrides.get("max.in.flight.requests.per.connection");
        if (inFlight != null) {
            int n;
            try {
                n = Integer.parseInt(inFlight.trim());
            } catch (NumberFormatException e) {
                throw new ConfigException(PRODUCER_PREFIX + "max.in.flight.requests.per.connection", inFlight, "not a number");
            }
            if (n < 1 || n > 5) {
                throw new ConfigException(PRODUCER_PREFIX + "max.in.flight.requests.per.connection", inFlight,
                        "must be between 1 and 5: the idempotent producer keeps per-partition order only up to 5");
            }
        }
        if (getInt(MAX_QUEUE_SIZE) <= getInt(MAX_BATCH_SIZE)) {
            throw new ConfigException(MAX_QUEUE_SIZE, getInt(MAX_QUEUE_SIZE), "must be greater than " + MAX_BATCH_SIZE
                    + " (" + getInt(MAX_BATCH_SIZE) + ")");
        }
        if (getBoolean(HA_ENABLED) && !OFFSET_STORAGE_KAFKA.equals(getString(OFFSET_STORAGE))) {
            throw new ConfigException(HA_ENABLED, true, "needs " + OFFSET_STORAGE + "=" + OFFSET_STORAGE_KAFKA + ": relays taking over"
                    + " from each other must share the position (a local file would make a new leader resume from a stale one)."
                    + " Set " + HA_ENABLED + "=false to run a single relay with " + OFFSET_STORAGE + "=" + OFFSET_STORAGE_FILE);
        }
        checkDeliveryGuarantee();
        checkRestart();
        for (String key : List.of(TOPIC_CREATE_REPLICATION_FACTOR, OFFSET_STORAGE_REPLICATION_FACTOR)) {
            short rf = getShort(key);
            if (rf == 0 || rf < -1) {
                throw new ConfigException(key, rf, "must be -1 (broker default) or at least 1");
            }
        }
    }

    /** restart.backoff.*: the first wait may not exceed the longest (issue 14 part 2). */
    private void checkRestart() {
        if (getLong(RESTART_BACKOFF_INITIAL_MS) > getLong(RESTART_BACKOFF_MAX_MS)) {
            throw new ConfigException(RESTART_BACKOFF_INITIAL_MS, getLong(RESTART_BACKOFF_INITIAL_MS), "is greater than "
                    + RESTART_BACKOFF_MAX_MS + " (" + getLong(RESTART_BACKOFF_MAX_MS) + "): the backoff would start above its"
                    + " cap. Fix: lower " + RESTART_BACKOFF_INITIAL_MS + " or raise " + RESTART_BACKOFF_MAX_MS);
        }
    }

    /** delivery.guarantee: what exactly_once needs, refused with the fix when missing (issue 13). */
    private void checkDeliveryGuarantee() {
        if (!exactlyOnce()) {
            if (!getString(DELIVERY_TRANSACTIONAL_ID).isEmpty()) {
                throw new ConfigException(DELIVERY_TRANSACTIONAL_ID, getString(DELIVERY_TRANSACTIONAL_ID), "applies only to "
                        + DELIVERY_GUARANTEE + "=" + EXACTLY_ONCE + ". Fix: remove it, or set " + DELIVERY_GUARANTEE + "=" + EXACTLY_ONCE);
            }
            return;
        }
        if (!offsetsInKafka()) {
            throw new ConfigException(DELIVERY_GUARANTEE, EXACTLY_ONCE, "needs " + OFFSET_STORAGE + "=" + OFFSET_STORAGE_KAFKA
                    + ": the position is written in the same Kafka transaction as the events. Fix: set " + OFFSET_STORAGE + "="
                    + OFFSET_STORAGE_KAFKA + ", or " + DELIVERY_GUARANTEE + "=" + AT_LEAST_ONCE);
        }
        if (getBoolean(FIRST_START_SNAPSHOT)) {
            throw new ConfigException(FIRST_START_SNAPSHOT, true, "is not supported with " + DELIVERY_GUARANTEE + "="
                    + EXACTLY_ONCE + " yet: the snapshot's progress is not part of the Kafka transactions, so a relay stopped"
                    + " during it would publish the rows it already published again. Fix: set " + FIRST_START_SNAPSHOT
                    + "=false (it is on by default) and create the slot before the first write (outbox-cli slot create, or start"
                    + " the relay first), or set " + DELIVERY_GUARANTEE + "=" + AT_LEAST_ONCE);
        }
        String id = transactionalId();
        if (id.isBlank() || id.length() > 249 || id.chars().anyMatch(Character::isISOControl)) {
            throw new ConfigException(DELIVERY_TRANSACTIONAL_ID, id, "must be 1-249 characters without control characters");
        }
    }

    /** True with delivery.guarantee=exactly_once: Kafka transactions carry each batch and the position. */
    public boolean exactlyOnce() {
        return EXACTLY_ONCE.equals(getString(DELIVERY_GUARANTEE));
    }

    /**
     * The producer's transactional.id under exactly_once: delivery.transactional.id, or outbox-relay-&lt;database&gt;-&lt;slot&gt;
     * (stable for the database and slot, shared by every relay of the slot, so a new leader fences the previous one).
     */
    public String transactionalId() {
        String configured = getString(DELIVERY_TRANSACTIONAL_ID).trim();
        return configured.isEmpty() ? "outbox-relay-" + databaseName() + "-" + slotName() : configured;
    }

    private static Map<String, String> prefixed(Map<String, String> props, String prefix) {
        Map<String, String> out = new TreeMap<>();
        props.forEach((k, v) -> {
            if (k.startsWith(prefix) && k.length() > prefix.length()) {
                out.put(k.substring(prefix.length()), v);
            }
        });
        return out;
    }

    public String name() {
        return getString(NAME);
    }

    public String databaseHost() {
        return getString(DATABASE_HOSTNAME);
    }

    public int databasePort() {
        return getInt(DATABASE_PORT);
    }

    public String databaseName() {
        return getString(DATABASE_DBNAME);
    }

    public String databaseUser() {
        return getString(DATABASE_USER);
    }

    public Password databasePassword() {
        return getPassword(DATABASE_PASSWORD);
    }

    public TableName outboxTable() {
        return TableName.parse(getString(OUTBOX_TABLE));
    }

    public String slotName() {
        return getString(SLOT_NAME).toLowerCase(Locale.ROOT);
    }

    public String publicationName() {
        return getString(PUBLICATION_NAME).toLowerCase(Locale.ROOT);
    }

    public String bootstrapServers() {
        return getString(KAFKA_BOOTSTRAP_SERVERS).trim();
    }

    /** True when the position is stored in a Kafka topic, false for a local file. */
    public boolean offsetsInKafka() {
        return OFFSET_STORAGE_KAFKA.equals(getString(OFFSET_STORAGE));
    }

    /** Debezium's logical server name: with the engine name, the key of the stored position (one per database and slot). */
    public String offsetServerName() {
        return (databaseName() + "." + slotName()).replaceAll("[^a-zA-Z0-9_.-]", "_");
    }

    public String topicPrefix() {
        return getString(TOPIC_PREFIX);
    }

    /** JDBC URL without credentials (safe to log); with several hosts, {@code targetServerType=primary}. */
    public String jdbcUrl() {
        return "jdbc:postgresql://" + databaseHostsWithPorts() + "/" + databaseName()
                + (hasHostList() ? "?targetServerType=primary" : "");
    }

    /** True when {@value #SLOT_FAILOVER} was set (not the default): then a server without failover slots is refused. */
    public boolean slotFailoverExplicit() {
        return originals().containsKey(SLOT_FAILOVER);
    }

    /** True when {@value #DATABASE_HOSTNAME} lists several hosts (the relay then connects to the primary among them). */
    public boolean hasHostList() {
        return databaseHost().contains(",");
    }

    /** {@value #DATABASE_HOSTNAME} with {@value #DATABASE_PORT} added to each entry that has no port: {@code h1:5432,h2:5433}. */
    public String databaseHostsWithPorts() {
        List<String> out = new ArrayList<>();
        for (String entry : databaseHost().split(",")) {
            String e = entry.trim();
            boolean hasPort = e.startsWith("[") ? e.contains("]:") : e.indexOf(':') >= 0 && e.indexOf(':') == e.lastIndexOf(':');
            boolean bareIpv6 = !e.startsWith("[") && e.indexOf(':') != e.lastIndexOf(':');
            out.add(hasPort ? e : (bareIpv6 ? "[" + e + "]" : e) + ":" + databasePort());
        }
        return String.join(",", out);
    }

    /** Producer settings given with {@value #PRODUCER_PREFIX}, prefix removed. */
    public Map<String, String> producerOverrides() {
        return producerOverrides;
    }

    /** Debezium settings given with {@value #DEBEZIUM_PREFIX}, prefix removed. */
    public Map<String, String> debeziumOverrides() {
        return debeziumOverrides;
    }

    /** What the relay runs with, passwords masked: for the start-up log. */
    public String describe() {
        Map<String, Object> shown = new TreeMap<>();
        DEFINITION.names().forEach(k -> shown.put(k, DEFINITION.configKeys().get(k).type == Type.PASSWORD ? "[hidden]" : get(k)));
        producerOverrides.forEach((k, v) -> shown.put(PRODUCER_PREFIX + k, masked(k, v)));
        debeziumOverrides.forEach((k, v) -> shown.put(DEBEZIUM_PREFIX + k, masked(k, v)));
        return shown.toString();
    }

    private static String masked(String key, String value) {
        String k = key.toLowerCase(Locale.ROOT);
        // ssl.keystore.key: a PEM private key (e.g. from a Spring Boot SSL bundle)
        return k.contains("password") || k.contains("secret") || k.contains("jaas") || k.contains("token") || k.contains("credential")
                || k.endsWith("keystore.key") ? "[hidden]" : value;
    }

    /** The configuration reference (a Markdown page, docs/relay-configuration.md) generated from {@link #DEFINITION}. */
    public static String configurationReference() {
        return ConfigDocs.referencePage();
    }

    /** Prints the configuration reference (Markdown table) generated from {@link #DEFINITION}. */
    public static void main(String[] args) {
        System.out.print(ConfigDocs.referencePage());
    }

    private static final class Identifier implements ConfigDef.Validator {
        @Override
        public void ensureValid(String name, Object value) {
            try {
                TableName.identifier((String) value, name);
            } catch (IllegalArgumentException e) {
                throw new ConfigException(name, value, e.getMessage());
            }
        }

        @Override
        public String toString() {
            return "SQL identifier: letters, digits, underscore; 1-63 characters";
        }
    }

    private static final class TableNameValidator implements ConfigDef.Validator {
        @Override
        public void ensureValid(String name, Object value) {
            try {
                TableName.parse((String) value);
            } catch (IllegalArgumentException e) {
                throw new ConfigException(name, value, e.getMessage());
            }
        }

        @Override
        public String toString() {
            return "table or schema.table (SQL identifiers)";
        }
    }

    private static final class TopicName implements ConfigDef.Validator {
        @Override
        public void ensureValid(String name, Object value) {
            OutboxRecordFormat.topicNameProblem((String) value).ifPresent(problem -> {
                throw new ConfigException(name, value, "not a valid Kafka topic name: " + problem);
            });
        }

        @Override
        public String toString() {
            return "Kafka topic name: 1-" + OutboxRecordFormat.MAX_TOPIC_LENGTH + " " + OutboxRecordFormat.TOPIC_CHARS_RULE;
        }
    }

    private static final class OptionalTopicName implements ConfigDef.Validator {
        @Override
        public void ensureValid(String name, Object value) {
            if (value != null && !((String) value).isEmpty()) {
                new TopicName().ensureValid(name, value);
            }
        }

        @Override
        public String toString() {
            return "empty, or a Kafka topic name";
        }
    }

    private static final class TopicPrefix implements ConfigDef.Validator {
        @Override
        public void ensureValid(String name, Object value) {
            OutboxRecordFormat.topicPrefixProblem((String) value).ifPresent(problem -> {
                throw new ConfigException(name, value, problem);
            });
        }

        @Override
        public String toString() {
            return OutboxRecordFormat.TOPIC_CHARS_RULE + ", at most " + OutboxRecordFormat.MAX_TOPIC_PREFIX_LENGTH + " characters";
        }
    }
}
