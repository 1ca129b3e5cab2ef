package dev.outboxbridge.inbox.internal;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the consumer's per-partition state in step with the group's assignment: on revocation it commits the
 * offsets of the applied records and forgets the partitions, on loss it forgets them without committing, on
 * assignment it pauses the new partitions until their parked keys are loaded ({@link ParkedKeyIndex}), since a record
 * must not be applied before the consumer knows whether its key is parked. Kafka calls it on the polling thread,
 * inside {@code poll()}; the loop calls {@link #loadParkedKeys()} before each poll for partitions whose keys could
 * not be loaded yet.
 */
final class InboxRebalanceListener implements ConsumerRebalanceListener {

    private static final Logger LOG = LoggerFactory.getLogger(InboxRebalanceListener.class);

    private final String consumerName;
    private final Consumer<?, ?> consumer;
    private final ParkedKeyIndex parkedKeys;
    private final PartitionRetries retries;
    private final OffsetCommitter offsets;

    InboxRebalanceListener(String consumerName, Consumer<?, ?> consumer, ParkedKeyIndex parkedKeys,
            PartitionRetries retries, OffsetCommitter offsets) {
        this.consumerName = consumerName;
        this.consumer = consumer;
        this.parkedKeys = parkedKeys;
        this.retries = retries;
        this.offsets = offsets;
    }

    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
        if (partitions.isEmpty()) {
            return;
        }
        forget(partitions);
        try {
            offsets.commitAndForget(partitions);
        } catch (KafkaException e) {
            LOG.warn("Inbox consumer '{}' could not commit offsets of revoked partitions {}; the new owner "
                    + "re-reads those records and the inbox skips them", consumerName, partitions, e);
        }
        LOG.info("Inbox consumer '{}': partitions revoked {}", consumerName, partitions);
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
        if (partitions.isEmpty()) {
            return;
        }
        forget(partitions);
        int dropped = offsets.forget(partitions);
        LOG.warn("Inbox consumer '{}' lost partitions {}; {} of them had applied records whose offsets were not "
                + "committed: they are redelivered and skipped by the inbox", consumerName, partitions, dropped);
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        if (partitions.isEmpty()) {
            return;
        }
        // records of a partition must not be handled before its parked keys are known
        parkedKeys.assigned(partitions);
        consumer.pause(partitions);
        loadParkedKeys();
        LOG.info("Inbox consumer '{}': partitions assigned {}", consumerName, partitions);
    }

    /**
     * Loads the parked keys of assigned partitions not loaded yet, and resumes those that are loaded, still owned and
     * not waiting for a retry's backoff. A partition whose keys cannot be loaded stays paused.
     */
    void loadParkedKeys() {
        List<TopicPartition> loaded = parkedKeys.loadUnloaded();
        if (loaded.isEmpty()) {
            return;
        }
        Set<TopicPartition> owned = consumer.assignment();
        List<TopicPartition> resume = new ArrayList<>();
        for (TopicPartition tp : loaded) {
            if (owned.contains(tp) && !retries.isWaiting(tp)) {
                resume.add(tp);
            }
        }
        if (!resume.isEmpty()) {
            consumer.resume(resume);
        }
    }

    private void forget(Collection<TopicPartition> partitions) {
        retries.forget(partitions);
        parkedKeys.forget(partitions);
    }
}
