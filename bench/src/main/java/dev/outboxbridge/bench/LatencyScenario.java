package dev.outboxbridge.bench;

import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Scenario 2, latency at steady load. Open-loop writers: a schedule thread fixes each event's
 * intended send time (rate events/s) and hands it to a pool of writer threads, so a slow commit
 * never delays the next event (no coordinated omission). Each writer commits one outbox event and
 * records its commit-return time by event id. The topics use {@code message.timestamp.type=LogAppendTime},
 * so a record's timestamp is the broker's append time (the ack time, without touching any
 * contender); a consumer reads them. commit→ack = append time − commit-return time;
 * intended→ack = append time − intended send time (includes any writer backlog). The consumer reads
 * {@code read_committed} and also records when it received each record: commit→visible, the latency a
 * consumer sees, the same measure for every contender; for the exactly-once relay (issue 13) it includes
 * the transaction's commit, which the append time (before the commit) does not. With
 * {@code --consumer-latency}, an InboxConsumer (consumer-inbox, its own database) also consumes
 * each topic during the run: commit→consumer = the time its handler ran, inside the inbox
 * transaction just before that transaction commits.
 */
final class LatencyScenario {

    private final BenchContext ctx;
    private final int pollingBatch;
    private HikariDataSource inboxPool;

    private final boolean jvmWarm;

    LatencyScenario(BenchContext ctx, int pollingBatch, boolean jvmWarm) {
        this.ctx = ctx;
        this.pollingBatch = pollingBatch;
        this.jvmWarm = jvmWarm;
    }

    Map<String, Object> run() throws Exception {
        BenchOptions o = ctx.options();
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("method", "open-loop schedule, " + o.latencyWriters() + " writer threads (HikariCP), one event per transaction;"
                + " ack time = broker LogAppendTime read back by a read_committed consumer, visible time = when that consumer received the record; warm-up " + o.latencyWarmupSeconds() + " s not recorded;"
                + " polling peer at batch " + pollingBatch + ", poll interval " + o.pollIntervalMs() + " ms; at each rate a different contender"
                + " runs first; each run has its own topic, and the relay and Debezium their own new slot");
        try (TestDatabase db = ctx.postgres().createDatabase("bench_latency").migrateOutbox();
                TestDatabase inboxDb = o.consumerLatency() ? ctx.postgres().createDatabase("bench_latency_inbox").migrateInbox() : null;
                TestKafka ns = ctx.kafka().newNamespace("bench-lat");
                HikariDataSource pool = BenchWorkload.pool(db, "latency", o.latencyWriters() + 1);
                HikariDataSource pollerPool = BenchWorkload.pool(db, "latency-poller", 1);
                HikariDataSource inboxPool = inboxDb == null ? null : BenchWorkload.pool(inboxDb, "latency-inbox", 2)) {
            this.inboxPool = inboxPool;
            String pub = "bench_pub";
            BenchContext.createPublication(db, pub);
            if (!jvmWarm && o.warmupEvents() > 0) {
                // the drain did not run in this JVM: warm up the relay's and Debezium's code first, unmeasured
                result.put("warmup", new DrainScenario(ctx).warmUp(o.warmupEvents()));
            }
            List<String> allKinds = new ArrayList<>(List.of("relay", "debezium", "polling"));
            if (o.latencyTunedRelay()) {
                allKinds.add("relay-tuned");
            }
            // the exactly-once relay (issue 13) runs at one rate only, the one its rule is judged at, in the same rounds
            int eosRate = exactlyOnceRate(o.rates());
            if (o.exactlyOnce()) {
                allKinds.add(1, "relay-eos");
            }
            Map<String, Map<String, Object>> byKind = new LinkedHashMap<>();
            allKinds.forEach(k -> byKind.put(k, new LinkedHashMap<>()));
            int rounds = Math.max(1, o.latencyRounds());
            for (int i = 0; i < o.rates().size(); i++) {
                int rate = o.rates().get(i);
                List<String> kinds = allKinds.stream().filter(k -> !k.equals("relay-eos") || rate == eosRate).toList();
                Map<String, List<Map<String, Object>>> runs = new LinkedHashMap<>();
                for (int round = 0; round < rounds; round++) {
                    for (int j = 0; j < kinds.size(); j++) {
                        String kind = kinds.get((i + round + j) % kinds.size()); // a different contender goes first in each round
                        runs.computeIfAbsent(kind, k -> new ArrayList<>()).add(runOne(db, ns, pool, pollerPool, pub, kind, rate, round,
                                rate == eosRate ? o.idleSeconds() : 0));
                    }
                }
                runs.forEach((kind, list) -> byKind.get(kind).put(String.valueOf(rate), medianRound(list)));
            }
            byKind.forEach((kind, byRate) -> {
                Map<String, Object> sorted = new LinkedHashMap<>();
                o.rates().stream().map(String::valueOf).filter(byRate::containsKey).forEach(r -> sorted.put(r, byRate.get(r)));
                result.put(kind.equals("relay-eos") ? "relay_exactly_once" : kind, sorted);
            });
        }
        return result;
    }

