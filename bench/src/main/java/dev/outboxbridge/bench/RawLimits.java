package dev.outboxbridge.bench;

import dev.outboxbridge.testkit.TestDatabase;
import java.nio.ByteBuffer;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.postgresql.PGConnection;
import org.postgresql.PGProperty;
import org.postgresql.replication.PGReplicationStream;

/** The machine's limits for the same backlog: raw pgoutput decoding, and the raw producer. */
final class RawLimits {

    private RawLimits() {
    }

    /**
     * Streams the slot with the PostgreSQL JDBC replication protocol (pgoutput, proto_version 1,
     * the same publication) and counts Insert messages until {@code expected}; nothing is parsed
     * beyond the message type. This is what any WAL-based relay has to wait for at least.
     *
     * @return nanoseconds from opening the stream to the last insert received
     */
    static long decode(TestDatabase db, String slot, String publication, long expected, AtomicLong seen, long timeoutMs,
            java.util.function.Consumer<Map<String, Object>> cpuAtEnd, CpuAccounting cpu) throws Exception {
        Properties props = new Properties();
        PGProperty.USER.set(props, db.user());
        PGProperty.PASSWORD.set(props, db.password() == null ? "" : db.password());
        PGProperty.ASSUME_MIN_SERVER_VERSION.set(props, "10");
        PGProperty.REPLICATION.set(props, "database");
        PGProperty.PREFER_QUERY_MODE.set(props, "simple");
        long start = System.nanoTime();
        long deadline = start + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        try (Connection c = DriverManager.getConnection(db.jdbcUrl(), props)) {
            PGReplicationStream stream = c.unwrap(PGConnection.class).getReplicationAPI().replicationStream().logical()
                    .withSlotName(slot)
                    .withSlotOption("proto_version", "1")
                    .withSlotOption("publication_names", publication)
                    .withStatusInterval(1, TimeUnit.SECONDS)
                    .start();
            long inserts = 0;
            while (inserts < expected) {
                ByteBuffer buf = stream.readPending();
                if (buf == null) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("Raw decoding saw only " + inserts + " of " + expected + " inserts");
                    }
                    LockSupport.parkNanos(100_000);
                    continue;
                }
                if (buf.remaining() > 0 && buf.get(buf.position()) == 'I') {
                    inserts++;
                    seen.set(inserts);
                }
                stream.setAppliedLSN(stream.getLastReceiveLSN());
                stream.setFlushedLSN(stream.getLastReceiveLSN());
            }
            long elapsed = System.nanoTime() - start;
            cpuAtEnd.accept(cpu.stop()); // while the walsender still exists
            stream.forceUpdateStatus();
            stream.close();
            return elapsed;
        }
    }

    /** pg_recvlogical of the machine's PostgreSQL client, if any. */
    static java.util.Optional<java.nio.file.Path> pgRecvLogical() {
        List<java.nio.file.Path> candidates = new ArrayList<>();
        try (var dirs = java.nio.file.Files.list(java.nio.file.Path.of("/usr/lib/postgresql"))) {
            dirs.sorted(java.util.Comparator.reverseOrder()).forEach(d -> candidates.add(d.resolve("bin/pg_recvlogical")));
        } catch (java.io.IOException e) {
            // no Debian PostgreSQL client
        }
        candidates.add(java.nio.file.Path.of("/usr/bin/pg_recvlogical"));
        return candidates.stream().filter(java.nio.file.Files::isExecutable).findFirst();
    }

    /**
     * Streams the slot with {@code pg_recvlogical} (pgoutput, proto_version 1, the publication) to
     * /dev/null and stops once its walsender has sent everything up to {@code endLsn} (polled in
     * pg_stat_replication every 5 ms).
     *
     * @return nanoseconds from the process start until the walsender's sent_lsn reached endLsn
     */
    static long recvLogical(java.nio.file.Path binary, TestDatabase db, String slot, String publication, String endLsn, long timeoutMs,
            java.util.function.Consumer<Map<String, Object>> cpuAtEnd, CpuAccounting cpu) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(binary.toString(), "-h", db.host(), "-p", String.valueOf(db.port()), "-U", db.user(),
                "-d", db.name(), "--slot", slot, "--start", "--no-loop", "-o", "proto_version=1", "-o", "publication_names=" + publication,
                "-f", "/dev/null").redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        if (db.password() != null && !db.password().isEmpty()) {
            pb.environment().put("PGPASSWORD", db.password());
        }
        long start = System.nanoTime();
        Process p = pb.start();
        try (Connection c = db.connect();
                PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM pg_stat_replication r JOIN pg_replication_slots s"
                        + " ON s.active_pid = r.pid WHERE s.slot_name = ? AND r.sent_lsn >= ?::pg_lsn")) {
            ps.setString(1, slot);
            ps.setString(2, endLsn);
            long deadline = start + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
            while (true) {
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    if (rs.getLong(1) > 0) {
                        long elapsed = System.nanoTime() - start;
                        cpuAtEnd.accept(cpu.stop());
                        return elapsed;
                    }
                }
                if (!p.isAlive()) {
                    throw new IllegalStateException("pg_recvlogical exited with " + p.exitValue());
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("pg_recvlogical did not reach " + endLsn + " in time");
                }
                Thread.sleep(5);
            }
        } finally {
            p.destroy();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    /** Loads the backlog as the records of the data contract (not timed). */
    static List<ProducerRecord<byte[], byte[]>> loadRecords(TestDatabase db, String topicPrefix, long limit) throws Exception {
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>((int) Math.min(limit, 2_000_000));
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT id, aggregatetype, aggregateid, type, payload FROM outbox_event ORDER BY created_at, id LIMIT ?")) {
                ps.setFetchSize(5000);
                ps.setLong(1, limit);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        records.add(BenchWorkload.record(topicPrefix, rs.getString(1), rs.getString(2), rs.getString(3),
                                rs.getString(4), rs.getBytes(5), System.currentTimeMillis()));
                    }
                }
            }
            c.commit();
        }
        return records;
    }

    /**
     * Sends the records with the contenders' producer settings. {@code batch} = 0: pipelined, one
     * callback per record, then flush (the producer's own limit); otherwise in batches of that size,
     * each sent whole and then waited on record by record (the relay batch contract without any
     * database in the loop).
     *
     * @return nanoseconds from the first send to the last ack
     */
    static long produce(String bootstrapServers, List<ProducerRecord<byte[], byte[]>> records, int batch, AtomicLong acked)
            throws Exception {
        return produce(BenchWorkload.producerProperties(bootstrapServers, "bench-raw-producer-" + batch), records, batch, acked);
    }

    static long produce(Map<String, Object> producerProperties, List<ProducerRecord<byte[], byte[]>> records, int batch, AtomicLong acked)
            throws Exception {
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProperties)) {
            producer.partitionsFor(records.get(0).topic()); // metadata before the clock starts
            long start = System.nanoTime();
            if (batch <= 0) {
                AtomicLong failed = new AtomicLong();
                for (ProducerRecord<byte[], byte[]> r : records) {
                    producer.send(r, (md, e) -> {
                        if (e != null) {
                            failed.incrementAndGet();
                        } else {
                            acked.incrementAndGet();
                        }
                    });
                }
                producer.flush();
                if (failed.get() > 0) {
                    throw new IllegalStateException(failed.get() + " raw producer sends failed");
                }
            } else {
                List<Future<RecordMetadata>> acks = new ArrayList<>(batch);
                for (int i = 0; i < records.size(); i += batch) {
                    acks.clear();
                    for (int j = i; j < Math.min(records.size(), i + batch); j++) {
                        acks.add(producer.send(records.get(j)));
                    }
                    for (Future<RecordMetadata> f : acks) {
                        try {
                            f.get();
                        } catch (ExecutionException e) {
                            throw new IllegalStateException("raw producer send failed: " + e.getCause(), e.getCause());
                        }
                        acked.incrementAndGet();
                    }
                }
            }
            return System.nanoTime() - start;
        }
    }

    static Map<String, Object> figure(long events, long nanos) {
        return Map.of("events", events, "seconds", CpuAccounting.round(nanos / 1e9), "events_per_s", Math.round(events / (nanos / 1e9)));
    }
}
