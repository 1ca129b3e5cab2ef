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
    private volatile BooleanSupplier mayWrite = () -> true;
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
     * that lost its lease (or woke from a pause) cannot overwrite the position of the relay that took over.
     */
    public static void registerFence(String instance, BooleanSupplier mayWrite) {
        FENCES.put(instance, mayWrite);
    }

    public static void unregisterFence(String instance) {
        FENCES.remove(instance);
    }

    @Override
    public void configure(WorkerConfig config) {
        Object instance = config.originals().get(FENCE_PROPERTY);
        if (instance != null) {
            BooleanSupplier fence = FENCES.get(instance.toString());
            if (fence != null) {
                mayWrite = fence;
            }
        }
        Map<String, Object> adminProps = new HashMap<>(config.originals());
        adminProps.keySet().retainAll(AdminClientConfig.configNames());
        adminProps.put(AdminClientConfig.CLIENT_ID_CONFIG, "outbox-relay-position-admin");
        admin.set(new SharedTopicAdmin(adminProps));
        super.configure(config);
    }

    @Override
    public Future<Void> set(Map<ByteBuffer, ByteBuffer> values, Callback<Void> callback) {
        if (!mayWrite.getAsBoolean()) {
            ConnectException fenced = new ConnectException("Position not stored: this relay lost its lease, another relay owns the position");
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

    @Override
    public Future<Map<ByteBuffer, ByteBuffer>> get(Collection<ByteBuffer> keys) {
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
