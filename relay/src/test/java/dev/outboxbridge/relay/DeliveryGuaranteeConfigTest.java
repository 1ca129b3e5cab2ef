package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.relay.internal.EngineProperties;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

/** delivery.guarantee: the default, what exactly_once derives, and the settings that contradict it (refused, never fixed). */
class DeliveryGuaranteeConfigTest {

    private static Map<String, String> exactlyOnce() {
        Map<String, String> m = RelayConfigTest.minimal();
        m.put(RelayConfig.DELIVERY_GUARANTEE, RelayConfig.EXACTLY_ONCE);
        m.put(RelayConfig.FIRST_START_SNAPSHOT, "false");
        return m;
    }

    @Test
    void theFirstStartSnapshotIsRefusedWithExactlyOnce() {
        Map<String, String> m = exactlyOnce();
        m.remove(RelayConfig.FIRST_START_SNAPSHOT); // on by default
        assertThatThrownBy(() -> RelayConfig.of(m)).isInstanceOf(ConfigException.class)
                .hasMessageContaining(RelayConfig.FIRST_START_SNAPSHOT).hasMessageContaining("Fix: set "
                        + RelayConfig.FIRST_START_SNAPSHOT + "=false");
    }

    @Test
    void atLeastOnceByDefaultWithoutTransactionalId() {
        RelayConfig c = RelayConfig.of(RelayConfigTest.minimal());
        assertThat(c.exactlyOnce()).isFalse();
        assertThat(EngineProperties.producer(c)).doesNotContainKey("transactional.id").containsEntry("enable.idempotence", "true");
    }

    @Test
    void exactlyOnceDerivesOneTransactionalIdPerDatabaseAndSlot() {
        Map<String, String> m = exactlyOnce();
        m.put(RelayConfig.SLOT_NAME, "Orders_Slot");
        m.put(RelayConfig.NAME, "relay-a");
        RelayConfig a = RelayConfig.of(m);
        m.put(RelayConfig.NAME, "relay-b"); // another relay of the same slot: the same id, so it fences the first
        RelayConfig b = RelayConfig.of(m);
        assertThat(a.transactionalId()).isEqualTo("outbox-relay-orders-orders_slot").isEqualTo(b.transactionalId());
        assertThat(EngineProperties.producer(a)).containsEntry("transactional.id", "outbox-relay-orders-orders_slot")
                .containsEntry("enable.idempotence", "true").containsEntry("acks", "all");
        assertThat(EngineProperties.engine(a, "instance")).containsEntry("isolation.level", "read_committed");
    }

    @Test
    void transactionalIdMayBeNamed() {
        Map<String, String> m = exactlyOnce();
        m.put(RelayConfig.DELIVERY_TRANSACTIONAL_ID, "shop-outbox");
        assertThat(EngineProperties.producer(RelayConfig.of(m))).containsEntry("transactional.id", "shop-outbox");
    }

    @Test
    void aProducerTransactionalIdIsRefusedWithTheSettingToUse() {
        Map<String, String> m = exactlyOnce();
        m.put("kafka.producer.transactional.id", "mine");
        assertThatThrownBy(() -> RelayConfig.of(m)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("kafka.producer.transactional.id").hasMessageContaining(RelayConfig.DELIVERY_TRANSACTIONAL_ID);
    }

    @Test
    void idempotenceOffOrWeakAcksContradictExactlyOnce() {
        Map<String, String> idempotence = exactlyOnce();
        idempotence.put("kafka.producer.enable.idempotence", "false");
        assertThatThrownBy(() -> RelayConfig.of(idempotence)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("kafka.producer.enable.idempotence");
        Map<String, String> acks = exactlyOnce();
        acks.put("kafka.producer.acks", "1");
        assertThatThrownBy(() -> RelayConfig.of(acks)).isInstanceOf(ConfigException.class).hasMessageContaining("kafka.producer.acks");
    }

    @Test
    void exactlyOnceNeedsThePositionInKafka() {
        Map<String, String> m = exactlyOnce();
        m.put(RelayConfig.OFFSET_STORAGE, RelayConfig.OFFSET_STORAGE_FILE);
        m.put(RelayConfig.HA_ENABLED, "false");
        assertThatThrownBy(() -> RelayConfig.of(m)).isInstanceOf(ConfigException.class)
                .hasMessageContaining(RelayConfig.DELIVERY_GUARANTEE).hasMessageContaining("offset.storage=kafka");
    }

    @Test
    void aTransactionalIdWithoutExactlyOnceIsRefused() {
        Map<String, String> m = RelayConfigTest.minimal();
        m.put(RelayConfig.DELIVERY_TRANSACTIONAL_ID, "shop-outbox");
        assertThatThrownBy(() -> RelayConfig.of(m)).isInstanceOf(ConfigException.class)
                .hasMessageContaining(RelayConfig.DELIVERY_TRANSACTIONAL_ID).hasMessageContaining(RelayConfig.EXACTLY_ONCE);
    }

    @Test
    void theStoreIsolationLevelIsTheRelays() {
        Map<String, String> m = RelayConfigTest.minimal();
        m.put("debezium.isolation.level", "read_uncommitted");
        assertThatThrownBy(() -> RelayConfig.of(m)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("debezium.isolation.level");
    }
}
