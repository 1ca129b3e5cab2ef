package dev.outboxbridge.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Per-aggregate order with concurrent writers (issue 12, fairness of the polling peer). {@code --order-writers} threads
 * (at least 2) run business transactions flat out on {@code --order-aggregates} shared aggregates: each transaction
 * starts (its first statement fixes {@code now()}, the outbox row's {@code created_at}), then locks and bumps
 * {@code --order-bumps-per-tx} distinct aggregates in ascending order ({@code UPDATE … SET version = version + 1
 * RETURNING version}: the version is taken under the row lock, so the version order of an aggregate is its commit order,
 * as in the demo's workload) and appends one event per bump with the aggregate as key and the version in the payload.
 * The relay, the Debezium EventRouter peer and the polling peer run during the writing, each to its own topic. Then each
 * topic is read back {@code read_committed} and checked per aggregate (one key, one partition, so partition order is
 * publish order): an <b>order violation</b> is an event whose version is lower than one published before it. A log-based
 * relay follows commit order and must show 0; the polling peer's {@code ORDER BY created_at} follows the transactions'
 * start times, so it publishes a later version first whenever two such rows are in one poll. The relay's output (commit
 * order) also tells how many events had a transaction that started before the transaction of an earlier version
 * ("start-order inversions": what a poller can get wrong, if it sees both rows in one poll).
 */
final class OrderScenario {

    private final BenchContext ctx;
    private final int pollingBatch;

    OrderScenario(BenchContext ctx, int pollingBatch) {
        this.ctx = ctx;
        this.pollingBatch = pollingBatch;
    }

    Map<String, Object> run() throws Exception {
        BenchOptions o = ctx.options();
        long total = o.orderEvents();
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("method", o.orderWriters() + " writer threads, flat out; each transaction locks and bumps " + o.orderBumps()
                + " distinct of " + o.orderAggregates() + " shared aggregates (ascending order, version under the row lock) and appends one"
                + " event per bump; the contenders run during the writing; each topic read back read_committed; an order violation is an"
                + " event whose version is lower than one published before it for the same aggregate; polling peer at batch " + pollingBatch
                + ", poll interval " + o.pollIntervalMs() + " ms");
        try (TestDatabase db = ctx.postgres().createDatabase("bench_order").migrateOutbox();
                TestKafka ns = ctx.kafka().newNamespace("bench-order");
                HikariDataSource pool = BenchWorkload.pool(db, "order", o.orderWriters());
                HikariDataSource pollerPool = BenchWorkload.pool(db, "order-poller", 1)) {
            String pub = "bench_pub";
            BenchContext.createPublication(db, pub);
            BenchWorkload.execute(db, "CREATE TABLE bench_aggregate (id text PRIMARY KEY, version int NOT NULL)",
                    "INSERT INTO bench_aggregate SELECT 'agg-' || lpad(g::text, 5, '0'), 0 FROM generate_series(0, " + (o.orderAggregates() - 1) + ") g");
            List<String> kinds = List.of("relay", "debezium", "polling");
            Map<String, String> topics = new LinkedHashMap<>();
            List<Contender> contenders = new ArrayList<>();
            List<String> slots = new ArrayList<>();
            for (String kind : kinds) {
                String prefix = ns.prefix() + kind + ".";
                topics.put(kind, prefix + BenchWorkload.AGGREGATE_TYPE);
                ns.createTopic(topics.get(kind), o.partitions());
                String slot = kind.equals("polling") ? null : db.uniqueName(kind + "order");
                if (slot != null) {
                    BenchContext.createSlot(db, slot);
                    slots.add(slot);
                }
                Contender.Target target = ctx.target(db, slot, pub, prefix);
                contenders.add(switch (kind) {
                    case "relay" -> new RelayContender(target);
                    case "debezium" -> new DebeziumRouterPeer(target);
                    default -> new PollingPeer(target, pollerPool, pollingBatch, o.pollIntervalMs());
                });
            }
            Map<String, Object> writing;
            try {
                for (Contender c : contenders) {
                    c.start();
                }
                writing = write(pool, total);
                for (Contender c : contenders) {
                    ctx.progress().phase("order: " + c.name() + " publishing the rest", c::published, total);
                    BenchContext.awaitCount(c::published, total, c, o.timeoutMs());
                }
            } finally {
                for (Contender c : contenders) {
                    c.close();
                }
            }
            result.put("writing", writing);
            ctx.progress().phase("order: reading each topic back");
            for (int i = 0; i < kinds.size(); i++) {
                Map<String, Object> check = check(readTopic(topics.get(kinds.get(i)), o.partitions()), total);
                result.put(kinds.get(i), check);
                ctx.progress().log(String.format("  %s: %,d events read, %,d order violations on %d of %d aggregates, %,d duplicates, %,d missing",
                        contenders.get(i).name(), (Long) check.get("events_read"), (Long) check.get("order_violations"),
                        (Integer) check.get("aggregates_with_violations"), (Integer) check.get("aggregates"), (Long) check.get("duplicates"),
                        (Long) check.get("missing")));
            }
            if (result.get("relay") instanceof Map<?, ?> relay) {
                writing.put("start_order_inversions", relay.get("start_order_inversions"));
            }
            for (String slot : slots) {
                BenchContext.dropSlot(db, slot);
            }
        }
        return result;
    }

    /** The writers: transactions that lock and bump shared aggregates, one event per bump, until {@code total} events. */
    private Map<String, Object> write(HikariDataSource pool, long total) throws Exception {
        BenchOptions o = ctx.options();
        Outbox outbox = Outbox.create(OutboxConfig.defaults());
        AtomicLong claimed = new AtomicLong();
        AtomicLong written = new AtomicLong();
        AtomicLong transactions = new AtomicLong();
        ctx.progress().phase("order: " + o.orderWriters() + " writers bumping " + o.orderAggregates() + " shared aggregates", written::get, total);
        AtomicInteger threadNo = new AtomicInteger();
        ExecutorService exec = Executors.newFixedThreadPool(o.orderWriters(), r -> new Thread(r, "bench-order-writer-" + threadNo.incrementAndGet()));
        long t0 = System.nanoTime();
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int w = 0; w < o.orderWriters(); w++) {
                long seed = 2000 + w;
                futures.add(exec.submit(() -> {
                    SplittableRandom random = new SplittableRandom(seed);
                    try (Connection c = pool.getConnection();
                            PreparedStatement start = c.prepareStatement("SELECT (extract(epoch FROM now()) * 1000000)::bigint");
                            PreparedStatement bump = c.prepareStatement("UPDATE bench_aggregate SET version = version + 1 WHERE id = ? RETURNING version")) {
                        c.setAutoCommit(false);
                        while (true) {
                            long first = claimed.getAndAdd(o.orderBumps());
                            if (first >= total) {
                                return null;
                            }
                            int k = (int) Math.min(o.orderBumps(), total - first);
                            TreeSet<String> aggregates = new TreeSet<>(); // ascending lock order: no deadlock
                            while (aggregates.size() < k) {
                                aggregates.add(String.format("agg-%05d", random.nextInt(o.orderAggregates())));
                            }
                            long started;
                            try (ResultSet rs = start.executeQuery()) {
                                rs.next();
                                started = rs.getLong(1); // the transaction's now(): its outbox rows' created_at
                            }
                            for (String aggregate : aggregates) {
                                bump.setString(1, aggregate);
                                int version;
                                try (ResultSet rs = bump.executeQuery()) {
                                    rs.next();
                                    version = rs.getInt(1);
                                }
                                outbox.append(c, OutboxEvent.builder().aggregateType(BenchWorkload.AGGREGATE_TYPE).aggregateId(aggregate)
                                        .type("AggregateBumped").payload(("{\"aggregate\":\"" + aggregate + "\",\"version\":" + version
                                                + ",\"tx_started_us\":" + started + "}").getBytes(StandardCharsets.UTF_8)).build());
                            }
                            c.commit();
                            transactions.incrementAndGet();
                            written.addAndGet(k);
                        }
                    }
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
        Map<String, Object> m = new LinkedHashMap<>(RawLimits.figure(written.get(), System.nanoTime() - t0));
        m.put("transactions", transactions.get());
        return m;
    }

    /** Every record of a topic, read_committed, in partition order, up to the end offsets. */
    private List<ConsumerRecord<byte[], byte[]>> readTopic(String topic, int partitions) {
        Map<String, Object> p = new HashMap<>();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, ctx.kafka().bootstrapServers());
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "bench-order-reader");
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < partitions; i++) {
                tps.add(new TopicPartition(topic, i));
            }
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Map<TopicPartition, Long> end = consumer.endOffsets(tps, Duration.ofSeconds(30));
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ctx.options().timeoutMs());
            while (tps.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("Timed out reading " + topic + " back to its end offsets " + end);
                }
                consumer.poll(Duration.ofMillis(200)).forEach(out::add);
            }
        }
        return out;
    }

    /** Per aggregate, in publish order: order violations, duplicates, missing versions, start-order inversions. */
    static Map<String, Object> check(List<ConsumerRecord<byte[], byte[]>> records, long expected) {
        ObjectMapper json = new ObjectMapper();
        Map<String, Integer> maxVersion = new HashMap<>();
        Map<String, Long> maxStarted = new HashMap<>();
        Set<String> seen = new HashSet<>();
        Set<String> violated = new HashSet<>();
        long violations = 0;
        long duplicates = 0;
        long inversions = 0;
        int largestRegression = 0;
        for (ConsumerRecord<byte[], byte[]> r : records) {
            String key = new String(r.key(), StandardCharsets.UTF_8);
            JsonNode body;
            try {
                body = json.readTree(r.value());
            } catch (Exception e) {
                throw new IllegalStateException("Not an event of the order scenario in " + r.topic() + ": " + e, e);
            }
            int version = body.path("version").asInt();
            long started = body.path("tx_started_us").asLong();
            if (!seen.add(key + "#" + version)) {
                duplicates++;
                continue;
            }
            Integer max = maxVersion.get(key);
            if (max != null && version < max) {
                violations++;
                violated.add(key);
                largestRegression = Math.max(largestRegression, max - version);
            } else {
                maxVersion.put(key, version);
            }
            Long startedBefore = maxStarted.get(key);
            if (startedBefore != null && started < startedBefore) {
                inversions++;
            } else {
                maxStarted.put(key, started);
            }
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("events_read", (long) records.size());
        m.put("aggregates", maxVersion.size());
        m.put("order_violations", violations);
        m.put("aggregates_with_violations", violated.size());
        m.put("largest_version_regression", largestRegression);
        m.put("duplicates", duplicates);
        m.put("missing", Math.max(0, expected - seen.size()));
        m.put("start_order_inversions", inversions);
        return m;
    }
}
