package dev.outboxbridge.relay.internal;

import io.debezium.embedded.KafkaConnectUtil;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.storage.Converter;

/**
 * The relay's positions under {@code delivery.guarantee=exactly_once}: the position record that goes into each batch's
 * Kafka transaction, and the positions whose transaction committed, which {@link KafkaPositionStore} answers reads with.
 *
 * <p>The record is the one Kafka Connect's {@code OffsetStorageWriter} writes at an offset flush, byte for byte: key
 * {@code ["<engine name>", <source partition>]}, value {@code <source offset>}, both through the offset store's
 * converter (JSON, no schema), to partition 0 of the position topic. So {@code KafkaOffsetBackingStore} reads it back
 * unchanged at the next start, and a relay may switch between the two guarantees on the same position topic.
 *
 * <p>Why the engine's own offset flush writes nothing in this mode: the engine marks an event processed only after
 * the transaction that carried it committed, so whatever it would flush is a position already written, in the same
 * transaction as the events before it. Writing it again (outside any transaction, with the store's own producer,
 * which Kafka does not fence) could only store a position late, after a new leader took over. The store therefore
 * answers the engine's read-back (after which Debezium confirms the position to the slot) with the last position
 * <em>committed</em> here: the slot is never confirmed past what Kafka committed.
 *
 * <p>Instances are registered by relay instance id (the store is created by the engine, which cannot be handed
 * objects), like the store's fence.
 */
final class TransactionalPositions {

    private static final Map<String, TransactionalPositions> REGISTRY = new ConcurrentHashMap<>();

    private final String topic;
    private final Converter converter = KafkaConnectUtil.converterForOffsetStore();
    private final Map<ByteBuffer, ByteBuffer> committed = new HashMap<>(); // guarded by itself

    TransactionalPositions(String topic) {
        this.topic = topic;
    }

    static void register(String instance, TransactionalPositions positions) {
        REGISTRY.put(instance, positions);
    }

    static void unregister(String instance) {
        REGISTRY.remove(instance);
    }

    /** The positions of a relay instance running exactly_once, or null (at_least_once, or not registered). */
    static TransactionalPositions of(String instance) {
        return instance == null ? null : REGISTRY.get(instance);
    }

    /** The position record after {@code last}: what the offset flush would store once {@code last} is marked processed. */
    ProducerRecord<byte[], byte[]> positionAfter(SourceRecord last) {
        byte[] key = converter.fromConnectData(EngineProperties.ENGINE_NAME, null,
                Arrays.asList(EngineProperties.ENGINE_NAME, last.sourcePartition()));
        byte[] value = converter.fromConnectData(EngineProperties.ENGINE_NAME, null, last.sourceOffset());
        return new ProducerRecord<>(topic, 0, key, value);
    }

    /** The transaction that carried {@code position} committed: reads of its key answer it from now on. */
    void committed(ProducerRecord<byte[], byte[]> position) {
        synchronized (committed) {
            committed.put(ByteBuffer.wrap(position.key()), ByteBuffer.wrap(position.value()));
        }
    }

    /** The committed positions of all {@code keys}, or null when one of them was not committed by this process. */
    Map<ByteBuffer, ByteBuffer> get(Collection<ByteBuffer> keys) {
        synchronized (committed) {
            if (keys.isEmpty() || !committed.keySet().containsAll(keys)) {
                return null;
            }
            Map<ByteBuffer, ByteBuffer> result = new HashMap<>();
            keys.forEach(k -> result.put(k, committed.get(k)));
            return result;
        }
    }
}
