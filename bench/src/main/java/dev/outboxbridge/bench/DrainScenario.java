package dev.outboxbridge.bench;

import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Scenario 1, relay drain: a backlog of N outbox rows written while nothing publishes (the slots
 * and the publication exist first), then each contender drains it alone; events/s from its start
 * to the last Kafka ack. In the same run: raw pgoutput decoding of the same backlog and the raw
 * producer for the same records (the limits), Debezium's EventRouter (peer 1) and a polling relay
 * at several batch sizes (peer 2).
 */
final class DrainScenario {

    private static final String PIPELINE_THREADS =
            "^(?!(data-plane|kafka-network|kafka-request|broker-|controller-|raft|quorum|ExpirationReaper|LogDirFailure|kafka-scheduler"
                    + "|group-coordinator|transaction|share|ReplicaFetcher|kafka-log|bench-progress|JFR|metrics)).*";

    private final BenchContext ctx;

    DrainScenario(BenchContext ctx) {
        this.ctx = ctx;
    }

    Map<String, Object> run() throws Exception {
        BenchOptions o = ctx.options();
        Map<String, Object> result = new LinkedHashMap<>();
        if (o.warmupEvents() > 0) {
            result.put("warmup", warmUp(Math.min(o.warmupEvents(), o.events())));
        }
        return measure(result);
    }

    /**
     * Drains a small backlog with the relay and the Debezium peer first, unmeasured, so that
     * neither pays the JIT compilation of Debezium's code (they share it) in its measured drain.
     */
    Map<String, Object> warmUp(long w) throws Exception {
        BenchOptions o = ctx.options();
        Map<String, Object> result = new LinkedHashMap<>();
        try (TestDatabase db = ctx.postgres().createDatabase("bench_warmup").migrateOutbox();
                TestKafka ns = ctx.kafka().newNamespace("bench-warmup");
                HikariDataSource pool = BenchWorkload.pool(db, "warmup", Math.max(2, o.backlogWriters()))) {
            String pub = "bench_pub";
            BenchContext.createPublication(db, pub);
            List<String> kinds = o.exactlyOnce() ? List.of("relay", "debezium", "relay-eos") : List.of("relay", "debezium");
            Map<String, String> warmSlots = new LinkedHashMap<>();
            for (String c : kinds) {
                warmSlots.put(c, db.uniqueName(c.replace("-", "")));
                BenchContext.createSlot(db, warmSlots.get(c));
                ns.createTopic(ns.prefix() + c + "." + BenchWorkload.AGGREGATE_TYPE, o.partitions());
            }
            AtomicLong written = new AtomicLong();
            ctx.progress().phase("drain: warm-up backlog (not measured)", written::get, w);
            BenchWorkload.writeBacklog(pool, w, o.aggregates(), o.payloadBytes(), o.backlogTxSize(), o.backlogWriters(), written);
            for (String kind : kinds) {
                Contender c = contender(kind, ctx.target(db, warmSlots.get(kind), pub, ns.prefix() + kind + "."));
                ctx.progress().phase("drain: warm-up, " + c.name() + " (not measured)", c::published, w);
                long start = System.nanoTime();
                try (c) {
                    c.start();
                    BenchContext.awaitCount(c::published, w, c, o.timeoutMs());
                }
                result.put(kind.replace("-", "_") + "_s", CpuAccounting.round((System.nanoTime() - start) / 1e9));
                BenchContext.dropSlot(db, warmSlots.get(kind));
            }
        }
        result.put("events", w);
        return result;
    }

