package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A PostgreSQL server without logical decoding: its own throwaway server, since the testkit's runs wal_level=logical. */
class WalLevelIT {

    @Test
    void refusesToStartWhenWalLevelIsNotLogical() throws Exception {
        try (EmbeddedPostgres pg = EmbeddedPostgres.builder().setServerConfig("wal_level", "replica")
                .setPGStartupWait(Duration.ofSeconds(60)).setRegisterShutdownHook(false).start()) {
            Map<String, String> m = new HashMap<>();
            m.put(RelayConfig.DATABASE_HOSTNAME, "localhost");
            m.put(RelayConfig.DATABASE_PORT, String.valueOf(pg.getPort()));
            m.put(RelayConfig.DATABASE_DBNAME, "postgres");
            m.put(RelayConfig.DATABASE_USER, "postgres");
            m.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, "localhost:9"); // never reached: the database check comes first
            Relay relay = Relay.create(RelayConfig.of(m));
            assertThatThrownBy(relay::start).isInstanceOf(RelayException.class)
                    .hasMessageContaining("wal_level=replica").hasMessageContaining("Fix: set wal_level = logical");
            assertThat(relay.state()).isEqualTo(Relay.State.FAILED);
            relay.close();
        }
    }
}
