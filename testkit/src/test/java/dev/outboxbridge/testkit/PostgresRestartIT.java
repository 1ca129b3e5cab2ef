package dev.outboxbridge.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@link PostgresServer#restartImmediately(Duration)} crashes the embedded server and brings it back as it was. */
@ExtendWith(OutboxBridgeExtension.class)
class PostgresRestartIT {

    @Test
    void immediateRestartRunsCrashRecoveryAndKeepsPortCommittedRowsAndSlots(PostgresServer pg, TestDatabase db) throws Exception {
        assumeTrue(pg.canRestart(), "an external server cannot be restarted by the testkit");
        PostgresProcess process = ((PostgresCluster) pg).process();
        long pidBefore = process.postmasterPid();
        String slot = db.uniqueName("slot");
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE restart_probe (id int primary key)");
            s.execute("INSERT INTO restart_probe VALUES (1)");
            s.execute("SELECT pg_create_logical_replication_slot('" + slot + "', 'pgoutput')");
        }
        try (Connection open = db.connect()) {
            open.setAutoCommit(false);
            try (Statement s = open.createStatement()) {
                s.execute("INSERT INTO restart_probe VALUES (2)"); // never committed: lost with the crash
            }

            Duration unavailable = pg.restartImmediately(Duration.ofMillis(300));

            assertThat(unavailable).isGreaterThanOrEqualTo(Duration.ofMillis(300));
            assertThatThrownBy(open::commit).as("the connection of an open transaction is cut").isInstanceOf(SQLException.class);
        }
        assertThat(process.postmasterPid()).as("a new postmaster").isNotEqualTo(pidBefore);
        assertThat(Files.readString(process.restartLog())).as("crash recovery ran: the shutdown was immediate")
                .contains("not properly shut down");
        // same port: the database's JDBC URL, made before the restart, still works
        assertThat(db.count("SELECT count(*) FROM restart_probe WHERE id = 1")).as("committed row").isEqualTo(1);
        assertThat(db.count("SELECT count(*) FROM restart_probe WHERE id = 2")).as("uncommitted row").isZero();
        assertThat(db.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?", slot)).as("slot").isEqualTo(1);
        assertThat(db.count("SELECT count(*) FROM pg_settings WHERE name = 'wal_level' AND setting = 'logical'"))
                .as("same settings").isEqualTo(1);
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            s.execute("SELECT pg_drop_replication_slot('" + slot + "')");
        }

        // a second restart does not pile up options (postmaster.opts is rewritten from what pg_ctl passed)
        pg.restartImmediately(Duration.ZERO);
        assertThat(PostgresProcess.parseOptions(Files.readString(process.dataDirectory().resolve("postmaster.opts")).trim()))
                .filteredOn("-D"::equals).hasSize(1);
    }
}