    private Map<String, Object> measure(Map<String, Object> result) throws Exception {
        BenchOptions o = ctx.options();
        Progress progress = ctx.progress();
        long n = o.events();
        try (TestDatabase db = ctx.postgres().createDatabase("bench_drain").migrateOutbox();
                TestKafka ns = ctx.kafka().newNamespace("bench-drain");
                HikariDataSource pool = BenchWorkload.pool(db, "drain", Math.max(2, o.backlogWriters()))) {
            String pub = "bench_pub";
            BenchContext.createPublication(db, pub);
            String limitSlot = db.uniqueName("limit");
            var recvLogical = RawLimits.pgRecvLogical();
            String recvSlot = db.uniqueName("recvlogical");
            int rounds = Math.max(1, o.drainRounds());
            // the contenders on the same engine, each on its own slot per round: the relay, Debezium's EventRouter and, with
            // --exactly-once, the relay with delivery.guarantee=exactly_once (issue 13)
            List<String> kinds = o.exactlyOnce() ? List.of("relay", "relay-eos", "debezium") : List.of("relay", "debezium");
            Map<String, List<String>> roundSlots = new LinkedHashMap<>();
            for (String kind : kinds) {
                List<String> l = new ArrayList<>();
                for (int r = 1; r <= rounds; r++) {
                    l.add(db.uniqueName(kind.replace("-", "") + r));
                }
                roundSlots.put(kind, l);
            }
            List<String> slots = new ArrayList<>(List.of(limitSlot));
            if (recvLogical.isPresent()) {
                slots.add(recvSlot);
            }
            roundSlots.values().forEach(slots::addAll);
            for (String slot : slots) {
                BenchContext.createSlot(db, slot);
            }
            Map<String, String> prefixes = new LinkedHashMap<>();
            for (String c : List.of("relay", "relay-eos", "debezium", "polling", "producer", "producer-batched")) {
                prefixes.put(c, ns.prefix() + c + ".");
                ns.createTopic(prefixes.get(c) + BenchWorkload.AGGREGATE_TYPE, o.partitions());
            }
            long postmaster = BenchContext.postmasterPid(db);
            result.put("postmaster_pid", postmaster);

            // the backlog
            AtomicLong written = new AtomicLong();
            progress.phase("drain: writing the backlog", written::get, n);
            String lsnBefore = BenchContext.queryString(db, "SELECT pg_current_wal_lsn()::text");
            long t0 = System.nanoTime();
            BenchWorkload.writeBacklog(pool, n, o.aggregates(), o.payloadBytes(), o.backlogTxSize(), o.backlogWriters(), written);
            long writeNanos = System.nanoTime() - t0;
            long walBytes = BenchContext.queryLong(db, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '" + lsnBefore + "')::bigint");
            String endLsn = BenchContext.queryString(db, "SELECT pg_current_wal_lsn()::text");
            Map<String, Object> backlog = new LinkedHashMap<>(RawLimits.figure(n, writeNanos));
            backlog.put("wal_bytes", walBytes);
            backlog.put("table_bytes", BenchContext.queryLong(db, "SELECT pg_total_relation_size('outbox_event')"));
            result.put("backlog", backlog);
            BenchWorkload.execute(db, "VACUUM ANALYZE outbox_event");

            // limit 1: raw decoding
            AtomicLong decoded = new AtomicLong();
            progress.phase("drain: raw pgoutput decoding (the limit)", decoded::get, n);
            CpuAccounting cpu = new CpuAccounting(postmaster);
            cpu.start();
            Map<String, Object> decodingCpu = new LinkedHashMap<>();
            long decodeNanos = RawLimits.decode(db, limitSlot, pub, n, decoded, o.timeoutMs(), decodingCpu::putAll, cpu);
            Map<String, Object> decoding = new LinkedHashMap<>(RawLimits.figure(n, decodeNanos));
            decoding.put("method", "PostgreSQL JDBC replication stream, pgoutput proto_version 1, same publication; counts Insert messages");
            decoding.put("cpu", decodingCpu);
            result.put("limit_decoding", decoding);
            BenchContext.dropSlot(db, limitSlot);
            if (recvLogical.isPresent()) {
                progress.phase("drain: raw pgoutput decoding with pg_recvlogical (the limit)");
                CpuAccounting cpu2 = new CpuAccounting(postmaster);
                cpu2.start();
                Map<String, Object> recvCpu = new LinkedHashMap<>();
                long recvNanos = RawLimits.recvLogical(recvLogical.get(), db, recvSlot, pub, endLsn, o.timeoutMs(), recvCpu::putAll, cpu2);
                Map<String, Object> recv = new LinkedHashMap<>(RawLimits.figure(n, recvNanos));
                recv.put("method", recvLogical.get() + " -o proto_version=1 -o publication_names=" + pub
                        + " -f /dev/null, until its walsender's sent_lsn reached the end of the backlog");
                recv.put("cpu", recvCpu);
                result.put("limit_decoding_pg_recvlogical", recv);
                progress.log(String.format("  pg_recvlogical: %,d events in %.1f s = %,d events/s", n, recvNanos / 1e9, (Long) recv.get("events_per_s")));
                BenchContext.dropSlot(db, recvSlot);
            }

            // limit 2: raw producer, the same records (a failure here is recorded, not fatal to the scenario)
            List<ProducerRecord<byte[], byte[]>> records = RawLimits.loadRecords(db, prefixes.get("producer"), n);
            List<ProducerRecord<byte[], byte[]>> batched = new ArrayList<>(records.size());
            String batchedPrefix = prefixes.get("producer-batched");
            for (ProducerRecord<byte[], byte[]> r : records) {
                batched.add(new ProducerRecord<>(batchedPrefix + BenchWorkload.AGGREGATE_TYPE, null, r.timestamp(), r.key(), r.value(), r.headers()));
            }
            result.put("limit_producer", produceLimit(records, 0, "drain: raw producer, pipelined (the limit)",
                    "one producer, send every record with a callback, then flush"));
            records = null;
            result.put("limit_producer_batched", produceLimit(batched, 2048,
                    "drain: raw producer, batches of 2048 waited (the batch contract without a database)",
                    "batches of 2048: send all, wait each ack, next batch"));
            batched = null;

            // this project's relay and peer 1 (and the exactly-once relay), each on its own slot over the same rows; with two
            // contenders the rounds run in ABBA order (relay first in odd rounds, Debezium first in even ones), with three
            // in a rotation (each one first, second and third once in three rounds), so none always runs on a warmer JVM
            Map<String, List<Map<String, Object>>> byKind = new LinkedHashMap<>();
            for (int r = 0; r < rounds; r++) {
                boolean profileThis = r == rounds - 1;
                for (int j = 0; j < kinds.size(); j++) {
                    String kind = kinds.get((r + j) % kinds.size());
                    String slot = roundSlots.get(kind).get(r);
                    // every contender of the last round is profiled, so the recording's overhead falls on each alike
                    byKind.computeIfAbsent(kind, k -> new ArrayList<>()).add(drain(contender(kind, ctx.target(db, slot, pub, prefixes.get(kind))),
                            n, postmaster, profileThis ? kind : null));
                    BenchContext.dropSlot(db, slot);
                }
            }
            result.put("relay", median(byKind.get("relay")));
            result.put("debezium", median(byKind.get("debezium")));
            if (byKind.containsKey("relay-eos")) {
                result.put("relay_exactly_once", median(byKind.get("relay-eos")));
            }

            // peer 2: polling, trials on a part of the backlog at each batch size, then the best on all of it
            BenchWorkload.execute(db, "CREATE TABLE outbox_copy AS SELECT * FROM outbox_event");
            long trialRows = Math.max(1, Math.min(n, Math.round(n * o.pollTrialFraction())));
            Map<String, Object> trials = new LinkedHashMap<>();
            int best = o.pollBatchSizes().get(0);
            double bestRate = -1;
            for (int batch : o.pollBatchSizes()) {
                restore(db, trialRows);
                Map<String, Object> f = drain(polling(db, pool, prefixes.get("polling"), batch), trialRows, postmaster, null);
                trials.put(String.valueOf(batch), f);
                double rate = ((Number) f.get("events_per_s")).doubleValue();
                if (rate > bestRate) {
                    bestRate = rate;
                    best = batch;
                }
            }
            restore(db, n);
            int bestBatch = best;
            long deletesBefore = deletes(db);
            long bytesBefore = BenchContext.queryLong(db, "SELECT pg_total_relation_size('outbox_event')");
            Map<String, Object> polling = drain(polling(db, pool, prefixes.get("polling"), bestBatch), n, postmaster, null);
            polling.put("table_after_run", tableAfterRun(db, deletesBefore + n, bytesBefore));
            polling.put("batch_size", bestBatch);
            polling.put("trials_on_rows", trialRows);
            polling.put("trials", trials);
            result.put("polling", polling);
            result.put("polling_best_batch", bestBatch);
        }
        return result;
    }

