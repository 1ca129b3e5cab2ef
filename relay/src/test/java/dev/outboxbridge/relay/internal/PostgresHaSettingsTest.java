package dev.outboxbridge.relay.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The settings of the relay on PostgreSQL HA: the host list and slot.failover. */
class PostgresHaSettingsTest {

    private static RelayConfig config(String... keyValues) {
        Map<String, String> m = new HashMap<>();
        m.put(RelayConfig.DATABASE_HOSTNAME, "db1");
        m.put(RelayConfig.DATABASE_DBNAME, "orders");
        m.put(RelayConfig.DATABASE_USER, "relay");
        m.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, "localhost:9092");
        for (int i = 0; i < keyValues.length; i += 2) {
            m.put(keyValues[i], keyValues[i + 1]);
        }
        return RelayConfig.of(m);
    }

    @Test
    void oneHostKeepsItsUrl() {
        RelayConfig c = config(RelayConfig.DATABASE_PORT, "5433");
        assertThat(c.hasHostList()).isFalse();
        assertThat(c.jdbcUrl()).isEqualTo("jdbc:postgresql://db1:5433/orders");
        assertThat(PrimaryHost.engineConfig(c, "db1:5433")).isSameAs(c);
    }

    @Test
    void hostListReachesThePrimaryAndEachEntryWithoutPortGetsDatabasePort() {
        RelayConfig c = config(RelayConfig.DATABASE_HOSTNAME, "db1, db2:6432", RelayConfig.DATABASE_PORT, "5433");
        assertThat(c.hasHostList()).isTrue();
        assertThat(c.jdbcUrl()).isEqualTo("jdbc:postgresql://db1:5433,db2:6432/orders?targetServerType=primary");
    }

    @Test
    void theEngineGetsTheResolvedPrimaryAsItsOneHost() {
        RelayConfig c = config(RelayConfig.DATABASE_HOSTNAME, "db1,db2:6432", RelayConfig.DATABASE_PORT, "5433");
        RelayConfig engine = PrimaryHost.engineConfig(c, "db2:6432");
        assertThat(EngineProperties.engine(engine, "i").getProperty("database.hostname")).isEqualTo("db2");
        assertThat(EngineProperties.engine(engine, "i").getProperty("database.port")).isEqualTo("6432");
        assertThat(engine.offsetServerName()).as("the stored position's key does not depend on the host").isEqualTo(c.offsetServerName());
    }

    @Test
    void failoverSlotOnSeventeenAndNewer() {
        assertThat(FailoverSlots.decide(config(), 170002)).isTrue();
        assertThat(FailoverSlots.decide(config(RelayConfig.SLOT_FAILOVER, "false"), 180000)).isFalse();
        assertThat(EngineProperties.engine(config(), "i").getProperty("slot.failover")).isEqualTo("true");
    }

    @Test
    void olderServerWarnsWithTheDefaultAndRefusesAnExplicitTrue() {
        assertThat(FailoverSlots.decide(config(), 160004)).as("the default: a plain slot, with a warning").isFalse();
        assertThat(FailoverSlots.decide(config(RelayConfig.SLOT_FAILOVER, "false"), 150000)).isFalse();
        assertThatThrownBy(() -> FailoverSlots.decide(config(RelayConfig.SLOT_FAILOVER, "true"), 160004))
                .isInstanceOf(RelayException.class)
                .hasMessageContaining("slot.failover=true")
                .hasMessageContaining("16.4")
                .hasMessageContaining("Fix: upgrade to PostgreSQL 17+")
                .hasMessageContaining("docs/deployment.md");
    }

    @Test
    void debeziumSlotFailoverIsTheRelaysSetting() {
        assertThatThrownBy(() -> config("debezium.slot.failover", "true"))
                .hasMessageContaining("slot.failover");
    }
}
