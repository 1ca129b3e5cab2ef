package dev.outboxbridge.bench;

import dev.outboxbridge.testkit.KafkaServer;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.common.config.ConfigResource;

/** The servers, settings and output shared by the scenarios of one run. */
record BenchContext(PostgresServer postgres, KafkaServer kafka, BenchOptions options, Progress progress, Path outDir, Path workDir) {

    Contender.Target target(TestDatabase db, String slot, String publication, String topicPrefix) {
        return new Contender.Target(db.host(), db.port(), db.name(), db.user(), db.password(), slot, publication,
                kafka.bootstrapServers(), topicPrefix, workDir);
    }

    /** The relay's own publication, created by {@link #createPublication} as the relay creates it (with a column list). */
    static final String RELAY_PUBLICATION = "bench_relay_pub";

    /**
     * The peers' publication (every column, as a Debezium user creates it) and the relay's, {@link #RELAY_PUBLICATION}, as the
     * relay's preflight creates it on PostgreSQL 15+: only the columns it reads. Both exist before any WAL is written, since
     * logical decoding reads a publication as of each change.
     */
    static void createPublication(TestDatabase db, String publication) throws Exception {
        BenchWorkload.execute(db, "CREATE PUBLICATION " + publication + " FOR TABLE public.outbox_event WITH (publish = 'insert')");
        boolean columnList = queryLong(db, "SELECT current_setting('server_version_num')::int") >= 150000;
        BenchWorkload.execute(db, "CREATE PUBLICATION " + RELAY_PUBLICATION + " FOR TABLE public.outbox_event"
                + (columnList ? " (id, aggregatetype, aggregateid, type, payload, headers)" : "") + " WITH (publish = 'insert')");
    }

    static void createSlot(TestDatabase db, String slot) throws Exception {
        BenchWorkload.execute(db, "SELECT pg_create_logical_replication_slot('" + slot + "', 'pgoutput')");
    }

    /** Drops a slot, waiting for its walsender to go away. */
    static void dropSlot(TestDatabase db, String slot) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            try (Connection c = db.connect(); Statement s = c.createStatement()) {
                s.execute("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '" + slot
                        + "' AND active_pid IS NOT NULL");
                s.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot + "'");
                return;
            } catch (Exception e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(200);
            }
        }
    }

    static long queryLong(TestDatabase db, String sql) throws Exception {
        try (Connection c = db.connect(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static String queryString(TestDatabase db, String sql) throws Exception {
        try (Connection c = db.connect(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    /** The postmaster pid of the server (parent of a backend), for the CPU split. */
    static long postmasterPid(TestDatabase db) {
        try (Connection c = db.connect(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            return CpuAccounting.postmasterOf(rs.getLong(1)); // while the backend is alive
        } catch (Exception e) {
            return -1;
        }
    }

    /** Creates a topic whose record timestamps are the broker's append time (the ack time). */
    static void createLogAppendTimeTopic(TestKafka ns, String topic, int partitions) throws Exception {
        ns.createTopic(topic, partitions);
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Map<ConfigResource, java.util.Collection<AlterConfigOp>> ops = new HashMap<>();
        ops.put(r, List.of(new AlterConfigOp(new ConfigEntry("message.timestamp.type", "LogAppendTime"), AlterConfigOp.OpType.SET)));
        ns.admin().incrementalAlterConfigs(ops).all().get(30, TimeUnit.SECONDS);
    }

    /** Waits until {@code done} reaches {@code target}, checking the contender; returns the nanoTime it did. */
    static long awaitCount(LongSupplier done, long target, Contender contender, long timeoutMs) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (done.getAsLong() < target) {
            if (contender != null) {
                contender.checkHealthy();
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("Timed out after " + timeoutMs + " ms: " + done.getAsLong() + " of " + target
                        + (contender == null ? "" : " published by " + contender.name()));
            }
            Thread.sleep(2);
        }
        return System.nanoTime();
    }
}
