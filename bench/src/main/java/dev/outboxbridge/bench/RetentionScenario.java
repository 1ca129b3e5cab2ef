package dev.outboxbridge.bench;

import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.db.OutboxBridgeMigrations;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxCleanup;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.TestDatabase;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Issue 15's retention benchmark: the same N events written through outbox-core into a fresh database per retention
 * mode (docs/outbox-retention.md), reporting the write rate against keeping every row, the WAL written per event, and
 * the outbox table's size, live rows and dead tuples when the writing ends and after the mode's cleanup step (the job's
 * final run, then a plain VACUUM). No relay runs: the database cost only (OutboxRetentionIT checks that every mode
 * still publishes everything through the relay).
 */
final class RetentionScenario {

    static final List<String> MODES = List.of("keep rows (no retention)", "delete in transaction", "cleanup job",
            "partitioned table");

    private final BenchContext ctx;

    RetentionScenario(BenchContext ctx) {
        this.ctx = ctx;
    }

    Map<String, Object> run() throws Exception {
        BenchOptions o = ctx.options();
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("method", String.format("%,d events of %d bytes per mode, %d writer threads, transactions of %d event(s),"
                + " through outbox-core, each mode on a fresh database; no relay running; cleanup job: retention %d s, every 1 s,"
                + " batches of %d rows; partitioned: the job drops the day's partition after the writing",
                o.retentionEvents(), o.payloadBytes(), o.retentionWriters(), o.retentionTxSize(), o.retentionCleanupSeconds(),
                OutboxCleanup.Builder.DEFAULT_BATCH_SIZE));
        // unmeasured warm-up, so the first mode does not pay the JIT compilation of the append path for the others
        long warmup = Math.min(20_000, o.retentionEvents() / 10);
        if (warmup > 0) {
            try (TestDatabase db = ctx.postgres().createDatabase("bench_retention_warmup").migrateOutbox();
                    HikariDataSource pool = BenchWorkload.pool(db, "retention-warmup", o.retentionWriters())) {
                AtomicLong written = new AtomicLong();
                ctx.progress().phase("retention: warm-up", written::get, warmup);
                write(pool, Outbox.create(OutboxConfig.defaults()), warmup, written);
            }
        }
        result.put("warmup_events", warmup);
        Map<String, Object> modes = new LinkedHashMap<>();
        for (int mode = 0; mode < MODES.size(); mode++) {
            modes.put(MODES.get(mode), runMode(mode));
        }
        result.put("modes", modes);
        return result;
    }