    /**
     * The steady-state drain of one large backlog (issue 12: "steady-state drain of a 1,000,000-row backlog (after warm-up)
     * reported for the relay and the peer"): after the warm-up ({@link #warmUp}, unless an earlier scenario of this run
     * already ran both engines), a backlog of {@code --steady-events} rows written while nothing publishes, then the relay
     * and the Debezium EventRouter peer drain it, one after the other, each on its own slot created before the backlog;
     * {@code --steady-rounds} rounds (default 1: a round of 1,000,000 events takes about a minute at 20,000 events/s) in ABBA
     * order, the median round counts: steady events/s (first ack to last ack), the rate of the last 90% and CPU per event
     * (JVM incl. broker + PostgreSQL). No profile, no limits, no polling peer.
     */
    Map<String, Object> runSteady(boolean jvmWarm) throws Exception {
        BenchOptions o = ctx.options();
        long n = o.steadyEvents();
        Map<String, Object> result = new LinkedHashMap<>();
        if (!jvmWarm && o.warmupEvents() > 0) {
            result.put("warmup", warmUp(Math.min(o.warmupEvents(), n)));
        }
        try (TestDatabase db = ctx.postgres().createDatabase("bench_steady").migrateOutbox();
                TestKafka ns = ctx.kafka().newNamespace("bench-steady");
                HikariDataSource pool = BenchWorkload.pool(db, "steady", Math.max(2, o.backlogWriters()))) {
            String pub = "bench_pub";
            BenchContext.createPublication(db, pub);
            List<String> kinds = List.of("relay", "debezium");
            int rounds = Math.max(1, o.steadyRounds());
            Map<String, List<String>> slots = new LinkedHashMap<>();
            for (String kind : kinds) {
                List<String> l = new ArrayList<>();
                for (int r = 1; r <= rounds; r++) {
                    l.add(db.uniqueName(kind + "steady" + r));
                    BenchContext.createSlot(db, l.get(r - 1));
                }
                slots.put(kind, l);
                ns.createTopic(ns.prefix() + kind + "." + BenchWorkload.AGGREGATE_TYPE, o.partitions());
            }
            long postmaster = BenchContext.postmasterPid(db);
            AtomicLong written = new AtomicLong();
            ctx.progress().phase("steady: writing the backlog", written::get, n);
            long t0 = System.nanoTime();
            BenchWorkload.writeBacklog(pool, n, o.aggregates(), o.payloadBytes(), o.backlogTxSize(), o.backlogWriters(), written);
            Map<String, Object> backlog = new LinkedHashMap<>(RawLimits.figure(n, System.nanoTime() - t0));
            backlog.put("table_bytes", BenchContext.queryLong(db, "SELECT pg_total_relation_size('outbox_event')"));
            result.put("backlog", backlog);
            BenchWorkload.execute(db, "VACUUM ANALYZE outbox_event");
            // rounds in ABBA order (relay first in odd rounds), each contender on its own slot per round, the median round counts
            Map<String, List<Map<String, Object>>> byKind = new LinkedHashMap<>();
            for (int r = 0; r < rounds; r++) {
                for (int j = 0; j < kinds.size(); j++) {
                    String kind = kinds.get((r + j) % kinds.size());
                    String slot = slots.get(kind).get(r);
                    byKind.computeIfAbsent(kind, k -> new ArrayList<>()).add(drain(contender(kind, ctx.target(db, slot, pub, ns.prefix() + kind + ".")),
                            n, postmaster, null));
                    BenchContext.dropSlot(db, slot);
                }
            }
            byKind.forEach((kind, list) -> result.put(kind, median(list)));
        }
        result.put("events", n);
        result.put("rounds", Math.max(1, o.steadyRounds()));
        result.put("method", "after the warm-up, one backlog of " + n + " rows drained by each contender alone on its own slot, "
                + Math.max(1, o.steadyRounds()) + " round(s) in ABBA order (relay first in odd rounds), median round;"
                + " steady = first to last Kafka ack, late = from 10% acknowledged to the last ack");
        return result;
    }

