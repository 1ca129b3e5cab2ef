package dev.outboxbridge.bench;

import io.debezium.embedded.Connect;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.RecordChangeEvent;
import io.debezium.engine.format.ChangeEventFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.source.SourceRecord;

/**
 * Peer 1, what a Debezium user runs: the embedded Debezium Postgres engine with Debezium's own
 * Outbox Event Router SMT ({@code io.debezium.transforms.outbox.EventRouter}) routing by
 * aggregatetype to the same topics, forwarded to a producer with the same settings and the same
 * batch contract (send all, wait each ack, markProcessed, markBatchFinished). Engine settings equal
 * the relay's (batch 2048, queue 8192, poll 10 ms, offset flush 1 s).
 */
final class DebeziumRouterPeer implements Contender {

    static final String NAME = "Debezium EventRouter";

    private final Target target;
    private final AtomicLong published = new AtomicLong();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private KafkaProducer<byte[], byte[]> producer;
    private DebeziumEngine<RecordChangeEvent<SourceRecord>> engine;
    private ExecutorService executor;

    DebeziumRouterPeer(Target target) {
        this.target = target;
    }

    static Properties engineProperties(Target t) {
        Properties p = new Properties();
        p.setProperty("name", "bench-" + t.slot());
        p.setProperty("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
        p.setProperty("offset.storage", "org.apache.kafka.connect.storage.FileOffsetBackingStore");
        p.setProperty("offset.storage.file.filename", t.workDir().resolve("debezium-offsets-" + t.slot() + ".dat").toString());
        p.setProperty("offset.flush.interval.ms", "1000");
        p.setProperty("database.hostname", t.host());
        p.setProperty("database.port", String.valueOf(t.port()));
        p.setProperty("database.dbname", t.database());
        p.setProperty("database.user", t.user());
        p.setProperty("database.password", t.password() == null ? "" : t.password());
        p.setProperty("topic.prefix", "bench_" + t.slot());
        p.setProperty("plugin.name", "pgoutput");
        p.setProperty("slot.name", t.slot());
        p.setProperty("slot.drop.on.stop", "false");
        p.setProperty("publication.name", t.publication());
        p.setProperty("publication.autocreate.mode", "disabled");
        p.setProperty("table.include.list", "public.outbox_event");
        p.setProperty("snapshot.mode", "no_data");
        p.setProperty("tombstones.on.delete", "false");
        p.setProperty("poll.interval.ms", "10");
        p.setProperty("max.batch.size", "2048");
        p.setProperty("max.queue.size", "8192");
        p.setProperty("binary.handling.mode", "bytes");
        // Logical decoding messages are database-wide, not filtered by the publication: the outbox-bridge relay's
        // WAL heartbeats (pg_logical_emit_message), written while it runs in the same database, reach this slot too.
        // Debezium would route each to '<topic.prefix>.message', a topic that does not exist (no auto-creation), and
        // the peer would stop with "not present in metadata" near the end of a drain. A Debezium deployment beside
        // another logical-message writer filters them the same way.
        p.setProperty("message.prefix.exclude.list", ".*");
        // Debezium's Outbox Event Router, configured to produce the record of the data contract
        p.setProperty("transforms", "outbox");
        p.setProperty("transforms.outbox.type", "io.debezium.transforms.outbox.EventRouter");
        p.setProperty("transforms.outbox.table.field.event.id", "id");
        p.setProperty("transforms.outbox.table.field.event.key", "aggregateid");
        p.setProperty("transforms.outbox.table.field.event.payload", "payload");
        p.setProperty("transforms.outbox.route.by.field", "aggregatetype");
        p.setProperty("transforms.outbox.route.topic.replacement", t.topicPrefix() + "${routedByValue}");
        p.setProperty("transforms.outbox.table.fields.additional.placement", "type:header:eventType,aggregatetype:header:aggregateType");
        p.setProperty("transforms.outbox.table.expand.json.payload", "false");
        return p;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public void start() {
        producer = new KafkaProducer<>(BenchWorkload.producerProperties(target.bootstrapServers(), "bench-debezium-producer"));
        engine = DebeziumEngine.create(ChangeEventFormat.of(Connect.class))
                .using(engineProperties(target))
                .using((success, message, error) -> {
                    if (!success || error != null) {
                        failure.compareAndSet(null, error != null ? error : new IllegalStateException(message));
                    }
                    stopped.countDown();
                })
                .notifying(this::handleBatch)
                .build();
        executor = Executors.newSingleThreadExecutor(r -> new Thread(r, "bench-debezium-engine"));
        executor.execute(engine);
    }

    private void handleBatch(List<RecordChangeEvent<SourceRecord>> changes,
            DebeziumEngine.RecordCommitter<RecordChangeEvent<SourceRecord>> committer) throws InterruptedException {
        List<Future<RecordMetadata>> acks = new ArrayList<>(changes.size());
        for (RecordChangeEvent<SourceRecord> change : changes) {
            ProducerRecord<byte[], byte[]> r = toRecord(change.record());
            acks.add(r == null ? null : producer.send(r));
        }
        long sent = 0;
        for (int i = 0; i < changes.size(); i++) {
            Future<RecordMetadata> ack = acks.get(i);
            if (ack != null) {
                try {
                    ack.get();
                } catch (ExecutionException e) {
                    throw new IllegalStateException("Kafka did not acknowledge a record: " + e.getCause(), e.getCause());
                }
                sent++;
            }
            committer.markProcessed(changes.get(i));
        }
        committer.markBatchFinished();
        published.addAndGet(sent);
    }

    private static ProducerRecord<byte[], byte[]> toRecord(SourceRecord r) {
        if (r == null || r.value() == null) {
            return null;
        }
        RecordHeaders headers = new RecordHeaders();
        for (Header h : r.headers()) {
            headers.add(h.key(), h.value() == null ? null : bytes(h.value()));
        }
        return new ProducerRecord<>(r.topic(), null, r.timestamp(), r.key() == null ? null : bytes(r.key()), bytes(r.value()), headers);
    }

    private static byte[] bytes(Object v) {
        if (v instanceof byte[] b) {
            return b;
        }
        if (v instanceof ByteBuffer bb) {
            ByteBuffer d = bb.duplicate();
            byte[] out = new byte[d.remaining()];
            d.get(out);
            return out;
        }
        return v.toString().getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public long published() {
        return published.get();
    }

    @Override
    public void checkHealthy() {
        if (failure.get() != null) {
            throw new IllegalStateException("The Debezium EventRouter peer failed: " + failure.get(), failure.get());
        }
    }

    @Override
    public void close() {
        try {
            if (engine != null) {
                engine.close();
                stopped.await(30, TimeUnit.SECONDS);
            }
        } catch (IOException e) {
            failure.compareAndSet(null, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            if (executor != null) {
                executor.shutdown();
                try {
                    if (!executor.awaitTermination(30, TimeUnit.SECONDS)) {
                        executor.shutdownNow();
                    }
                } catch (InterruptedException e) {
                    executor.shutdownNow();
                    Thread.currentThread().interrupt();
                }
            }
            if (producer != null) {
                producer.close(java.time.Duration.ofSeconds(10));
            }
        }
    }
}