    /** The rate the exactly-once relay runs at and issue 13's rule is judged at: 1000 events/s if listed, else the middle rate. */
    static int exactlyOnceRate(List<Integer> rates) {
        return rates.contains(1000) ? 1000 : rates.isEmpty() ? -1 : rates.get(rates.size() / 2);
    }

    /**
     * The round with the median commit→ack p99 (of an even number, the lower middle one), with every round's p50 and p99;
     * and the median of the rounds' commit→visible p50 and p99 (a read_committed reader), which need not come from the same
     * round.
     */
    static Map<String, Object> medianRound(List<Map<String, Object>> rounds) {
        java.util.function.ToDoubleFunction<Map<String, Object>> p99 = r -> r.get("commit_to_ack") instanceof Map<?, ?> m
                && m.get("p99_ms") instanceof Number n ? n.doubleValue() : Double.MAX_VALUE;
        List<Map<String, Object>> sorted = new ArrayList<>(rounds);
        sorted.sort(java.util.Comparator.comparingDouble(p99));
        Map<String, Object> out = new LinkedHashMap<>(sorted.get((sorted.size() - 1) / 2));
        out.put("round_p99_ms", rounds.stream().map(r -> ((Map<?, ?>) r.get("commit_to_ack")).get("p99_ms")).toList());
        out.put("round_p50_ms", rounds.stream().map(r -> ((Map<?, ?>) r.get("commit_to_ack")).get("p50_ms")).toList());
        out.put("median_of_rounds", rounds.size());
        // the database CPU of the contender's own sessions (DatabaseCpu), at this load and while idle: medians of the rounds
        for (String[] figure : List.of(new String[] {"db_cpu", "cpu_us_per_event"}, new String[] {"db_cpu", "walsender_cpu_s"},
                new String[] {"db_cpu", "backends_cpu_s"}, new String[] {"idle_db_cpu", "cpu_ms_per_s"})) {
            List<Double> values = rounds.stream().map(r -> r.get(figure[0]) instanceof Map<?, ?> m && m.get(figure[1]) instanceof Number n
                    ? n.doubleValue() : Double.NaN).toList();
            if (values.stream().allMatch(v -> v.isNaN())) {
                continue;
            }
            out.put("round_" + figure[0] + "_" + figure[1], values);
            out.put("median_" + figure[0] + "_" + figure[1], median(values));
        }
        for (String p : List.of("p50_ms", "p99_ms")) {
            List<Double> visible = rounds.stream().map(r -> r.get("commit_to_visible") instanceof Map<?, ?> m && m.get(p) instanceof Number n
                    ? n.doubleValue() : Double.NaN).toList();
            out.put("round_visible_" + p, visible);
            List<Double> sortedVisible = visible.stream().sorted().toList();
            out.put("median_visible_" + p, sortedVisible.get((sortedVisible.size() - 1) / 2));
        }
        return out;
    }

    /** The median of figures (of an even number, the lower middle one, as everywhere in the bench); NaN last. */
    static double median(List<Double> values) {
        List<Double> sorted = values.stream().sorted().toList();
        return sorted.isEmpty() ? Double.NaN : sorted.get((sorted.size() - 1) / 2);
    }

