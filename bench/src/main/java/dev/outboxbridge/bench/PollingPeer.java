package dev.outboxbridge.bench;

import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * Peer 2, the design of polling outbox libraries: one thread that, in one transaction, selects the
 * oldest {@code batchSize} rows ({@code ORDER BY created_at, id FOR UPDATE SKIP LOCKED}), sends
 * them all, waits for every ack, deletes them and commits. When a poll finds fewer rows than the
 * batch size it sleeps {@code pollIntervalMs} before polling again.
 */
final class PollingPeer implements Contender {

    static final String NAME = "polling relay";
    private static final String SELECT = "SELECT id, aggregatetype, aggregateid, type, payload FROM outbox_event"
            + " ORDER BY created_at, id LIMIT ? FOR UPDATE SKIP LOCKED";
    private static final String DELETE = "DELETE FROM outbox_event WHERE id = ANY (?)";

    private final Target target;
    private final DataSource dataSource;
    private final int batchSize;
    private final long pollIntervalMs;
    private final AtomicLong published = new AtomicLong();
    private final AtomicLong polls = new AtomicLong();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private volatile boolean running = true;
    private KafkaProducer<byte[], byte[]> producer;
    private Thread thread;

    PollingPeer(Target target, DataSource dataSource, int batchSize, long pollIntervalMs) {
        this.target = target;
        this.dataSource = dataSource;
        this.batchSize = batchSize;
        this.pollIntervalMs = pollIntervalMs;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public void start() {
        producer = new KafkaProducer<>(BenchWorkload.producerProperties(target.bootstrapServers(), "bench-polling-producer"));
        thread = new Thread(this::run, "bench-polling-relay");
        thread.start();
    }

    private void run() {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement select = c.prepareStatement(SELECT); PreparedStatement delete = c.prepareStatement(DELETE)) {
                while (running) {
                    int n = pollOnce(c, select, delete);
                    polls.incrementAndGet();
                    if (n < batchSize && running) {
                        TimeUnit.MILLISECONDS.sleep(pollIntervalMs);
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Throwable e) {
            failure.set(e);
        }
    }

    private int pollOnce(Connection c, PreparedStatement select, PreparedStatement delete) throws Exception {
        List<UUID> ids = new ArrayList<>(batchSize);
        List<Future<RecordMetadata>> acks = new ArrayList<>(batchSize);
        select.setInt(1, batchSize);
        try (ResultSet rs = select.executeQuery()) {
            while (rs.next()) {
                UUID id = (UUID) rs.getObject(1);
                ids.add(id);
                ProducerRecord<byte[], byte[]> r = BenchWorkload.record(target.topicPrefix(), id.toString(), rs.getString(2),
                        rs.getString(3), rs.getString(4), rs.getBytes(5), null);
                acks.add(producer.send(r));
            }
        }
        for (Future<RecordMetadata> ack : acks) {
            try {
                ack.get();
            } catch (ExecutionException e) {
                c.rollback();
                throw new IllegalStateException("Kafka did not acknowledge a record: " + e.getCause(), e.getCause());
            }
        }
        if (!ids.isEmpty()) {
            Array array = c.createArrayOf("uuid", ids.toArray());
            delete.setArray(1, array);
            delete.executeUpdate();
        }
        c.commit();
        published.addAndGet(ids.size());
        return ids.size();
    }

    @Override
    public long published() {
        return published.get();
    }

    int batchSize() {
        return batchSize;
    }

    long polls() {
        return polls.get();
    }

    @Override
    public void checkHealthy() {
        if (failure.get() != null) {
            throw new IllegalStateException("The polling peer failed: " + failure.get(), failure.get());
        }
    }

    @Override
    public void close() {
        running = false;
        if (thread != null) {
            try {
                thread.join(TimeUnit.SECONDS.toMillis(30));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (thread.isAlive()) {
                thread.interrupt();
            }
        }
        if (producer != null) {
            producer.close(java.time.Duration.ofSeconds(10));
        }
    }
}
