package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/** The slot must not hold WAL while the outbox is idle, and a slot that lost its history must stop the relay. */
@ExtendWith(OutboxBridgeExtension.class)
class WalSafetyIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final long WAL_WRITTEN = 16L * 1024 * 1024;

    @TempDir
    Path dir;

    private static long retainedWalBytes(TestDatabase db, String slot) throws Exception {
        try (Connection c = db.connect(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) FROM pg_replication_slots WHERE slot_name = '" + slot + "'")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static String currentLsn(Statement s) throws Exception {
        try (ResultSet rs = s.executeQuery("SELECT pg_current_wal_lsn()")) {
            rs.next();
            return rs.getString(1);
        }
    }

    /**
     * With exactly_once every heartbeat is a Kafka transaction holding only the position (no event): the slot must move
     * as it does with at_least_once, and the transactions must make nothing visible to a read_committed reader.
     */
    @ParameterizedTest(name = "delivery.guarantee={0}")
    @ValueSource(strings = {RelayConfig.AT_LEAST_ONCE, RelayConfig.EXACTLY_ONCE})
    void slotAdvancesWhileOnlyOtherTablesAreWrittenWithALeastPrivilegeRole(String guarantee, TestDatabase db, TestKafka kafka)
            throws Exception {
        Map<String, String> m = RelayIT.relaySettings(db, kafka, dir);
        m.put(RelayConfig.DELIVERY_GUARANTEE, guarantee);
        if (RelayConfig.EXACTLY_ONCE.equals(guarantee)) {
            m.put(RelayConfig.FIRST_START_SNAPSHOT, "false"); // not supported with exactly_once (refused)
        }
        String role = db.uniqueName("relay_role");
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            // what an operator grants the relay: REPLICATION and SELECT on the outbox table, no write access anywhere
            s.execute("CREATE ROLE " + role + " LOGIN REPLICATION PASSWORD 'relay-pw'");
            s.execute("GRANT SELECT ON outbox_event TO " + role);
            s.execute("CREATE PUBLICATION " + m.get(RelayConfig.PUBLICATION_NAME) + " FOR TABLE outbox_event WITH (publish = 'insert')");
            s.execute("CREATE TABLE busy_table (id bigserial primary key, data text)");
        }
        m.put(RelayConfig.DATABASE_USER, role);
        m.put(RelayConfig.DATABASE_PASSWORD, "relay-pw");
        m.put(RelayConfig.PUBLICATION_CREATE, "false");
        m.put(RelayConfig.HEARTBEAT_INTERVAL_MS, "500");
        String slot = m.get(RelayConfig.SLOT_NAME);
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 1);
        try (Relay relay = Relay.create(RelayConfig.of(m))) {
            relay.start();
            try (Connection c = db.connect()) {
                c.setAutoCommit(false);
                Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build())
                        .append(c, OutboxEvent.of("order", "o-1", "Placed", "{}"));
                c.commit();
            }
            kafka.readAll(topic, 1, TIMEOUT);
            try (Connection c = db.connect(); Statement s = c.createStatement()) {
                String before = currentLsn(s);
                // only another table is written: the outbox stays idle
                s.execute("INSERT INTO busy_table (data) SELECT repeat('x', 1000) FROM generate_series(1, " + WAL_WRITTEN / 1000 + ")");
                try (ResultSet rs = s.executeQuery("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '" + before + "')")) {
                    rs.next();
                    assertThat(rs.getLong(1)).as("WAL written to the other table").isGreaterThan(WAL_WRITTEN);
                }
            }
            await().atMost(TIMEOUT).until(() -> retainedWalBytes(db, slot) < 1024 * 1024);
            assertThat(relay.state()).isEqualTo(Relay.State.RUNNING);
            assertThat(relay.publishedCount()).as("heartbeats are never published").isEqualTo(1);
            assertThat(kafka.readAll(topic, TIMEOUT)).as("read_committed, to the end offsets: the one event, once").hasSize(1);
        } finally {
            try (Connection c = db.connect(); Statement s = c.createStatement()) {
                s.execute("DROP OWNED BY " + role);
                s.execute("DROP ROLE " + role);
            }
        }
    }

    @Test
    void failsLoudlyWhenPostgresInvalidatesTheSlotWhileRunning(TestDatabase db, TestKafka kafka) throws Exception {
        Map<String, String> m = RelayIT.relaySettings(db, kafka, dir);
        m.put(RelayConfig.HEARTBEAT_INTERVAL_MS, "0"); // nothing moves the slot while the outbox is idle: it holds the WAL
        String slot = m.get(RelayConfig.SLOT_NAME);
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 1);
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE busy_table (id bigserial primary key, data text)");
        }
        try (Relay relay = Relay.create(RelayConfig.of(m))) {
            relay.start();
            write(db, outbox, "before");
            kafka.readAll(topic, 1, TIMEOUT);
            try (Connection c = db.connect(); Statement s = c.createStatement()) {
                s.execute("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'"); // the server gives up a slot that falls 1 MiB behind
                s.execute("SELECT pg_reload_conf()");
                try {
                    for (int i = 0; i < 8 && relay.state() != Relay.State.FAILED && !"lost".equals(walStatus(db, slot)); i++) {
                        s.execute("INSERT INTO busy_table (data) SELECT repeat('x', 1000) FROM generate_series(1, 16384)");
                        s.execute("CHECKPOINT"); // invalidates slots that hold more than max_slot_wal_keep_size
                    }
                    assertThat(relay.awaitTermination(TIMEOUT)).as("the relay stops by itself").isTrue();
                } finally {
                    s.execute("ALTER SYSTEM RESET max_slot_wal_keep_size");
                    s.execute("SELECT pg_reload_conf()");
                }
            }
            assertThat(relay.state()).isEqualTo(Relay.State.FAILED);
            assertThat(relay.failure()).get().extracting(Throwable::getMessage).asString().contains("'" + slot + "'")
                    .contains("wal_status=lost").contains("republish");
        }
    }

    private static String walStatus(TestDatabase db, String slot) throws Exception {
        try (Connection c = db.connect(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(
                "SELECT wal_status FROM pg_replication_slots WHERE slot_name = '" + slot + "'")) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    @Test
    void failsLoudlyWhenSlotWasRecreated(TestDatabase db, TestKafka kafka) throws Exception {
        Map<String, String> m = RelayIT.relaySettings(db, kafka, dir);
        String slot = m.get(RelayConfig.SLOT_NAME);
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 1);
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
        RelayConfig config = RelayConfig.of(m);
        try (Relay relay = Relay.create(config)) {
            relay.start();
            write(db, outbox, "before");
            kafka.readAll(topic, 1, TIMEOUT);
        }
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            await().atMost(TIMEOUT).until(() -> db.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ? AND active", slot) == 0);
            s.execute("SELECT pg_drop_replication_slot('" + slot + "')");
        }
        write(db, outbox, "lost-with-the-dropped-slot"); // in the WAL only: no slot keeps it for the relay
        try (Relay relay = Relay.create(config)) {
            relay.start(); // recreates the slot (slot.create=true), now ahead of the stored position
            assertThat(relay.awaitTermination(TIMEOUT)).isTrue();
            assertThat(relay.state()).isEqualTo(Relay.State.FAILED);
            assertThat(relay.failure()).get().extracting(Throwable::getMessage).asString()
                    .contains("behind replication slot '" + slot + "'").contains("republish");
        }
        assertThat(kafka.readAll(topic, 1, Duration.ofSeconds(2))).as("nothing published from the wrong position").hasSize(1);
    }

    private static void write(TestDatabase db, Outbox outbox, String payload) throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            outbox.appendAll(c, List.of(OutboxEvent.of("order", "o-1", "Placed", payload)));
            c.commit();
        }
    }
}
