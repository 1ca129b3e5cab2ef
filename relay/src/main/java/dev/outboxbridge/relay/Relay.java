package dev.outboxbridge.relay;

import dev.outboxbridge.relay.internal.OutboxRecordMapper;
import dev.outboxbridge.relay.internal.Preflight;
import dev.outboxbridge.relay.internal.PublishingChangeConsumer;
import dev.outboxbridge.relay.internal.TopicGuard;
import io.debezium.embedded.Connect;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.RecordChangeEvent;
import io.debezium.engine.format.ChangeEventFormat;
import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.connect.source.SourceRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The relay: an embedded Debezium Postgres engine (pgoutput, a slot and a publication covering
 * only the outbox table, no snapshot) that publishes each committed outbox insert to Kafka with
 * an idempotent producer ({@code acks=all}), marking a change processed only after Kafka
 * acknowledged it.
 *
 * <p>Lifecycle: {@link #start()} runs the start-up checks and starts the engine on one named
 * thread; {@link #close()} stops reading, waits for the batch in flight, stores the position and
 * closes the producer, all within {@code shutdown.timeout.ms}. A relay that failed reports why in
 * {@link #failure()}; it is not restarted in-process (run it under a supervisor that restarts it).
 */
public final class Relay implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Relay.class);

    /** Lifecycle states; transitions are compare-and-set. */
    public enum State { NEW, STARTING, RUNNING, STOPPING, STOPPED, FAILED }

    private final RelayConfig config;
    private final AtomicReference<State> state = new AtomicReference<>(State.NEW);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final CountDownLatch terminated = new CountDownLatch(1);
    private volatile KafkaProducer<byte[], byte[]> producer;
    private volatile Admin admin;
    private volatile DebeziumEngine<RecordChangeEvent<SourceRecord>> engine;
    private volatile ExecutorService executor;
    private volatile PublishingChangeConsumer publisher;

    private Relay(RelayConfig config) {
        this.config = config;
    }

    public static Relay create(RelayConfig config) {
        return new Relay(config);
    }

    /**
     * Checks PostgreSQL and Kafka, creates the publication and slot when allowed, and starts the
     * engine. Returns once the slot exists: every outbox row committed after this returns will be
     * published.
     *
     * @throws RelayException naming what failed and the fix; the relay is then FAILED
     */
    public void start() {
        transition(State.NEW, State.STARTING);
        try {
            LOG.info("Relay '{}' starting: PostgreSQL {} as user '{}', table {}, slot {}, publication {}; Kafka {}, topic prefix '{}'",
                    config.name(), config.jdbcUrl(), config.databaseUser(), config.outboxTable(), config.slotName(),
                    config.publicationName(), config.bootstrapServers(), config.topicPrefix());
            LOG.debug("Relay configuration: {}", config.describe());
            new Preflight(config).run();
            admin = Admin.create(adminProperties());
            checkKafkaReachable();
            producer = new KafkaProducer<>(producerProperties());
            publisher = new PublishingChangeConsumer(producer,
                    new OutboxRecordMapper(config.topicPrefix(), config.getInt(RelayConfig.MAX_RECORD_BYTES)),
                    new TopicGuard(admin, config.getBoolean(RelayConfig.TOPIC_CREATE),
                            config.getInt(RelayConfig.TOPIC_CREATE_PARTITIONS),
                            config.getShort(RelayConfig.TOPIC_CREATE_REPLICATION_FACTOR)));
            engine = DebeziumEngine.create(ChangeEventFormat.of(Connect.class))
                    .using(engineProperties())
                    .using(this::engineCompleted)
                    .notifying(publisher)
                    .build();
            executor = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "outbox-relay-engine-" + config.name());
                t.setDaemon(false);
                return t;
            });
            transition(State.STARTING, State.RUNNING);
            executor.execute(engine);
            LOG.info("Relay '{}' running", config.name());
        } catch (RuntimeException e) {
            fail(e);
            releaseResources();
            throw e;
        }
    }

    private void checkKafkaReachable() {
        try {
            String clusterId = admin.describeCluster().clusterId().get(30, TimeUnit.SECONDS);
            LOG.info("Connected to Kafka cluster {} at {}", clusterId, config.bootstrapServers());
        } catch (ExecutionException | TimeoutException e) {
            throw new RelayException("Cannot reach Kafka at " + config.bootstrapServers() + " within 30 s: "
                    + (e instanceof ExecutionException ? e.getCause() : "timed out") + ". Fix: check "
                    + RelayConfig.KAFKA_BOOTSTRAP_SERVERS + ", the brokers and the security settings ("
                    + RelayConfig.PRODUCER_PREFIX + "security.protocol etc.)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RelayException("Interrupted while connecting to Kafka", e);
        }
    }

    private void engineCompleted(boolean success, String message, Throwable error) {
        try {
            if (success && state.get() == State.STOPPING) {
                LOG.info("Relay '{}' engine stopped: {}", config.name(), message);
            } else if (success && error == null && state.get() != State.RUNNING) {
                LOG.info("Relay '{}' engine stopped: {}", config.name(), message);
            } else {
                Throwable cause = error != null ? rootRelayException(error) : new RelayException("Debezium engine stopped: " + message);
                LOG.error("Relay '{}' failed: {}", config.name(), cause.getMessage(), cause);
                fail(cause);
            }
        } finally {
            terminated.countDown();
        }
    }

    private static Throwable rootRelayException(Throwable error) {
        for (Throwable t = error; t != null; t = t.getCause()) {
            if (t instanceof RelayException) {
                return t;
            }
        }
        return error;
    }

    private void fail(Throwable cause) {
        failure.compareAndSet(null, cause);
        state.set(State.FAILED);
    }

    /**
     * Stops reading the WAL, waits for the batch in flight to be acknowledged, stores the position
     * and closes the producer, within {@code shutdown.timeout.ms}. Idempotent.
     */
    @Override
    public void close() {
        State s = state.get();
        if (s == State.STOPPED || s == State.STOPPING || s == State.NEW) {
            if (s == State.NEW) {
                state.compareAndSet(State.NEW, State.STOPPED);
            }
            return;
        }
        boolean wasRunning = state.compareAndSet(State.RUNNING, State.STOPPING);
        Duration timeout = Duration.ofMillis(config.getLong(RelayConfig.SHUTDOWN_TIMEOUT_MS));
        long deadline = System.nanoTime() + timeout.toNanos();
        LOG.info("Relay '{}' stopping (timeout {} ms)", config.name(), timeout.toMillis());
        if (engine != null) {
            try {
                engine.close();
            } catch (IOException | RuntimeException e) {
                LOG.warn("Relay '{}': closing the engine failed: {}", config.name(), e.toString());
            }
            try {
                if (!terminated.await(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    LOG.warn("Relay '{}': the engine did not stop within {} ms; continuing shutdown", config.name(), timeout.toMillis());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        releaseResources(deadline);
        if (wasRunning) {
            state.compareAndSet(State.STOPPING, State.STOPPED);
        }
        LOG.info("Relay '{}' stopped ({}), {} events published", config.name(), state.get(), publishedCount());
    }

    private void releaseResources() {
        releaseResources(System.nanoTime() + TimeUnit.SECONDS.toNanos(10));
    }

    private void releaseResources(long deadline) {
        if (executor != null) {
            executor.shutdown();
            try {
                if (!executor.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    LOG.warn("Relay '{}': engine thread still running after the shutdown timeout; interrupting it", config.name());
                    executor.shutdownNow();
                }
            } catch (InterruptedException e) {
                executor.shutdownNow();
                Thread.currentThread().interrupt();
            }
        }
        Duration left = Duration.ofNanos(Math.max(TimeUnit.SECONDS.toNanos(1), deadline - System.nanoTime()));
        if (producer != null) {
            producer.close(left);
        }
        if (admin != null) {
            admin.close(Duration.ofSeconds(5));
        }
        terminated.countDown();
    }

    /** Waits until the relay stopped or failed. */
    public boolean awaitTermination(Duration timeout) throws InterruptedException {
        return terminated.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    public State state() {
        return state.get();
    }

    /** Why the relay failed, if it did. */
    public Optional<Throwable> failure() {
        return Optional.ofNullable(failure.get());
    }

    /** Events acknowledged by Kafka since start. */
    public long publishedCount() {
        return publisher == null ? 0 : publisher.published();
    }

    public RelayConfig config() {
        return config;
    }

    private void transition(State from, State to) {
        if (!state.compareAndSet(from, to)) {
            throw new IllegalStateException("Relay '" + config.name() + "' is not in expected state " + from + ", current state is " + state.get());
        }
    }

    private Map<String, Object> adminProperties() {
        Map<String, Object> p = new HashMap<>(config.producerOverrides()); // security settings apply to the admin client too
        p.keySet().retainAll(AdminClientConfig.configNames());
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, config.name() + "-admin");
        return p;
    }

    private Map<String, Object> producerProperties() {
        Map<String, Object> p = new HashMap<>();
        // defaults tuned for a sidecar: small linger for latency; overridable through kafka.producer.*
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "none");
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(Math.max(1_048_576, config.getInt(RelayConfig.MAX_RECORD_BYTES) + 65_536)));
        p.putAll(config.producerOverrides());
        // the guarantees: not overridable (RelayConfig refuses conflicting values)
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.putIfAbsent(ProducerConfig.CLIENT_ID_CONFIG, config.name() + "-producer");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return p;
    }

    private Properties engineProperties() {
        Properties p = new Properties();
        config.debeziumOverrides().forEach(p::setProperty);
        p.setProperty("name", config.name());
        p.setProperty("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
        p.setProperty("offset.storage", "org.apache.kafka.connect.storage.FileOffsetBackingStore");
        p.setProperty("offset.storage.file.filename", config.getString(RelayConfig.OFFSET_FILE));
        p.setProperty("offset.flush.interval.ms", String.valueOf(config.getLong(RelayConfig.OFFSET_FLUSH_INTERVAL_MS)));
        p.setProperty("database.hostname", config.databaseHost());
        p.setProperty("database.port", String.valueOf(config.databasePort()));
        p.setProperty("database.dbname", config.databaseName());
        p.setProperty("database.user", config.databaseUser());
        p.setProperty("database.password", config.databasePassword().value());
        p.setProperty("topic.prefix", config.name().replaceAll("[^a-zA-Z0-9_.-]", "_"));
        p.setProperty("plugin.name", "pgoutput");
        p.setProperty("slot.name", config.slotName());
        p.setProperty("slot.drop.on.stop", "false");
        p.setProperty("publication.name", config.publicationName());
        p.setProperty("publication.autocreate.mode", "disabled");
        p.setProperty("table.include.list", config.outboxTable().toString());
        p.setProperty("snapshot.mode", "no_data");
        p.setProperty("tombstones.on.delete", "false");
        p.setProperty("skipped.operations", "u,d,t");
        p.setProperty("poll.interval.ms", String.valueOf(config.getLong(RelayConfig.POLL_INTERVAL_MS)));
        p.setProperty("max.batch.size", String.valueOf(config.getInt(RelayConfig.MAX_BATCH_SIZE)));
        p.setProperty("max.queue.size", String.valueOf(config.getInt(RelayConfig.MAX_QUEUE_SIZE)));
        p.putIfAbsent("binary.handling.mode", "bytes");
        return p;
    }
}