    private Map<String, Object> runMode(int mode) throws Exception {
        BenchOptions o = ctx.options();
        String name = MODES.get(mode);
        Map<String, Object> m = new LinkedHashMap<>();
        try (TestDatabase db = ctx.postgres().createDatabase("bench_retention")) {
            if (mode == 3) {
                OutboxBridgeMigrations.outboxPartitioned(db.dataSource()).migrate();
            } else {
                OutboxBridgeMigrations.outbox(db.dataSource()).migrate();
            }
            Outbox outbox = Outbox.create(OutboxConfig.builder().deleteInTransaction(mode == 1).build());
            OutboxCleanup job = mode == 2 ? OutboxCleanup.builder(db.dataSource())
                    .retention(Duration.ofSeconds(o.retentionCleanupSeconds())).interval(Duration.ofSeconds(1)).build() : null;
            long walBefore = walLsn(db);
            AtomicLong written = new AtomicLong();
            ctx.progress().phase("retention: " + name, written::get, o.retentionEvents());
            long t0 = System.nanoTime();
            try (HikariDataSource pool = BenchWorkload.pool(db, "retention", o.retentionWriters())) {
                if (job != null) {
                    job.start();
                }
                write(pool, outbox, o.retentionEvents(), written);
            } finally {
                if (job != null) {
                    job.close();
                }
            }
            long t1 = System.nanoTime();
            double rate = o.retentionEvents() / ((t1 - t0) / 1e9);
            m.put("events", o.retentionEvents());
            m.put("events_per_s", Math.round(rate));
            m.put("wal_bytes_per_event", Math.round((walLsn(db) - walBefore) / (double) o.retentionEvents()));
            if (job != null) {
                m.put("deleted_while_writing", job.totals().deletedRows());
            }
            m.put("after_writing", tableFigures(db));

            // the mode's cleanup step: what the job does once everything is older than the retention
            long c0 = System.nanoTime();
            if (mode == 2 || mode == 3) {
                Instant later = Instant.now().plus(mode == 2 ? Duration.ofHours(1) : Duration.ofDays(4));
                try (OutboxCleanup last = OutboxCleanup.builder(db.dataSource()).retention(mode == 2 ? Duration.ofSeconds(
                        o.retentionCleanupSeconds()) : Duration.ofDays(1)).clock(Clock.fixed(later, ZoneOffset.UTC)).build()) {
                    OutboxCleanup.Result r = last.runOnce();
                    m.put("final_run", Map.of("deleted_rows", r.deletedRows(), "dropped_partitions", r.droppedPartitions(),
                            "ms", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - c0)));
                }
            }
            BenchWorkload.execute(db, "VACUUM outbox_event");
            m.put("after_cleanup_and_vacuum", tableFigures(db));
            ctx.progress().log(String.format("  retention, %s: %,.0f events/s, after writing %s, after cleanup + VACUUM %s", name, rate,
                    m.get("after_writing"), m.get("after_cleanup_and_vacuum")));
        }
        return m;
    }

    private void write(HikariDataSource pool, Outbox outbox, long events, AtomicLong written) throws Exception {
        BenchOptions o = ctx.options();
        int writers = o.retentionWriters();
        int txSize = o.retentionTxSize();
        AtomicInteger threadNo = new AtomicInteger();
        ExecutorService exec = Executors.newFixedThreadPool(writers, r -> new Thread(r, "bench-retention-writer-" + threadNo.incrementAndGet()));
        try {
            List<Future<?>> futures = new ArrayList<>();
            long per = events / writers;
            for (int w = 0; w < writers; w++) {
                long mine = w == writers - 1 ? events - per * (writers - 1) : per;
                long seed = 2000 + w;
                futures.add(exec.submit(() -> {
                    SplittableRandom random = new SplittableRandom(seed);
                    try (Connection c = pool.getConnection()) {
                        c.setAutoCommit(false);
                        long done = 0;
                        List<OutboxEvent> batch = new ArrayList<>(txSize);
                        while (done < mine) {
                            batch.clear();
                            int n = (int) Math.min(txSize, mine - done);
                            for (int i = 0; i < n; i++) {
                                batch.add(BenchWorkload.event(null, done + i, o.aggregates(), o.payloadBytes(), random));
                            }
                            if (n == 1) {
                                outbox.append(c, batch.get(0));
                            } else {
                                outbox.appendAll(c, batch);
                            }
                            c.commit();
                            done += n;
                            written.addAndGet(n);
                        }
                        c.setAutoCommit(true);
                        try (Statement s = c.createStatement()) {
                            s.execute("SELECT pg_stat_force_next_flush()"); // this backend's table statistics, now
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } finally {
            exec.shutdown();
            if (!exec.awaitTermination(30, TimeUnit.SECONDS)) {
                exec.shutdownNow();
            }
        }
    }

    /** Size (table, indexes, TOAST, every partition), live rows and dead tuples of the outbox table, as PostgreSQL counts them. */
    private static Map<String, Object> tableFigures(TestDatabase db) throws Exception {
        Map<String, Object> f = new LinkedHashMap<>();
        // the table itself (pg_partition_tree returns no row for a plain table) and every partition
        String tree = "(SELECT 'outbox_event'::regclass AS relid UNION SELECT relid FROM pg_partition_tree('outbox_event'))";
        f.put("size_mib", Math.round(BenchContext.queryLong(db, "SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM " + tree)
                / 1048576.0 * 10) / 10.0);
        f.put("rows", BenchContext.queryLong(db, "SELECT count(*) FROM outbox_event"));
        f.put("dead_tuples", BenchContext.queryLong(db, "SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables WHERE relid IN " + tree));
        f.put("autovacuums", BenchContext.queryLong(db, "SELECT coalesce(sum(autovacuum_count), 0) FROM pg_stat_user_tables WHERE relid IN " + tree));
        return f;
    }

    private static long walLsn(TestDatabase db) throws Exception {
        return BenchContext.queryLong(db, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint");
    }
}
