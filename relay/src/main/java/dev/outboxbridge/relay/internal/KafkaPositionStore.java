package dev.outboxbridge.relay.internal;

import dev.outboxbridge.db.FaultPoint;
import io.debezium.embedded.KafkaConnectUtil;
import java.nio.ByteBuffer;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.connect.runtime.WorkerConfig;
import org.apache.kafka.connect.storage.KafkaOffsetBackingStore;
import org.apache.kafka.connect.util.Callback;
import org.apache.kafka.connect.util.SharedTopicAdmin;
import org.slf4j.LoggerFactory;

/**
 * Kafka Connect's {@link KafkaOffsetBackingStore} (the position in a compacted topic), answering
 * reads of positions this process wrote itself from memory.
 *
 * <p>Debezium's Postgres task reads the stored position back after every flush, to confirm exactly
 * that position to the slot. The plain Kafka store answers each read by reading the topic to its
 * end, a broker round trip on the relay's only streaming thread after every flush. Here a position
 * is remembered only once Kafka acknowledged its write, so what the slot is told is always stored;
 * the first read after start still reads the topic to its end. Only the active relay of a slot
 * writes its key, so no other writer can make the memory stale.
 *
 * <p>Instantiated by the Debezium engine (offset.storage = this class) with its no-argument
 * constructor, like Kafka Connect's own stores were before Kafka 3.5.
 */
public final class KafkaPositionStore extends KafkaOffsetBackingStore {

    /** Engine property naming the relay instance whose fence applies to this store. */
    public static final String FENCE_PROPERTY = "outbox.relay.instance";
    private static final Map<String, BooleanSupplier> FENCES = new ConcurrentHashMap<>();

    private final AtomicReference<SharedTopicAdmin> admin;
    private volatile String instance; // the relay instance this store writes for (FENCE_PROPERTY); null until configured
    private final Map<ByteBuffer, ByteBuffer> written = new HashMap<>(); // guarded by itself

    public KafkaPositionStore() {
        this(new AtomicReference<>());
    }

    private KafkaPositionStore(AtomicReference<SharedTopicAdmin> admin) {
        super(() -> admin.get().get(), () -> "outbox-relay-", // client ids: outbox-relay-offsets (the store appends "offsets")
                KafkaConnectUtil.converterForOffsetStore());
        this.admin = admin;
    }

    /**
     * Ties the stores of a relay instance to its lease: once it returns false, no position is written, so a relay
     * that lost its lease (or woke from a pause) cannot overwrite the position of the relay that took over. A store
     * whose instance is not registered (never was, or was unregistered) writes nothing either: the fence fails closed.
     */
    public static void registerFence(String instance, BooleanSupplier mayWrite) {
        FENCES.put(instance, mayWrite);
    }

    public static void unregisterFence(String instance) {
        FENCES.remove(instance);
    }

    @Override
    public void configure(WorkerConfig config) {
        Object configured = config.originals().get(FENCE_PROPERTY);
        instance = configured == null ? null : configured.toString();
        Map<String, Object> adminProps = new HashMap<>(config.originals());
        adminProps.keySet().retainAll(AdminClientConfig.configNames());
        adminProps.put(AdminClientConfig.CLIENT_ID_CONFIG, "outbox-relay-position-admin");
        admin.set(new SharedTopicAdmin(adminProps));
        super.configure(config);
    }

    @Override
    public Future<Void> set(Map<ByteBuffer, ByteBuffer> values, Callback<Void> callback) {
        TransactionalPositions transactional = TransactionalPositions.of(instance);
        if (transactional != null) {
            // delivery.guarantee=exactly_once: every position the engine flushes was already written, in the Kafka
            // transaction of the batch it follows (the engine marks an event processed only after that committed);
            // writing it again here, outside the transaction and unfenced by Kafka, could only store it late
            FaultPoint.RELAY_BEFORE_POSITION_FLUSH.reached();
            checkFlushedIsCommitted(transactional, values);
            FaultPoint.RELAY_AFTER_POSITION_FLUSH.reached(); // the engine confirms the committed position to the slot next
            if (callback != null) {
                callback.onCompletion(null, null);
            }
            return CompletableFuture.completedFuture(null);
        }
        String refusal = refusal();
        if (refusal != null) {
            ConnectException fenced = new ConnectException(refusal);
            if (callback != null) {
                callback.onCompletion(fenced, null);
            }
            return CompletableFuture.failedFuture(fenced);
        }
        FaultPoint.RELAY_BEFORE_POSITION_FLUSH.reached();
        Map<ByteBuffer, ByteBuffer> copy = new HashMap<>(values);
        return super.set(values, (error, result) -> {
            if (error == null) {
                FaultPoint.RELAY_AFTER_POSITION_FLUSH.reached();
                synchronized (written) {
                    written.putAll(copy);
                }
            }
            if (callback != null) {
                callback.onCompletion(error, result);
            }
        });
    }

    /** Why a write must not go through now, or null when it may: fails closed when the relay instance is unknown. */
    private String refusal() {
        String i = instance;
        if (i == null) {
            return "Position not stored: the position store has no relay instance (engine property " + FENCE_PROPERTY
                    + " missing), so it cannot tell whether this relay may still publish. Only a Relay configures this store.";
        }
        BooleanSupplier fence = FENCES.get(i);
        if (fence == null) {
            return "Position not stored: relay instance " + i + " is not registered (the relay was closed or never started),"
                    + " so it cannot tell whether this relay may still publish";
        }
        if (!fence.getAsBoolean()) {
            return "Position not stored: this relay lost its lease, another relay owns the position";
        }
        return null;
    }

    /** The engine flushes what it marked processed; under exactly_once that is a committed position, never one ahead. */
    private static void checkFlushedIsCommitted(TransactionalPositions transactional, Map<ByteBuffer, ByteBuffer> values) {
        Map<ByteBuffer, ByteBuffer> committed = transactional.get(values.keySet());
        if (committed == null || !committed.equals(values)) {
            LoggerFactory.getLogger(KafkaPositionStore.class).warn("The engine flushed a position that differs from the last"
                    + " one committed in a Kafka transaction; not written (the slot is confirmed from the committed one)");
        }
    }

    @Override
    public Future<Map<ByteBuffer, ByteBuffer>> get(Collection<ByteBuffer> keys) {
        TransactionalPositions transactional = TransactionalPositions.of(instance);
        if (transactional != null) {
            // exactly_once: the position committed with the last transaction; before the first one, the topic read
            // read_committed to its end (an aborted position is never read)
            Map<ByteBuffer, ByteBuffer> committed = transactional.get(keys);
            return committed != null ? CompletableFuture.completedFuture(committed) : super.get(keys);
        }
        synchronized (written) {
            if (!keys.isEmpty() && written.keySet().containsAll(keys)) {
                Map<ByteBuffer, ByteBuffer> result = new HashMap<>();
                keys.forEach(k -> result.put(k, written.get(k)));
                return CompletableFuture.completedFuture(result);
            }
        }
        return super.get(keys);
    }

    @Override
    public void stop() {
        try {
            super.stop();
        } finally {
            SharedTopicAdmin a = admin.getAndSet(null);
            if (a != null) {
                a.close();
            }
        }
    }
}