    private Map<String, Object> runOne(TestDatabase db, TestKafka ns, HikariDataSource pool, HikariDataSource pollerPool, String pub,
            String kind, int rate, int round, int idleSeconds) throws Exception {
        BenchOptions o = ctx.options();
        BenchWorkload.execute(db, "TRUNCATE outbox_event");
        String prefix = ns.prefix() + "lat-" + kind + "-" + rate + "-r" + round + ".";
        String topic = prefix + BenchWorkload.AGGREGATE_TYPE;
        BenchContext.createLogAppendTimeTopic(ns, topic, o.partitions());
        String slot = db.uniqueName(kind.replace("-", "") + rate + "r" + round); // unique per run: offsets are kept per slot/relay name
        Contender.Target target = ctx.target(db, slot, pub, prefix);
        Contender c = switch (kind) {
            case "relay" -> new RelayContender(target);
            case "relay-tuned" -> new RelayContender(target, RelayContender.LOW_LATENCY);
            case "relay-eos" -> RelayContender.exactlyOnce(target);
            case "debezium" -> new DebeziumRouterPeer(target);
            default -> new PollingPeer(target, pollerPool, pollingBatch, o.pollIntervalMs());
        };
        if (!kind.equals("polling")) {
            BenchContext.createSlot(db, slot);
        }
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(prefix).build());
        Map<UUID, Long> acks = new ConcurrentHashMap<>();
        Map<UUID, Long> visible = new ConcurrentHashMap<>();
        Map<UUID, Long> consumed = new ConcurrentHashMap<>();
        AckReader reader = new AckReader(ctx.kafka().bootstrapServers(), topic, o.partitions(), acks, visible);
        InboxConsumer inbox = null;
        if (inboxPool != null) {
            String consumerName = "bench-lat-" + kind + "-" + rate + "-r" + round;
            ns.createTopic(consumerName + ".dlt", 1); // consumer-inbox versions with a dead-letter topic need it
            inbox = InboxConsumer.builder().consumerName(consumerName)
                    .kafkaProperties(Map.of("bootstrap.servers", ctx.kafka().bootstrapServers(), "group.id", ns.prefix() + consumerName,
                            "auto.offset.reset", "earliest"))
                    .topics(List.of(topic)).dataSource(inboxPool)
                    .handler((event, tx) -> consumed.put(event.id(), System.currentTimeMillis()))
                    .build();
        }
        Map<String, Object> f = new LinkedHashMap<>();
        try (c; reader; AutoCloseable consumer = inbox == null ? () -> { } : inbox) {
            c.start();
            reader.start();
            if (inbox != null) {
                inbox.start();
            }
            // one probe event end to end: the contender is streaming before the schedule starts
            writeOne(pool, outbox, UUID.randomUUID(), 0, new SplittableRandom(7));
            BenchContext.awaitCount(c::published, 1, c, o.timeoutMs());
            // the database CPU of the contender's own sessions (its walsender and SQL sessions, or the poller's session),
            // the writers' sessions left out: from the first scheduled event until every event is acknowledged
            DatabaseCpu dbCpu = new DatabaseCpu(db, java.util.Set.of("bench-latency"));
            dbCpu.start();
            long total = (long) rate * (o.latencyWarmupSeconds() + o.latencySeconds());
            long warmup = (long) rate * o.latencyWarmupSeconds();
            ctx.progress().phase("latency: " + c.name() + (kind.equals("relay-tuned") ? " (poll.interval.ms=1, linger.ms=0)" : "") + " at "
                    + rate + " events/s", acks::size, total + 1);
            OpenLoop loop = new OpenLoop(pool, outbox, rate, total, warmup, o.latencyWriters());
            loop.run();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while ((!acks.keySet().containsAll(loop.committed.keySet())
                    || inbox != null && !consumed.keySet().containsAll(loop.committed.keySet())) && System.nanoTime() < deadline) {
                c.checkHealthy();
                Thread.sleep(20);
            }
            f.put("db_cpu", dbCpu.stop(loop.committed.size()));
            if (idleSeconds > 0) {
                // idle: no writes for idleSeconds, the contender running (the poller polls every poll interval, the relay's
                // walsender waits for WAL and the relay writes its heartbeats); a measurement window, not a wait for an event
                ctx.progress().phase("latency: " + c.name() + " idle for " + idleSeconds + " s (database CPU)");
                dbCpu.start();
                long idleEnd = System.nanoTime() + TimeUnit.SECONDS.toNanos(idleSeconds);
                while (System.nanoTime() < idleEnd) {
                    c.checkHealthy();
                    Thread.sleep(Math.max(1, Math.min(200, TimeUnit.NANOSECONDS.toMillis(idleEnd - System.nanoTime()))));
                }
                f.put("idle_db_cpu", dbCpu.stop(0));
            }
            Histogram commitToAck = Latencies.newHistogram();
            Histogram intendedToAck = Latencies.newHistogram();
            Histogram commitToConsumer = Latencies.newHistogram();
            Histogram commitToVisible = Latencies.newHistogram();
            long missing = 0;
            for (Map.Entry<UUID, long[]> e : loop.committed.entrySet()) {
                long[] t = e.getValue();
                Long ack = acks.get(e.getKey());
                if (ack == null) {
                    missing++;
                    continue;
                }
                if (t[2] == 1) {
                    continue; // warm-up
                }
                commitToAck.recordValue(Math.max(0, ack - t[1]));
                intendedToAck.recordValue(Math.max(0, ack - t[0]));
                commitToVisible.recordValue(Math.max(0, visible.get(e.getKey()) - t[1])); // recorded with the ack, never null here
                Long applied = consumed.get(e.getKey());
                if (applied != null) {
                    commitToConsumer.recordValue(Math.max(0, applied - t[1]));
                }
            }
            f.put("rate", rate);
            f.put("achieved_rate", Math.round(loop.committed.size() / Math.max(1e-9, loop.elapsedNanos / 1e9)));
            f.put("events", loop.committed.size());
            f.put("failed_writes", loop.failures.get());
            f.put("missing_acks", missing);
            f.put("commit_to_ack", Latencies.summary(commitToAck));
            f.put("intended_to_ack", Latencies.summary(intendedToAck));
            f.put("commit_to_visible", Latencies.summary(commitToVisible));
            if (inbox != null) {
                f.put("commit_to_consumer", Latencies.summary(commitToConsumer));
            }
            Map<String, Object> s = Latencies.summary(commitToAck);
            Map<String, Object> v = Latencies.summary(commitToVisible);
            ctx.progress().log(String.format("  %s%s at %d/s: commit->ack p50 %s, p99 %s, p99.9 %s, max %s ms; commit->visible p50 %s, p99 %s ms (%,d events, %d missing)",
                    c.name(), kind.equals("relay-tuned") ? " (tuned)" : "", rate, s.get("p50_ms"), s.get("p99_ms"), s.get("p99_9_ms"), s.get("max_ms"),
                    v.get("p50_ms"), v.get("p99_ms"), commitToAck.getTotalCount(), missing));
        }
        if (!kind.equals("polling")) {
            BenchContext.dropSlot(db, slot);
        }
        return f;
    }

    private static void writeOne(HikariDataSource pool, Outbox outbox, UUID id, long seq, SplittableRandom random) throws Exception {
        try (Connection conn = pool.getConnection()) {
            conn.setAutoCommit(false);
            outbox.append(conn, BenchWorkload.event(id, seq, 10_000, 500, random));
            conn.commit();
        }
    }

    /** The schedule and its writers. */
    private final class OpenLoop {
        final Map<UUID, long[]> committed = new ConcurrentHashMap<>();
        final AtomicLong failures = new AtomicLong();
        final HikariDataSource pool;
        final Outbox outbox;
        final int rate;
        final long total;
        final long warmup;
        final int writers;
        long elapsedNanos;

        OpenLoop(HikariDataSource pool, Outbox outbox, int rate, long total, long warmup, int writers) {
            this.pool = pool;
            this.outbox = outbox;
            this.rate = rate;
            this.total = total;
            this.warmup = warmup;
            this.writers = writers;
        }

        void run() throws InterruptedException {
            AtomicInteger n = new AtomicInteger();
            ThreadPoolExecutor exec = new ThreadPoolExecutor(writers, writers, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                    r -> new Thread(r, "bench-latency-writer-" + n.incrementAndGet()));
            int payload = ctx.options().payloadBytes();
            int aggregates = ctx.options().aggregates();
            ThreadLocal<SplittableRandom> random = ThreadLocal.withInitial(() -> new SplittableRandom(Thread.currentThread().getId()));
            double period = 1e9 / rate;
            long nanoBase = System.nanoTime();
            long wallBase = System.currentTimeMillis();
            long t0 = nanoBase + TimeUnit.MILLISECONDS.toNanos(20);
            try {
                for (long i = 0; i < total; i++) {
                    long intended = t0 + (long) (i * period);
                    long wait;
                    while ((wait = intended - System.nanoTime()) > 0) {
                        LockSupport.parkNanos(wait);
                    }
                    long intendedWall = wallBase + TimeUnit.NANOSECONDS.toMillis(intended - nanoBase);
                    long seq = i;
                    boolean warm = i < warmup;
                    exec.execute(() -> {
                        UUID id = UUID.randomUUID();
                        try (Connection conn = pool.getConnection()) {
                            conn.setAutoCommit(false);
                            OutboxEvent e = BenchWorkload.event(id, seq, aggregates, payload, random.get());
                            outbox.append(conn, e);
                            conn.commit();
                            committed.put(id, new long[] {intendedWall, System.currentTimeMillis(), warm ? 1 : 0});
                        } catch (Exception ex) {
                            failures.incrementAndGet();
                        }
                    });
                }
            } finally {
                exec.shutdown();
                exec.awaitTermination(5, TimeUnit.MINUTES);
                elapsedNanos = System.nanoTime() - t0;
            }
        }
    }

    /**
     * Reads the topic from the start, {@code read_committed}, and records each event's append time (the broker's
     * LogAppendTime: the ack time) and the time this reader received it (visible to a read_committed consumer) by id.
     * For a non-transactional producer the two differ by the reader's fetch; for a transactional one (the exactly-once
     * relay) the records become visible only when their transaction commits, after their append.
     */
    private static final class AckReader implements AutoCloseable {
        private final KafkaConsumer<byte[], byte[]> consumer;
        private final Map<UUID, Long> acks;
        private final Map<UUID, Long> visible;
        private final Thread thread;
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private volatile boolean running = true;

        AckReader(String bootstrap, String topic, int partitions, Map<UUID, Long> acks, Map<UUID, Long> visible) {
            Map<String, Object> p = new LinkedHashMap<>();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "20");
            p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"); // as consumer-inbox; the same for every contender
            p.put(ConsumerConfig.CLIENT_ID_CONFIG, "bench-ack-reader");
            this.consumer = new KafkaConsumer<>(p);
            List<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < partitions; i++) {
                tps.add(new TopicPartition(topic, i));
            }
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            this.acks = acks;
            this.visible = visible;
            this.thread = new Thread(this::loop, "bench-ack-reader");
        }

        void start() {
            thread.start();
        }

        private void loop() {
            try {
                while (running) {
                    var records = consumer.poll(Duration.ofMillis(100));
                    long received = System.currentTimeMillis();
                    for (ConsumerRecord<byte[], byte[]> r : records) {
                        Header h = r.headers().lastHeader("id");
                        if (h != null) {
                            UUID id = UUID.fromString(new String(h.value(), StandardCharsets.UTF_8));
                            visible.put(id, received);
                            acks.put(id, r.timestamp()); // after visible: whoever sees the ack finds the visible time
                        }
                    }
                }
            } catch (WakeupException e) {
                // closing
            } catch (Throwable e) {
                failure.set(e);
            } finally {
                consumer.close(Duration.ofSeconds(5));
            }
        }

        @Override
        public void close() {
            running = false;
            consumer.wakeup();
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
