package dev.outboxbridge.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link PostgresStandbyPair}: a failover slot survives kill -9 of the primary and the standby's promotion, resuming
 * right after its last confirmed change; a slot without failover does not.
 */
class PostgresStandbyPairIT {

    @Test
    void failoverSlotSurvivesKillOfThePrimaryAndPromotionOfTheStandby() throws Exception {
        try (PostgresStandbyPair pair = PostgresStandbyPair.start()) {
            String db = pair.createDatabase("pair");
            try (Connection c = pair.connect(db); Statement s = c.createStatement()) {
                s.execute("CREATE TABLE t (id int primary key)");
                s.execute("SELECT pg_create_logical_replication_slot('kept', 'test_decoding', false, false, true)");
                s.execute("SELECT pg_create_logical_replication_slot('lost', 'test_decoding')");
                s.execute("CREATE TABLE other (id int)");
            }
            // PostgreSQL persists the standby's copy once the primary's slot moved past the point the copy started at
            awaitPersistedOnStandby(pair, db);
            try (Connection c = pair.connect(db); Statement s = c.createStatement()) {
                s.execute("INSERT INTO t VALUES (1)");
                s.execute("INSERT INTO t VALUES (2)");
                // consume (and confirm) the change of row 1 only
                s.execute("SELECT * FROM pg_logical_slot_get_changes('kept', NULL, 1)");
            }
            pair.awaitSlotSynced("kept", Duration.ofSeconds(60));

            pair.killPrimary();
            pair.promoteStandby();

            assertThat(pair.currentPrimary()).isSameAs(pair.standby());
            try (Connection c = pair.connect(db); Statement s = c.createStatement()) {
                assertThat(c.getMetaData().getURL()).contains(String.valueOf(pair.standby().port()));
                s.execute("INSERT INTO t VALUES (3)");
                List<String> changes = new ArrayList<>();
                try (ResultSet rs = s.executeQuery("SELECT data FROM pg_logical_slot_get_changes('kept', NULL, NULL)")) {
                    while (rs.next()) {
                        changes.add(rs.getString(1));
                    }
                }
                assertThat(changes).filteredOn(d -> d.startsWith("table public.t: INSERT"))
                        .containsExactly("table public.t: INSERT: id[integer]:2", "table public.t: INSERT: id[integer]:3");
                try (ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'lost'")) {
                    rs.next();
                    assertThat(rs.getInt(1)).as("a slot without failover is not on the promoted standby").isZero();
                }
            }
        }
    }

    @Test
    void aRebuiltStandbyCarriesTheFailoverSlotThroughTheNextFailoverToo() throws Exception {
        try (PostgresStandbyPair pair = PostgresStandbyPair.start()) {
            String db = pair.createDatabase("rebuild");
            try (Connection c = pair.connect(db); Statement s = c.createStatement()) {
                s.execute("CREATE TABLE t (id int primary key)");
                s.execute("SELECT pg_create_logical_replication_slot('kept', 'test_decoding', false, false, true)");
                s.execute("CREATE TABLE other (id int)");
            }
            awaitPersistedOnStandby(pair, db);
            pair.awaitSlotSynced("kept", Duration.ofSeconds(60));
            pair.killPrimary();
            pair.promoteStandby();
            assertThat(pair.hasStandby()).isFalse();

            Duration rebuilt = pair.rebuildStandby();

            assertThat(rebuilt).isPositive();
            assertThat(pair.hasStandby()).isTrue();
            assertThat(pair.currentPrimary()).isSameAs(pair.standby());
            assertThat(pair.currentStandby()).as("the new standby runs on the former primary's port")
                    .hasValueSatisfying(st -> assertThat(st.port()).isEqualTo(pair.primaryPort()));
            // the slot reaches the new standby and is kept there once the primary's copy moved on
            awaitPersistedOnStandby(pair, db);
            try (Connection c = pair.connect(db); Statement s = c.createStatement()) {
                s.execute("INSERT INTO t VALUES (1)");
                s.execute("SELECT * FROM pg_logical_slot_get_changes('kept', NULL, NULL)"); // confirmed up to row 1
                s.execute("INSERT INTO t VALUES (2)"); // acknowledged (synchronous again), not yet decoded
            }
            pair.awaitSlotSynced("kept", Duration.ofSeconds(60));

            pair.killPrimary();
            pair.promoteStandby();

            assertThat(pair.promotions()).isEqualTo(2);
            assertThat(pair.currentPrimary().port()).isEqualTo(pair.primaryPort());
            try (Connection c = pair.connect(db); Statement s = c.createStatement()) {
                assertThat(c.getMetaData().getURL()).contains(String.valueOf(pair.primaryPort()));
                List<String> changes = new ArrayList<>();
                try (ResultSet rs = s.executeQuery("SELECT data FROM pg_logical_slot_get_changes('kept', NULL, NULL)")) {
                    while (rs.next()) {
                        changes.add(rs.getString(1));
                    }
                }
                assertThat(changes).as("the slot resumes after row 1; row 2, acknowledged before the kill, survived")
                        .filteredOn(d -> d.startsWith("table public.t: INSERT")).containsExactly("table public.t: INSERT: id[integer]:2");
            }
        }
    }

    private static void awaitPersistedOnStandby(PostgresStandbyPair pair, String db) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        PostgresServer standbyServer = pair.currentStandby().orElseThrow();
        try (Connection primary = pair.connect(db); Statement p = primary.createStatement();
                Connection standby = java.sql.DriverManager.getConnection(standbyServer.jdbcUrl(db), standbyServer.adminUser(), "");
                Statement s = standby.createStatement()) {
            while (true) {
                p.execute("INSERT INTO other VALUES (1)");
                p.execute("SELECT * FROM pg_logical_slot_get_changes('kept', NULL, NULL)");
                try (ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'kept'"
                        + " AND synced AND NOT temporary")) {
                    rs.next();
                    if (rs.getInt(1) == 1) {
                        return;
                    }
                }
                assertThat(System.nanoTime()).as("the standby persisted its copy of slot 'kept' within 60 s").isLessThan(deadline);
                Thread.sleep(200); // poll interval while awaiting the condition above
            }
        }
    }
}