    /**
     * The median round (by events/s; of an even number, the lower middle one), with every round's rate and the median, min
     * and max attached: ratios are taken between medians. The profile is kept from the profiled round.
     */
    static Map<String, Object> median(List<Map<String, Object>> rounds) {
        List<Map<String, Object>> sorted = new ArrayList<>(rounds);
        sorted.sort(java.util.Comparator.comparingLong(r -> ((Number) r.get("events_per_s")).longValue()));
        Map<String, Object> out = new LinkedHashMap<>(sorted.get((sorted.size() - 1) / 2));
        out.remove("profile");
        List<Long> rates = rounds.stream().map(r -> ((Number) r.get("events_per_s")).longValue()).toList();
        out.put("round_events_per_s", rates);
        out.put("round_steady_events_per_s", rounds.stream().map(r -> r.get("steady_events_per_s")).toList());
        out.put("round_cpu_us_per_event", rounds.stream().map(DrainScenario::cpuPerEvent).toList());
        out.put("median_events_per_s", out.get("events_per_s"));
        out.put("min_events_per_s", rates.stream().mapToLong(Long::longValue).min().orElse(0));
        out.put("max_events_per_s", rates.stream().mapToLong(Long::longValue).max().orElse(0));
        out.put("median_of_rounds", rounds.size());
        for (Map<String, Object> r : rounds) {
            if (r.containsKey("profile")) {
                out.put("profile", r.get("profile"));
                out.put("profiled_round_cpu", r.get("cpu"));
            }
        }
        return out;
    }

