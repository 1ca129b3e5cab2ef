package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.UnprocessableRecordException;
import java.time.Clock;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The body of the polling thread. It alone uses the Kafka consumer: poll, apply each record in its
 * own transaction, commit the offsets of the records whose transaction committed, pause and rewind
 * partitions whose record failed, and on exit commit what was applied and close the consumer.
 */
final class PollLoop implements Runnable {

    private static final Logger LOG = LoggerFactory.getLogger(PollLoop.class);

    private final InboxSettings settings;
    private final Consumer<byte[], byte[]> consumer;
    private final BooleanSupplier running;
    private final Exit exit;
    private final InboxCounters counters;
    private final RecordParser parser;
    private final InboxTransaction transaction;
    private final OffsetCommitter offsets;
    private final PartitionRetries retries;
    private final Clock clock;

    /** What the loop reports when it ends. */
    interface Exit {
        /** @param failure null after close(), else why the loop stopped on its own */
        void exited(Throwable failure);
    }

    PollLoop(InboxSettings settings, Consumer<byte[], byte[]> consumer, InboxCounters counters,
            BooleanSupplier running, Exit exit) {
        this.settings = settings;
        this.consumer = consumer;
        this.running = running;
        this.exit = exit;
        this.counters = counters;
        this.parser = new RecordParser(settings.consumerName());
        this.transaction = new InboxTransaction(settings.consumerName(), settings.dataSource(),
                settings.inboxTable(), settings.handler());
        this.offsets = new OffsetCommitter(settings.consumerName(), consumer, counters);
        this.retries = new PartitionRetries(new Backoff(settings.retryBackoffInitial(), settings.retryBackoffMax()));
        this.clock = settings.clock();
    }

    @Override
    public void run() {
        Throwable failure = null;
        try {
            while (running.getAsBoolean()) {
                pollOnce();
            }
        } catch (UnprocessableRecordException e) {
            failure = e;
            LOG.error(e.getMessage());
        } catch (Throwable e) {
            failure = e;
            LOG.error("Inbox consumer '{}' stopped on an unexpected error; it commits the offsets of the records "
                    + "it applied if Kafka allows, later records go to the next consumer of the group",
                    settings.consumerName(), e);
        } finally {
            shutDown();
            exit.exited(failure);
        }
    }

    /** Subscribes with the rebalance listener; called by start() before the thread starts. */
    void subscribe() {
        Rebalance listener = new Rebalance();
        if (settings.topics() != null) {
            consumer.subscribe(settings.topics(), listener);
        } else {
            consumer.subscribe(settings.topicPattern(), listener);
        }
    }

    private void pollOnce() {
        resumeDuePartitions();
        ConsumerRecords<byte[], byte[]> records;
        try {
            records = consumer.poll(settings.pollTimeout());
        } catch (WakeupException e) {
            LOG.debug("Inbox consumer '{}' woken up to close", settings.consumerName());
            return;
        }
        process(records);
        offsets.commitAll();
    }

    private void process(ConsumerRecords<byte[], byte[]> records) {
        for (TopicPartition tp : records.partitions()) {
            for (ConsumerRecord<byte[], byte[]> record : records.records(tp)) {
                if (!running.getAsBoolean() || !apply(tp, record)) {
                    break;
                }
            }
        }
    }

    /**
     * Applies one record.
     *
     * @return true if its transaction committed, false if it failed and its partition now waits
     * @throws UnprocessableRecordException if the record cannot be applied exactly once
     */
    private boolean apply(TopicPartition tp, ConsumerRecord<byte[], byte[]> record) {
        InboxEvent event = parser.parse(record);
        try {
            if (transaction.apply(event)) {
                counters.processed();
                LOG.debug("Inbox consumer '{}' applied event {} at {}@{}, {} ms after its commit",
                        settings.consumerName(), event.id(), tp, record.offset(), clock.millis() - record.timestamp());
            } else {
                counters.duplicate();
                LOG.debug("Inbox consumer '{}' skipped duplicate event {} at {}@{}",
                        settings.consumerName(), event.id(), tp, record.offset());
            }
        } catch (InboxTransaction.HandlerMisuseException e) {
            throw e;
        } catch (Exception e) {
            retryLater(tp, record, event, e);
            return false;
        }
        offsets.processed(tp, record.offset());
        retries.succeeded(tp);
        return true;
    }

    /** Rewinds the partition to the failed record and pauses it for the backoff; other partitions go on. */
    private void retryLater(TopicPartition tp, ConsumerRecord<byte[], byte[]> record, InboxEvent event, Exception e) {
        counters.failure();
        PartitionRetries.Failure failure = retries.failed(tp, record.offset(), clock.millis());
        consumer.seek(tp, record.offset());
        consumer.pause(Set.of(tp));
        LOG.warn("Inbox consumer '{}': attempt {} to apply event {} at {}@{} failed and was rolled back; "
                + "partition paused, retrying in {} ms", settings.consumerName(), failure.attempt(), event.id(), tp,
                record.offset(), failure.delayMillis(), e);
    }

    private void resumeDuePartitions() {
        List<TopicPartition> due = retries.dueForResume(clock.millis());
        if (!due.isEmpty()) {
            due.retainAll(consumer.assignment());
            consumer.resume(due);
        }
    }

    private void shutDown() {
        try {
            offsets.commitAll();
        } catch (RuntimeException e) {
            LOG.warn("Inbox consumer '{}' could not commit offsets while stopping; the records are redelivered and "
                    + "skipped by the inbox", settings.consumerName(), e);
        }
        try {
            consumer.close(CloseOptions.timeout(settings.closeTimeout()));
        } catch (RuntimeException e) {
            LOG.warn("Inbox consumer '{}' did not close its Kafka consumer cleanly", settings.consumerName(), e);
        }
    }

    /** Commits on revocation, drops on loss, and clears the retry state of partitions that left. */
    private final class Rebalance implements ConsumerRebalanceListener {

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (partitions.isEmpty()) {
                return;
            }
            retries.forget(partitions);
            try {
                offsets.commitAndForget(partitions);
            } catch (KafkaException e) {
                LOG.warn("Inbox consumer '{}' could not commit offsets of revoked partitions {}; the new owner "
                        + "re-reads those records and the inbox skips them", settings.consumerName(), partitions, e);
            }
            LOG.info("Inbox consumer '{}': partitions revoked {}", settings.consumerName(), partitions);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            if (partitions.isEmpty()) {
                return;
            }
            retries.forget(partitions);
            int dropped = offsets.forget(partitions);
            LOG.warn("Inbox consumer '{}' lost partitions {}; {} of them had applied records whose offsets were not "
                    + "committed: they are redelivered and skipped by the inbox", settings.consumerName(), partitions,
                    dropped);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) {
                LOG.info("Inbox consumer '{}': partitions assigned {}", settings.consumerName(), partitions);
            }
        }
    }
}
