package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.RelayException;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.RecordChangeEvent;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.connect.source.SourceRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The relay's batch contract (as Debezium Server's Kafka sink): send every record of the batch,
 * wait for each acknowledgement in order, mark each processed only after its acknowledgement,
 * then mark the batch finished. The first failure fails the batch: nothing after it is marked, so
 * a restart resumes from it. Change events are only ever handled on the engine's thread.
 */
public final class PublishingChangeConsumer implements DebeziumEngine.ChangeConsumer<RecordChangeEvent<SourceRecord>> {

    private static final Logger LOG = LoggerFactory.getLogger(PublishingChangeConsumer.class);

    private final Producer<byte[], byte[]> producer;
    private final OutboxRecordMapper mapper;
    private final TopicGuard topics;
    private final AtomicLong published = new AtomicLong();
    private final AtomicLong batches = new AtomicLong();

    public PublishingChangeConsumer(Producer<byte[], byte[]> producer, OutboxRecordMapper mapper, TopicGuard topics) {
        this.producer = producer;
        this.mapper = mapper;
        this.topics = topics;
    }

    @Override
    public void handleBatch(List<RecordChangeEvent<SourceRecord>> changes,
            DebeziumEngine.RecordCommitter<RecordChangeEvent<SourceRecord>> committer) throws InterruptedException {
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>(changes.size());
        RelayException mappingFailure = null;
        for (RecordChangeEvent<SourceRecord> change : changes) {
            try {
                records.add(mapper.map(change.record()));
            } catch (RelayException e) {
                mappingFailure = e; // publish and mark what came before it, then stop
                break;
            }
        }
        Set<String> targetTopics = new LinkedHashSet<>();
        for (ProducerRecord<byte[], byte[]> r : records) {
            if (r != null) {
                targetTopics.add(r.topic());
            }
        }
        topics.ensure(targetTopics);

        List<Future<RecordMetadata>> acks = new ArrayList<>(records.size());
        for (ProducerRecord<byte[], byte[]> r : records) {
            acks.add(r == null ? null : producer.send(r));
        }
        long sent = 0;
        for (int i = 0; i < records.size(); i++) {
            Future<RecordMetadata> ack = acks.get(i);
            if (ack != null) {
                try {
                    ack.get();
                } catch (ExecutionException e) {
                    ProducerRecord<byte[], byte[]> r = records.get(i);
                    throw new RelayException("Kafka did not acknowledge event " + eventId(r) + " (topic " + r.topic() + "): "
                            + e.getCause() + ". The batch failed: this event and the " + (records.size() - i - 1)
                            + " after it are not marked processed and will be sent again after a restart.", e.getCause());
                }
                sent++;
            }
            committer.markProcessed(changes.get(i));
        }
        committer.markBatchFinished();
        published.addAndGet(sent);
        long n = batches.incrementAndGet();
        if (LOG.isDebugEnabled()) {
            LOG.debug("Batch {}: {} change events, {} published", n, changes.size(), sent);
        }
        if (mappingFailure != null) {
            throw mappingFailure;
        }
    }

    private static String eventId(ProducerRecord<byte[], byte[]> r) {
        Header h = r.headers().lastHeader(OutboxRecordMapper.HEADER_ID);
        return h == null ? "?" : new String(h.value(), StandardCharsets.UTF_8);
    }

    public long published() {
        return published.get();
    }

    public long batches() {
        return batches.get();
    }
}