    /** JVM + PostgreSQL CPU microseconds per event of one round, or null when not measured. */
    static Double cpuPerEvent(Map<String, Object> round) {
        if (!(round.get("cpu") instanceof Map<?, ?> c) || !(c.get("jvm_cpu_s") instanceof Number jvm)
                || !(round.get("events") instanceof Number events)) {
            return null;
        }
        double pg = c.get("postgres_cpu_s") instanceof Number p ? p.doubleValue() : 0;
        return CpuAccounting.round((jvm.doubleValue() + pg) * 1e6 / events.doubleValue());
    }

    private Map<String, Object> produceLimit(List<ProducerRecord<byte[], byte[]>> records, int batch, String phase, String method) {
        AtomicLong acked = new AtomicLong();
        ctx.progress().phase(phase, acked::get, records.size());
        try {
            long nanos = RawLimits.produce(ctx.kafka().bootstrapServers(), records, batch, acked);
            Map<String, Object> f = new LinkedHashMap<>(RawLimits.figure(records.size(), nanos));
            f.put("method", method);
            return f;
        } catch (Exception e) {
            ctx.progress().log("  " + phase + " FAILED: " + e);
            return Map.of("error", String.valueOf(e), "method", method);
        }
    }

    /** relay, relay-eos (delivery.guarantee=exactly_once) or debezium. */
    private static Contender contender(String kind, Contender.Target target) {
        return switch (kind) {
            case "relay" -> new RelayContender(target);
            case "relay-eos" -> RelayContender.exactlyOnce(target);
            case "debezium" -> new DebeziumRouterPeer(target);
            default -> throw new IllegalArgumentException(kind);
        };
    }

