package dev.outboxbridge.bench;

import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Scenario 4, inbox: M events in a topic are consumed by (a) the InboxConsumer of consumer-inbox
 * (default: consecutive records of a partition in one transaction, up to maxBatchSize; inbox rows
 * inserted with one statement; offsets after the commit), (b) the same
 * handler in a plain consumer loop without dedup (one transaction per record, offsets after each
 * poll's commits), (c) the InboxConsumer again with the same consumer name and a new group, so
 * every record is a duplicate, and (d) the InboxConsumer with {@code maxBatchSize(1)} (one
 * transaction per record). (b) runs both with one transaction per record and with one per poll
 * batch, so each inbox shape has a no-dedup twin. The handler inserts one ledger row. Events/s from
 * the first record applied to the last.
 */
final class InboxScenario {

    private static final String LEDGER_INSERT = "INSERT INTO bench_ledger (event_id, order_id, amount) VALUES (?, ?, ?)";
    private final BenchContext ctx;

    InboxScenario(BenchContext ctx) {
        this.ctx = ctx;
    }

    Map<String, Object> run() throws Exception {
        BenchOptions o = ctx.options();
        long m = o.inboxEvents();
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("method", "handler = insert one ledger row; HikariCP pool of 2; " + o.partitions() + " partitions; events/s from the first"
                + " record applied to the last; variants run one after the other on the same topic");
        try (TestDatabase db = ctx.postgres().createDatabase("bench_inbox").migrateInbox();
                TestKafka ns = ctx.kafka().newNamespace("bench-inbox");
                HikariDataSource pool = BenchWorkload.pool(db, "inbox", 2)) {
            BenchWorkload.execute(db, "CREATE TABLE bench_ledger (event_id uuid NOT NULL, order_id text NOT NULL, amount bigint NOT NULL,"
                    + " applied_at timestamptz NOT NULL DEFAULT now())");
            String topic = ns.topic("inbox.order");
            ns.createTopic(topic, o.partitions());
            List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
            SplittableRandom random = new SplittableRandom(5);
            for (long i = 0; i < m; i++) {
                String agg = "order-" + random.nextInt(o.aggregates());
                records.add(BenchWorkload.record(ns.prefix() + "inbox.", UUID.randomUUID().toString(), "order", agg, BenchWorkload.EVENT_TYPE,
                        BenchWorkload.payload(i, agg, o.payloadBytes(), random), null));
            }
            ctx.progress().phase("inbox: producing " + m + " events", () -> 0, 0);
            // test data, not a measurement: no idempotence, one request in flight (retries cannot reorder or fail on sequence numbers)
            Map<String, Object> fill = BenchWorkload.producerProperties(ctx.kafka().bootstrapServers(), "bench-inbox-fill");
            fill.put("enable.idempotence", "false");
            fill.put("max.in.flight.requests.per.connection", "1");
            RawLimits.produce(fill, records, 0, new AtomicLong());
            records = null;

            // consumer-inbox versions with a dead-letter topic require '<consumer name>.dlt' to exist; harmless otherwise
            ns.createTopic("bench-billing.dlt", 1);
            ns.createTopic("bench-billing-1.dlt", 1);
            InboxHandler handler = (event, tx) -> {
                try (PreparedStatement ps = tx.prepareStatement(LEDGER_INSERT)) {
                    ps.setObject(1, event.id());
                    ps.setString(2, event.key());
                    ps.setLong(3, event.payload().length);
                    ps.executeUpdate();
                }
            };
            long perRecord = Math.min(m, o.inboxPerRecordEvents());
            result.put("no_dedup_per_record", plain(ns, topic, pool, "plain-per-record", perRecord, false));
            result.put("no_dedup_batched", plain(ns, topic, pool, "plain-batched", m, true));
            result.put("inbox_fresh", inbox(ns, topic, pool, handler, "bench-billing", "fresh", m, false, 0));
            result.put("inbox_all_duplicates", inbox(ns, topic, pool, handler, "bench-billing", "replay", m, true, 0));
            result.put("inbox_fresh_per_record", inbox(ns, topic, pool, handler, "bench-billing-1", "fresh-1", perRecord, false, 1));
            result.put("ledger_rows", BenchContext.queryLong(db, "SELECT count(*) FROM bench_ledger"));
        }
        return result;
    }

    private Map<String, Object> kafkaProps(TestKafka ns, String group) {
        Map<String, Object> p = new HashMap<>();
        p.put("bootstrap.servers", ns.bootstrapServers());
        p.put("group.id", ns.prefix() + group);
        p.put("auto.offset.reset", "earliest");
        return p;
    }

    /** The library's consumer; {@code maxBatchSize} 0 = its default. */
    private Map<String, Object> inbox(TestKafka ns, String topic, DataSource pool, InboxHandler handler, String name, String group, long m,
            boolean duplicates, int maxBatchSize) throws Exception {
        InboxConsumer.Builder builder = InboxConsumer.builder().consumerName(name).kafkaProperties(kafkaProps(ns, group))
                .topics(List.of(topic)).dataSource(pool).handler(handler);
        if (maxBatchSize > 0) {
            builder.maxBatchSize(maxBatchSize);
        }
        try (InboxConsumer consumer = builder.build()) {
            LongSupplier count = duplicates ? () -> consumer.stats().duplicates() : () -> consumer.stats().processed();
            Map<String, Object> f = measure((duplicates ? "inbox, all duplicates" : "inbox, fresh events")
                    + (maxBatchSize > 0 ? ", maxBatchSize " + maxBatchSize : ""), count, m, consumer::start, () -> {
                if (consumer.state() == InboxConsumer.State.FAILED) {
                    throw new IllegalStateException("inbox consumer failed: " + consumer.failure().orElse(null));
                }
            });
            f.put("processed", consumer.stats().processed());
            f.put("duplicates", consumer.stats().duplicates());
            return f;
        }
    }

    private Map<String, Object> measure(String name, LongSupplier count, long m, Runnable start, Runnable check) throws Exception {
        ctx.progress().phase("inbox: " + name, count, m);
        start.run();
        long deadline = System.nanoTime() + ctx.options().timeoutMs() * 1_000_000L;
        while (count.getAsLong() == 0) {
            check.run();
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(name + ": nothing consumed before the timeout");
            }
            Thread.sleep(1);
        }
        long t0 = System.nanoTime();
        long c0 = count.getAsLong();
        while (count.getAsLong() < m) {
            check.run();
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(name + ": " + count.getAsLong() + " of " + m + " before the timeout");
            }
            Thread.sleep(2);
        }
        long t1 = System.nanoTime();
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("events", m);
        f.put("seconds", CpuAccounting.round((t1 - t0) / 1e9));
        // null when everything arrived between two samples (too few events to time)
        f.put("events_per_s", c0 >= m ? null : Math.round((m - c0) / Math.max(1e-9, (t1 - t0) / 1e9)));
        ctx.progress().log(String.format("  %s: %s events/s", name, f.get("events_per_s") == null ? "n/a (too few events)"
                : String.format("%,d", (Long) f.get("events_per_s"))));
        return f;
    }

    /**
     * The same handler without the inbox: one transaction per record, or one per poll batch (the
     * handler still runs once per record); offsets committed after each poll's commits.
     */
    private Map<String, Object> plain(TestKafka ns, String topic, DataSource pool, String group, long m, boolean batched) throws Exception {
        AtomicLong done = new AtomicLong();
        try (Loop loop = new Loop(ns, topic, group, "bench-" + group + "-consumer", records -> {
            if (records.isEmpty()) {
                return;
            }
            if (batched) {
                try (Connection c = pool.getConnection()) {
                    c.setAutoCommit(false);
                    for (ConsumerRecord<byte[], byte[]> r : records) {
                        applyPlain(c, r);
                    }
                    c.commit();
                }
                done.addAndGet(records.count());
                return;
            }
            for (ConsumerRecord<byte[], byte[]> r : records) {
                try (Connection c = pool.getConnection()) {
                    c.setAutoCommit(false);
                    applyPlain(c, r);
                    c.commit();
                }
                done.incrementAndGet();
            }
        })) {
            return measure("same handler, no dedup, " + (batched ? "one transaction per poll" : "one transaction per record"), done::get,
                    m, loop::start, loop::check);
        }
    }

    private static void applyPlain(Connection c, ConsumerRecord<byte[], byte[]> r) throws Exception {
        try (PreparedStatement ps = c.prepareStatement(LEDGER_INSERT)) {
            ps.setObject(1, UUID.fromString(header(r, "id")));
            ps.setString(2, new String(r.key(), StandardCharsets.UTF_8));
            ps.setLong(3, r.value().length);
            ps.executeUpdate();
        }
    }

    private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return new String(h.value(), StandardCharsets.UTF_8);
    }

    interface BatchBody {
        void apply(ConsumerRecords<byte[], byte[]> records) throws Exception;
    }

    /** A plain poll loop on its own named thread; offsets committed synchronously after each batch is applied. */
    private static final class Loop implements AutoCloseable {
        private final KafkaConsumer<byte[], byte[]> consumer;
        private final Thread thread;
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final AtomicReference<Throwable> failure = new AtomicReference<>();

        Loop(TestKafka ns, String topic, String group, String threadName, BatchBody body) {
            Map<String, Object> p = new HashMap<>();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, ns.bootstrapServers());
            p.put(ConsumerConfig.GROUP_ID_CONFIG, ns.prefix() + group);
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            consumer = new KafkaConsumer<>(p);
            consumer.subscribe(List.of(topic));
            thread = new Thread(() -> {
                try {
                    while (running.get()) {
                        ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
                        body.apply(records);
                        if (!records.isEmpty()) {
                            consumer.commitSync();
                        }
                    }
                } catch (WakeupException e) {
                    // closing
                } catch (Throwable e) {
                    failure.set(e);
                } finally {
                    consumer.close(Duration.ofSeconds(5));
                }
            }, threadName);
        }

        void start() {
            thread.start();
        }

        void check() {
            if (failure.get() != null) {
                throw new IllegalStateException("consumer loop failed: " + failure.get(), failure.get());
            }
        }

        @Override
        public void close() {
            running.set(false);
            consumer.wakeup();
            try {
                thread.join(15_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
