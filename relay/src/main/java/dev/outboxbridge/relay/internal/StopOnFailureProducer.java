package dev.outboxbridge.relay.internal;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The event producer as {@link PublishingChangeConsumer} sees it: the first send that fails for a reason other than a
 * record Kafka refuses for good (those may go to the dead-letter topic) closes the producer at once, from Kafka's I/O
 * thread, so that no record queued after it is sent.
 *
 * <p>Why: a send fails after retries when {@code delivery.timeout.ms} passes (for example while fewer replicas than
 * {@code min.insync.replicas} are in sync). The relay then fails the batch and marks nothing from the failed event on; a
 * restart sends them again. But the Kafka producer would go on sending the records queued behind the expired one (after
 * an expiry the idempotent producer re-sequences the partition), and the relay's close() would even flush them: a later
 * event of the same aggregate could reach the topic before the failed one is re-sent. Closing with a zero timeout in
 * the callback aborts every record not yet sent; records already in flight behind the failed one are refused by the
 * broker's sequence check. So a delivery timeout loses nothing and reorders nothing; it only ends in a restart.
 */
final class StopOnFailureProducer implements Producer<byte[], byte[]> {

    private static final Logger LOG = LoggerFactory.getLogger(StopOnFailureProducer.class);

    private final Producer<byte[], byte[]> delegate;
    private final String relayName;
    private volatile boolean stopped;

    StopOnFailureProducer(Producer<byte[], byte[]> delegate, String relayName) {
        this.delegate = delegate;
        this.relayName = relayName;
    }

    private Callback stopOnFailure(ProducerRecord<byte[], byte[]> record, Callback callback) {
        return (metadata, exception) -> {
            if (exception != null && !stopped && !PublishingChangeConsumer.refusedForGood(exception)) {
                stopped = true;
                LOG.warn("Relay '{}': a send to {} failed ({}); the producer is closed at once so that nothing queued after it is"
                        + " sent (the relay sends it and what follows again after a restart)", relayName, record.topic(),
                        exception.toString());
                delegate.close(Duration.ZERO); // from the I/O thread: aborts every record not yet sent
            }
            if (callback != null) {
                callback.onCompletion(metadata, exception);
            }
        };
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<byte[], byte[]> record) {
        return delegate.send(record, stopOnFailure(record, null));
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<byte[], byte[]> record, Callback callback) {
        return delegate.send(record, stopOnFailure(record, callback));
    }

    @Override
    public void initTransactions() {
        delegate.initTransactions();
    }

    @Override
    public void beginTransaction() {
        delegate.beginTransaction();
    }

    @Override
    public void sendOffsetsToTransaction(Map<TopicPartition, OffsetAndMetadata> offsets, ConsumerGroupMetadata groupMetadata) {
        delegate.sendOffsetsToTransaction(offsets, groupMetadata);
    }

    @Override
    public void commitTransaction() {
        delegate.commitTransaction();
    }

    @Override
    public void abortTransaction() {
        delegate.abortTransaction();
    }

    @Override
    public void registerMetricForSubscription(KafkaMetric metric) {
        delegate.registerMetricForSubscription(metric);
    }

    @Override
    public void unregisterMetricFromSubscription(KafkaMetric metric) {
        delegate.unregisterMetricFromSubscription(metric);
    }

    @Override
    public void flush() {
        delegate.flush();
    }

    @Override
    public List<PartitionInfo> partitionsFor(String topic) {
        return delegate.partitionsFor(topic);
    }

    @Override
    public Map<MetricName, ? extends Metric> metrics() {
        return delegate.metrics();
    }

    @Override
    public Uuid clientInstanceId(Duration timeout) {
        return delegate.clientInstanceId(timeout);
    }

    @Override
    public void close() {
        delegate.close();
    }

    @Override
    public void close(Duration timeout) {
        delegate.close(timeout);
    }
}