    private Contender polling(TestDatabase db, HikariDataSource pool, String prefix, int batch) {
        return new PollingPeer(ctx.target(db, null, null, prefix), pool, batch, ctx.options().pollIntervalMs());
    }

    private static long deletes(TestDatabase db) throws Exception {
        return BenchContext.queryLong(db, "SELECT coalesce(sum(n_tup_del), 0)::bigint FROM pg_stat_user_tables WHERE relname = 'outbox_event'");
    }

    /**
     * What the polling peer leaves in the outbox table (its cost besides speed): dead tuples and the table's size (heap,
     * indexes, TOAST) before autovacuum. The cumulative statistics arrive from the peer's sessions within about a second:
     * waits for its deletes to show, at most 10 s.
     */
    private static Map<String, Object> tableAfterRun(TestDatabase db, long deletesExpected, long bytesBefore) throws Exception {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (deletes(db) < deletesExpected && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("stats_complete", deletes(db) >= deletesExpected);
        m.put("live_tuples", BenchContext.queryLong(db, "SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'outbox_event'"));
        m.put("dead_tuples", BenchContext.queryLong(db, "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'outbox_event'"));
        m.put("table_bytes_before", bytesBefore);
        m.put("table_bytes_after", BenchContext.queryLong(db, "SELECT pg_total_relation_size('outbox_event')"));
        return m;
    }

    private static void restore(TestDatabase db, long rows) throws Exception {
        BenchWorkload.execute(db, "TRUNCATE outbox_event",
                "INSERT INTO outbox_event SELECT * FROM outbox_copy ORDER BY created_at, id LIMIT " + rows,
                "VACUUM ANALYZE outbox_event");
    }

    /** Starts the contender, waits for {@code n} acks, stops it. Profiles it when {@code profileName} is given. */
    private Map<String, Object> drain(Contender c, long n, long postmaster, String profileName) throws Exception {
        Progress progress = ctx.progress();
        progress.phase("drain: " + c.name() + (c instanceof PollingPeer pp ? " (batch " + pp.batchSize() + ")" : ""),
                c::published, n);
        CpuAccounting cpu = new CpuAccounting(postmaster);
        JfrProfile jfr = profileName != null && ctx.options().profile()
                ? new JfrProfile(ctx.outDir().resolve("drain-" + profileName + ".jfr")) : null;
        Map<String, Object> f = new LinkedHashMap<>();
        try (c) {
            cpu.start();
            if (jfr != null) {
                jfr.start();
            }
            long start = System.nanoTime();
            c.start();
            long first = BenchContext.awaitCount(c::published, 1, c, ctx.options().timeoutMs());
            long firstCount = c.published();
            long tenth = BenchContext.awaitCount(c::published, Math.max(firstCount, n / 10), c, ctx.options().timeoutMs());
            long tenthCount = c.published();
            long end = BenchContext.awaitCount(c::published, n, c, ctx.options().timeoutMs());
            Map<String, Object> cpuSplit = cpu.stop();
            f.putAll(RawLimits.figure(n, end - start));
            f.put("first_ack_s", CpuAccounting.round((first - start) / 1e9));
            f.put("steady_events_per_s", Math.round((n - firstCount) / Math.max(1e-9, (end - first) / 1e9)));
            // the last 90%: past the ramp of the first batches (JIT, the engine's first reads)
            f.put("late_events_per_s", Math.round((n - tenthCount) / Math.max(1e-9, (end - tenth) / 1e9)));
            f.put("cpu", cpuSplit);
            f.put("cpu_us_per_event", cpuPerEvent(f));
            if (jfr != null) {
                f.put("profile", jfr.stop(PIPELINE_THREADS));
            }
        } finally {
            if (jfr != null) {
                jfr.close();
            }
        }
        long published = c.published();
        f.put("published", published);
        progress.log(String.format("  %s: %,d events in %.1f s = %,d events/s", c.name(), n, (Double) f.get("seconds"),
                (Long) f.get("events_per_s")));
        return f;
    }
}
