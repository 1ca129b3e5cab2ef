package dev.outboxbridge.relay;

import dev.outboxbridge.testsupport.SequenceWriter;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.db.TableName;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import dev.outboxbridge.testsupport.RelayRole;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** The relay runs with the documented least-privilege role: LOGIN, REPLICATION, SELECT on the outbox table, nothing else. */
@ExtendWith(OutboxBridgeExtension.class)
class LeastPrivilegeRelayIT {

    @TempDir
    Path dir;

    private TestDatabase database;
    private String role;

    @AfterEach
    void dropRole() throws SQLException {
        if (role != null) {
            try (Connection c = database.connect()) {
                RelayRole.drop(c, role);
            }
        }
    }

    @Test
    void relayPublishesWithTheLeastPrivilegeRoleAndCannotTouchAnythingElse(TestDatabase db, TestKafka kafka) throws Exception {
        database = db;
        role = db.uniqueName("relay");
        String publication = db.uniqueName("pub");
        String password = "pw-" + System.nanoTime();
        try (Connection owner = db.connect(); Statement s = owner.createStatement()) {
            s.execute("CREATE TABLE customer_secret (id int PRIMARY KEY, card text)");
            RelayRole.create(owner, role, password, TableName.parse("public.outbox_event"), publication);
        }
        String topicPrefix = kafka.prefix() + "outbox.event.";
        kafka.createTopic(topicPrefix + "order", 1);
        Map<String, String> settings = ProcessSettings.of(db, kafka.bootstrapServers(), topicPrefix);
        settings.put(RelayConfig.DATABASE_USER, role);
        settings.put(RelayConfig.DATABASE_PASSWORD, password);
        settings.put(RelayConfig.PUBLICATION_NAME, publication);
        settings.put(RelayConfig.PUBLICATION_CREATE, "false");

        try (Relay relay = Relay.create(RelayConfig.of(settings))) {
            relay.start();
            Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(topicPrefix).build());
            try (Connection c = db.connect()) {
                c.setAutoCommit(false);
                outbox.append(c, OutboxEvent.of("order", "o-1", "OrderPlaced", "{}"));
                c.commit();
            }
            assertThat(kafka.readAll(topicPrefix + "order", 1, Duration.ofSeconds(90))).hasSize(1);
        }

        Properties asRelay = new Properties();
        asRelay.setProperty("user", role);
        asRelay.setProperty("password", password);
        try (Connection c = DriverManager.getConnection(db.jdbcUrl(), asRelay); Statement s = c.createStatement()) {
            try (var rs = s.executeQuery("SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = current_user")) {
                rs.next();
                assertThat(rs.getBoolean(1)).as("superuser").isFalse();
                assertThat(rs.getBoolean(2)).as("replication").isTrue();
            }
            assertThat(s.executeQuery("SELECT count(*) FROM outbox_event").next()).isTrue();
            assertThatThrownBy(() -> s.execute("INSERT INTO outbox_event (id, aggregatetype, aggregateid, type, payload)"
                    + " VALUES (gen_random_uuid(), 'order', 'o', 't', '\\x00')"))
                    .hasMessageContaining("permission denied");
            assertThatThrownBy(() -> s.executeQuery("SELECT * FROM customer_secret")).hasMessageContaining("permission denied");
        }
    }
}
