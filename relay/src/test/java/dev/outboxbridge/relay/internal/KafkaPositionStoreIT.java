package dev.outboxbridge.relay.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.runtime.distributed.DistributedConfig;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestKafka;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The position store's fence: a write goes through only when the relay instance it belongs to says it may publish. */
@ExtendWith(OutboxBridgeExtension.class)
class KafkaPositionStoreIT {

    private static DistributedConfig workerConfig(TestKafka kafka, String instance) {
        Map<String, String> m = new HashMap<>();
        m.put("bootstrap.servers", kafka.bootstrapServers());
        m.put("group.id", "outbox-relay-test");
        m.put("offset.storage.topic", kafka.topic("offsets"));
        m.put("offset.storage.partitions", "1");
        m.put("offset.storage.replication.factor", "1");
        m.put("config.storage.topic", "configs");
        m.put("status.storage.topic", "status");
        m.put("key.converter", "org.apache.kafka.connect.json.JsonConverter");
        m.put("value.converter", "org.apache.kafka.connect.json.JsonConverter");
        if (instance != null) {
            m.put(KafkaPositionStore.FENCE_PROPERTY, instance);
        }
        return new DistributedConfig(m);
    }

    private static Map<ByteBuffer, ByteBuffer> position() {
        return Map.of(ByteBuffer.wrap("key".getBytes(StandardCharsets.UTF_8)), ByteBuffer.wrap("lsn".getBytes(StandardCharsets.UTF_8)));
    }

    private static void assertRefused(KafkaPositionStore store, String... messageParts) throws Exception {
        AtomicReference<Throwable> reported = new AtomicReference<>();
        Future<Void> write = store.set(position(), (error, result) -> reported.set(error));
                ExecutionException e = org.assertj.core.api.Assertions.catchThrowableOfType(ExecutionException.class,
                () -> write.get(60, TimeUnit.SECONDS));
        assertThat(e).isNotNull();
        assertThat(e.getCause()).isInstanceOf(ConnectException.class).hasMessageContainingAll(messageParts);
        assertThat(reported.get()).isSameAs(e.getCause());
    }

    @Test
    void aWriteForARelayInstanceThatIsNotRegisteredIsRefused(TestKafka kafka) throws Exception {
        KafkaPositionStore store = new KafkaPositionStore();
        store.configure(workerConfig(kafka, "no-such-instance"));
        store.start();
        try {
            assertRefused(store, "no-such-instance", "not stored");
        } finally {
            store.stop();
        }
    }

    @Test
    void aWriteWithoutARelayInstanceIsRefused(TestKafka kafka) throws Exception {
        KafkaPositionStore store = new KafkaPositionStore();
        store.configure(workerConfig(kafka, null));
        store.start();
        try {
            assertRefused(store, KafkaPositionStore.FENCE_PROPERTY);
        } finally {
            store.stop();
        }
    }

    @Test
    void aFencedRelayInstanceStoresNoPosition(TestKafka kafka) throws Exception {
        KafkaPositionStore.registerFence("fenced-instance", () -> false);
        KafkaPositionStore store = new KafkaPositionStore();
        store.configure(workerConfig(kafka, "fenced-instance"));
        store.start();
        try {
            assertRefused(store, "lost its lease");
        } finally {
            store.stop();
            KafkaPositionStore.unregisterFence("fenced-instance");
        }
    }
}
