package dev.outboxbridge.bench;

import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestServers;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Scenario 3, write overhead: business transactions per second (insert an order row of ~200
 * bytes, update the customer's balance, commit) with and without the outbox append of one event
 * (~500-byte payload) in the same transaction, on the same database in the same run; modes
 * interleaved over several rounds. A third mode deletes the outbox row again in the same
 * transaction (the WAL still carries the insert, which is all the relay reads; the table stays
 * empty; outbox-core's {@code deleteInTransaction(true)}), the retention mode that needs no cleanup job. It runs twice: on the testkit's shared
 * embedded PostgreSQL (fsync=off, which makes commits nearly free and the outbox's share of a transaction larger) and on
 * the testkit's second one with durable commits ({@code TestServers.durablePostgres()}: fsync=on, synchronous_commit=on),
 * where each commit waits for its WAL flush as on a production server. Each server's fsync setting is recorded.
 */
final class WriteScenario {

    static final List<String> MODES = List.of("business only", "business + outbox append", "business + outbox append + delete in tx");
    private final BenchContext ctx;

    WriteScenario(BenchContext ctx) {
        this.ctx = ctx;
    }

    Map<String, Object> run() throws Exception {
        BenchOptions o = ctx.options();
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("method", o.writeWriters() + " writer threads (HikariCP pool of " + o.writeWriters() + "), flat out, "
                + o.writeSeconds() + " s per mode and round after a warm-up of up to 1 s, " + o.writeRounds() + " rounds interleaved;"
                + " no relay running (the database cost only)");
        result.put("business_tx", "INSERT one order row (~200-byte text, uuid key) + UPDATE one of 1,000 customer rows; the outbox adds one"
                + " outbox-core append of a " + o.payloadBytes() + "-byte event");
        runOn(ctx.postgres(), result);
        // the same on a second server with durable commits (testkit: fsync=on, synchronous_commit=on), where a commit waits
        // for its WAL flush; with an external server both are the same server and it runs once
        PostgresServer durable = TestServers.durablePostgres();
        if (durable != ctx.postgres()) {
            runOn(durable, result);
        }
        return result;
    }

    private void runOn(PostgresServer server, Map<String, Object> result) throws Exception {
        BenchOptions o = ctx.options();
        try (TestDatabase db = server.createDatabase("bench_write").migrateOutbox();
                HikariDataSource pool = BenchWorkload.pool(db, "write", o.writeWriters())) {
            BenchWorkload.execute(db,
                    "CREATE TABLE bench_customer (id int PRIMARY KEY, balance bigint NOT NULL)",
                    "INSERT INTO bench_customer SELECT g, 0 FROM generate_series(0, 999) g",
                    "CREATE TABLE bench_order (id uuid PRIMARY KEY, customer_id int NOT NULL, amount bigint NOT NULL, body text NOT NULL,"
                            + " created_at timestamptz NOT NULL DEFAULT now())");
            Outbox outbox = Outbox.create(OutboxConfig.defaults());
            Outbox deleting = Outbox.create(OutboxConfig.builder().deleteInTransaction(true).build());
            String fsync = BenchContext.queryString(db, "SHOW fsync");
            result.merge("server_fsync", fsync, (a, b) -> a + "," + b);
            result.put("fsync_" + fsync, runAll(pool, outbox, deleting, "fsync=" + fsync));
        }
    }

    private Map<String, Object> runAll(HikariDataSource pool, Outbox outbox, Outbox deleting, String label) throws Exception {
        BenchOptions o = ctx.options();
        Map<String, List<Double>> rates = new LinkedHashMap<>();
        MODES.forEach(m -> rates.put(m, new ArrayList<>()));
        for (int round = 1; round <= o.writeRounds(); round++) {
            for (int mode = 0; mode < MODES.size(); mode++) {
                double rate = runMode(pool, mode == 2 ? deleting : outbox, mode, round, label);
                rates.get(MODES.get(mode)).add(rate);
            }
        }
        Map<String, Object> modes = new LinkedHashMap<>();
        rates.forEach((mode, list) -> {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("tx_per_s", Math.round(list.stream().mapToDouble(Double::doubleValue).average().orElse(0)));
            m.put("rounds", list.stream().map(Math::round).toList());
            modes.put(mode, m);
        });
        return Map.of("modes", modes);
    }

    private double runMode(HikariDataSource pool, Outbox outbox, int mode, int round, String label) throws Exception {
        BenchOptions o = ctx.options();
        AtomicLong done = new AtomicLong();
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        ctx.progress().phase("write (" + label + "): " + MODES.get(mode) + ", round " + round, done::get, 0);
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < o.writeWriters(); w++) {
            long seed = 31L * w + mode + 1000L * round;
            Thread t = new Thread(() -> {
                SplittableRandom random = new SplittableRandom(seed);
                String body = "x".repeat(200);
                try (Connection c = pool.getConnection();
                        PreparedStatement order = c.prepareStatement("INSERT INTO bench_order (id, customer_id, amount, body) VALUES (?, ?, ?, ?)");
                        PreparedStatement customer = c.prepareStatement("UPDATE bench_customer SET balance = balance + ? WHERE id = ?")) {
                    c.setAutoCommit(false);
                    long seq = 0;
                    while (running.get()) {
                        int cust = random.nextInt(1000);
                        long amount = random.nextInt(1, 10_000);
                        order.setObject(1, UUID.randomUUID());
                        order.setInt(2, cust);
                        order.setLong(3, amount);
                        order.setString(4, body);
                        order.executeUpdate();
                        customer.setLong(1, amount);
                        customer.setInt(2, cust);
                        customer.executeUpdate();
                        if (mode >= 1) {
                            // mode 2: outbox-core's deleteInTransaction(true) deletes the row again before returning
                            outbox.append(c, BenchWorkload.event(null, seq++, o.aggregates(), o.payloadBytes(), random));
                        }
                        c.commit();
                        done.incrementAndGet();
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "bench-write-" + w);
            threads.add(t);
            t.start();
        }
        Thread.sleep(Math.min(1000, o.writeSeconds() * 250L)); // warm-up, not counted
        long c0 = done.get();
        long t0 = System.nanoTime();
        Thread.sleep(TimeUnit.SECONDS.toMillis(o.writeSeconds()));
        long c1 = done.get();
        long t1 = System.nanoTime();
        running.set(false);
        for (Thread t : threads) {
            t.join(30_000);
        }
        if (failure.get() != null) {
            throw new IllegalStateException("write scenario failed: " + failure.get(), failure.get());
        }
        double rate = (c1 - c0) / ((t1 - t0) / 1e9);
        ctx.progress().log(String.format("  %s, %s, round %d: %,.0f tx/s", label, MODES.get(mode), round, rate));
        return rate;
    }
}
