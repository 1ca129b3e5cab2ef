package dev.outboxbridge.bench;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.TestDatabase;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * What every scenario shares: the events (one aggregate type, many aggregate ids, a payload of a
 * fixed size), the producer settings every contender uses, the record shape of the data contract,
 * pools, and the backlog writer.
 */
final class BenchWorkload {

    static final String AGGREGATE_TYPE = "order";
    static final String EVENT_TYPE = "OrderPlaced";

    private BenchWorkload() {
    }

    /** A JSON-ish payload of exactly {@code size} bytes (at least ~60). */
    static byte[] payload(long seq, String aggregateId, int size, SplittableRandom random) {
        StringBuilder sb = new StringBuilder(size);
        sb.append("{\"order\":\"").append(aggregateId).append("\",\"seq\":").append(seq)
                .append(",\"amount\":").append(random.nextInt(1, 100_000)).append(",\"pad\":\"");
        while (sb.length() < size - 2) {
            sb.append((char) ('a' + random.nextInt(26)));
        }
        sb.append("\"}");
        byte[] b = sb.toString().getBytes(StandardCharsets.UTF_8);
        return b.length == size ? b : java.util.Arrays.copyOf(b, Math.max(size, 1));
    }

    static OutboxEvent event(UUID id, long seq, int aggregates, int payloadBytes, SplittableRandom random) {
        String aggregateId = "order-" + random.nextInt(aggregates);
        OutboxEvent.Builder b = OutboxEvent.builder().aggregateType(AGGREGATE_TYPE).aggregateId(aggregateId).type(EVENT_TYPE)
                .payload(payload(seq, aggregateId, payloadBytes, random));
        if (id != null) {
            b.id(id);
        }
        return b.build();
    }

    /** The producer settings of every contender: idempotent, acks=all, linger.ms=5, no compression. */
    static Map<String, Object> producerProperties(String bootstrapServers, String clientId) {
        Map<String, Object> p = new HashMap<>();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "none");
        p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return p;
    }

    /** The record of the data contract for one outbox row. */
    static ProducerRecord<byte[], byte[]> record(String topicPrefix, String id, String aggregateType, String aggregateId,
            String type, byte[] payload, Long timestamp) {
        RecordHeaders headers = new RecordHeaders();
        headers.add("id", id.getBytes(StandardCharsets.UTF_8));
        headers.add("eventType", type.getBytes(StandardCharsets.UTF_8));
        headers.add("aggregateType", aggregateType.getBytes(StandardCharsets.UTF_8));
        return new ProducerRecord<>(topicPrefix + aggregateType, null, timestamp, aggregateId.getBytes(StandardCharsets.UTF_8),
                payload, headers);
    }

    static HikariDataSource pool(TestDatabase db, String name, int size) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(db.jdbcUrl());
        config.setUsername(db.user());
        config.setPassword(db.password());
        config.setMaximumPoolSize(size);
        config.setMinimumIdle(1);
        config.setPoolName("bench-" + name);
        // tells the benchmark's own sessions apart in pg_stat_activity (DatabaseCpu leaves the writers out)
        config.addDataSourceProperty("ApplicationName", "bench-" + name);
        return new HikariDataSource(config);
    }

    static void execute(TestDatabase db, String... sql) throws SQLException {
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            for (String q : sql) {
                s.execute(q);
            }
        }
    }

    /**
     * Writes {@code events} outbox rows in transactions of {@code txSize} events with
     * {@code writers} threads, through outbox-core.
     */
    static void writeBacklog(HikariDataSource pool, long events, int aggregates, int payloadBytes, int txSize, int writers,
            AtomicLong written) throws Exception {
        Outbox outbox = Outbox.create(OutboxConfig.defaults());
        AtomicInteger threadNo = new AtomicInteger();
        ExecutorService exec = Executors.newFixedThreadPool(writers, r -> new Thread(r, "bench-backlog-writer-" + threadNo.incrementAndGet()));
        try {
            List<Future<?>> futures = new ArrayList<>();
            long per = events / writers;
            for (int w = 0; w < writers; w++) {
                long mine = w == writers - 1 ? events - per * (writers - 1) : per;
                long seed = 1000 + w;
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
                                batch.add(event(null, done + i, aggregates, payloadBytes, random));
                            }
                            outbox.appendAll(c, batch);
                            c.commit();
                            done += n;
                            written.addAndGet(n);
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
}
