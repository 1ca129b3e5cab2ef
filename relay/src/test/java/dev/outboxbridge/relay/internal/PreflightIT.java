package dev.outboxbridge.relay.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.db.OutboxBridgeMigrations;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import dev.outboxbridge.relay.RelaySettings;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.sql.Connection;
import java.sql.Statement;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Preflight's publication checks: its column list, and a partitioned outbox table (the outbox-partitioned migration). */
@ExtendWith(OutboxBridgeExtension.class)
class PreflightIT {

    @Test
    void createsThePublicationOfAPartitionedTableThroughItsRoot(PostgresServer postgres, TestKafka kafka) throws Exception {
        try (TestDatabase db = postgres.createDatabase("preflight")) {
            OutboxBridgeMigrations.outboxPartitioned(db.dataSource()).migrate();
            Map<String, String> settings = RelaySettings.of(db, kafka, "outbox.event.");
            new Preflight(RelayConfig.of(settings)).run();

            String pub = settings.get(RelayConfig.PUBLICATION_NAME);
            assertThat(db.count("SELECT count(*) FROM pg_publication WHERE pubname = ? AND pubviaroot AND pubinsert"
                    + " AND NOT pubdelete AND NOT pubupdate", pub)).isEqualTo(1);
            assertThat(db.count("SELECT count(*) FROM pg_publication_tables WHERE pubname = ? AND tablename = 'outbox_event'", pub))
                    .as("published as the root table").isEqualTo(1);
            new Preflight(RelayConfig.of(settings)).run(); // and accepted when it runs again
        }
    }

    @Test
    void refusesAPublicationThatPublishesThePartitionsAsTablesOfTheirOwn(PostgresServer postgres, TestKafka kafka)
            throws Exception {
        try (TestDatabase db = postgres.createDatabase("preflight")) {
            OutboxBridgeMigrations.outboxPartitioned(db.dataSource()).migrate();
            Map<String, String> settings = RelaySettings.of(db, kafka, "outbox.event.");
            String pub = settings.get(RelayConfig.PUBLICATION_NAME);
            try (Connection c = db.connect(); Statement s = c.createStatement()) {
                s.execute("CREATE PUBLICATION " + pub + " FOR TABLE outbox_event WITH (publish = 'insert')");
            }
            assertThatThrownBy(() -> new Preflight(RelayConfig.of(settings)).run())
                    .isInstanceOf(RelayException.class)
                    .hasMessageContaining("publish_via_partition_root = false")
                    .hasMessageContaining("Fix: ALTER PUBLICATION " + pub + " SET (publish_via_partition_root = true)");
            assertThat(db.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?",
                    settings.get(RelayConfig.SLOT_NAME))).as("no slot created").isZero();
        }
    }

    @Test
    void createsThePublicationWithTheColumnsTheRelayReadsOnly(PostgresServer postgres, TestKafka kafka) throws Exception {
        try (TestDatabase db = postgres.createDatabase("preflight").migrateOutbox()) {
            Map<String, String> settings = RelaySettings.of(db, kafka, "outbox.event.");
            new Preflight(RelayConfig.of(settings)).run();

            String pub = settings.get(RelayConfig.PUBLICATION_NAME);
            try (Connection c = db.connect(); java.sql.PreparedStatement ps = c.prepareStatement(
                    "SELECT attnames::text[] FROM pg_publication_tables WHERE pubname = ?")) {
                ps.setString(1, pub);
                try (java.sql.ResultSet rs = ps.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    if (c.getMetaData().getDatabaseMajorVersion() >= PublicationColumns.SINCE_MAJOR_VERSION) {
                        assertThat((String[]) rs.getArray(1).getArray()).as("no created_at, nothing the relay does not read")
                                .containsExactlyElementsOf(PublicationColumns.READ);
                    }
                }
            }
            new Preflight(RelayConfig.of(settings)).run(); // and accepted when it runs again
        }
    }

    @Test
    void refusesAPublicationWhoseColumnListLeavesOutAColumnTheRelayReads(PostgresServer postgres, TestKafka kafka) throws Exception {
        try (TestDatabase db = postgres.createDatabase("preflight").migrateOutbox(); Connection c = db.connect()) {
            org.junit.jupiter.api.Assumptions.assumeTrue(c.getMetaData().getDatabaseMajorVersion() >= PublicationColumns.SINCE_MAJOR_VERSION,
                    "publication column lists need PostgreSQL 15");
            Map<String, String> settings = RelaySettings.of(db, kafka, "outbox.event.");
            String pub = settings.get(RelayConfig.PUBLICATION_NAME);
            try (Statement s = c.createStatement()) {
                s.execute("CREATE PUBLICATION " + pub + " FOR TABLE outbox_event (id, aggregatetype, aggregateid, type, headers)"
                        + " WITH (publish = 'insert')");
            }
            assertThatThrownBy(() -> new Preflight(RelayConfig.of(settings)).run())
                    .isInstanceOf(RelayException.class)
                    .hasMessageContaining("not [payload]")
                    .hasMessageContaining("Fix: ALTER PUBLICATION " + pub + " SET TABLE public.outbox_event (id, aggregatetype,"
                            + " aggregateid, type, payload, headers)");
            assertThat(db.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?",
                    settings.get(RelayConfig.SLOT_NAME))).as("no slot created").isZero();
        }
    }
}
