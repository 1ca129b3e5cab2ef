package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.UnprocessableRecordException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
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
 * own transaction (or park it behind its failing key, or dead-letter it), commit the offsets of the
 * records whose transaction committed, retry the heads of parked keys when due, run the retention
 * cleanup, and on exit commit what was applied and close the consumer.
 */
final class PollLoop implements Runnable {

    private static final Logger LOG = LoggerFactory.getLogger(PollLoop.class);

    private final InboxSettings settings;
    private final String name;
    private final Consumer<byte[], byte[]> consumer;
    private final BooleanSupplier running;
    private final Exit exit;
    private final InboxCounters counters;
    private final RecordParser parser;
    private final InboxTransaction transaction;
    private final OffsetCommitter offsets;
    private final PartitionRetries retries;
    private final Backoff backoff;
    private final ParkedStore parkedStore;
    private final DeadLetterPublisher deadLetters;
    private final InboxCleanup cleanup;
    private final Clock clock;
    /** Per owned partition, its parked keys; a partition missing here has not been loaded yet. */
    private final Map<TopicPartition, Set<String>> parkedKeys = new HashMap<>();
    /** Owned partitions whose parked keys could not be loaded yet; they stay paused until loaded. */
    private final Set<TopicPartition> unloaded = new HashSet<>();
    private long nextParkedCheckNanos = System.nanoTime();
    private final long processingBudgetNanos;
    private long batchDeadlineNanos;
    /** Most records applied in one transaction. */
    private final int maxRun;

    /** What the loop reports when it ends. */
    interface Exit {
        /** @param failure null after close(), else why the loop stopped on its own */
        void exited(Throwable failure);
    }

    PollLoop(InboxSettings settings, Consumer<byte[], byte[]> consumer, InboxCounters counters,
            DeadLetterPublisher deadLetters, BooleanSupplier running, Exit exit) {
        this.settings = settings;
        this.name = settings.consumerName();
        this.consumer = consumer;
        this.running = running;
        this.exit = exit;
        this.counters = counters;
        this.deadLetters = deadLetters;
        this.clock = settings.clock();
        Sql sql = new Sql(settings.inboxTable());
        this.parser = new RecordParser(name);
        this.maxRun = settings.maxBatchSize();
        this.processingBudgetNanos = KafkaConsumerProperties.maxPollIntervalMs(settings.kafkaProperties())
                * 1_000_000L / 2;
        this.transaction = new InboxTransaction(name, settings.dataSource(), settings.transactionRunner(), sql,
                settings.handler(), clock, counters);
        this.offsets = new OffsetCommitter(name, consumer, counters);
        this.backoff = new Backoff(settings.retryBackoffInitial(), settings.retryBackoffMax());
        this.retries = new PartitionRetries(backoff);
        this.parkedStore = new ParkedStore(name, settings.dataSource(), sql, clock);
        this.cleanup = new InboxCleanup(name, settings.dataSource(), sql, clock, settings.retention(),
                settings.cleanupInterval(), settings.cleanupBatchSize());
    }

    @Override
    public void run() {
        Throwable failure = null;
        try {
            while (running.getAsBoolean()) {
                pollOnce();
            }
        } catch (Throwable e) {
            failure = e;
            LOG.error("Inbox consumer '{}' stopped on an unexpected error; it commits the offsets of the records "
                    + "it applied if Kafka allows, later records go to the next consumer of the group", name, e);
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
        loadUnloadedPartitions();
        resumeDuePartitions();
        ConsumerRecords<byte[], byte[]> records;
        try {
            records = consumer.poll(settings.pollTimeout());
        } catch (WakeupException e) {
            LOG.debug("Inbox consumer '{}' woken up to close", name);
            return;
        }
        process(records);
        offsets.commitAll();
        retryDueParkedKeys();
        cleanup.runIfDue();
        updateLag();
    }

    private void process(ConsumerRecords<byte[], byte[]> records) {
        batchDeadlineNanos = System.nanoTime() + processingBudgetNanos;
        for (TopicPartition tp : records.partitions()) {
            List<ConsumerRecord<byte[], byte[]>> list = records.records(tp);
            if (!running.getAsBoolean()) {
                return;
            }
            if (!keepGoing()) {
                consumer.seek(tp, list.get(0).offset()); // not started: read again after the next poll
                continue;
            }
            processPartition(tp, list);
        }
    }

    /**
     * Whether to go on with the current poll batch: the consumer is running and the batch has not used
     * its time budget (half of {@code max.poll.interval.ms}). A slow handler thus makes the loop poll
     * again in time, instead of being evicted from the group and causing a rebalance storm.
     */
    private boolean keepGoing() {
        return running.getAsBoolean() && System.nanoTime() - batchDeadlineNanos < 0;
    }

    /**
     * Handles the records of one partition in order: bad records and records of parked keys one by
     * one, and each run of consecutive other records in one transaction ({@link InboxTransaction#applyRun}).
     * Stops at a record whose partition now waits.
     */
    private void processPartition(TopicPartition tp, List<ConsumerRecord<byte[], byte[]>> records) {
        int i = 0;
        while (i < records.size()) {
            if (!keepGoing()) {
                if (running.getAsBoolean()) {
                    consumer.seek(tp, records.get(i).offset()); // out of time: the rest after the next poll
                    LOG.debug("Inbox consumer '{}': poll batch out of time at {}@{}; polling again to stay in the "
                            + "group", name, tp, records.get(i).offset());
                }
                return;
            }
            ConsumerRecord<byte[], byte[]> record = records.get(i);
            InboxEvent event;
            try {
                event = parser.parse(record);
            } catch (UnprocessableRecordException e) {
                if (!deadLetterBadRecord(tp, record, e)) {
                    return;
                }
                i++;
                continue;
            }
            if (event.key() != null && isParked(tp, event.key())) {
                ParkedStore.ParkBehind parked = parkBehind(tp, record, event);
                if (parked == null) {
                    return;
                }
                if (parked != ParkedStore.ParkBehind.NOT_PARKED) {
                    i++;
                    continue;
                }
                // another member unparked the key meanwhile: the record is applied below like any other
            }
            List<ConsumerRecord<byte[], byte[]>> runRecords = new ArrayList<>();
            List<InboxEvent> run = new ArrayList<>();
            runRecords.add(record);
            run.add(event);
            for (int j = i + 1; j < records.size() && run.size() < maxRun; j++) {
                InboxEvent next = parser.tryParse(records.get(j));
                if (next == null || next.key() != null && isParked(tp, next.key())) {
                    break;
                }
                runRecords.add(records.get(j));
                run.add(next);
            }
            int consumed = applyRun(tp, runRecords, run);
            if (consumed < 0) {
                return;
            }
            i += consumed;
        }
    }

    /**
     * Applies a run of records and handles the failure that ended it, if any.
     *
     * @return how many records of the run are done, or -1 if the partition now waits
     */
    private int applyRun(TopicPartition tp, List<ConsumerRecord<byte[], byte[]>> records, List<InboxEvent> run) {
        InboxTransaction.RunResult result;
        try {
            result = transaction.applyRun(run, this::keepGoing);
        } catch (InboxTransaction.HandlerMisuseException e) {
            throw e;
        } catch (Exception e) {
            // the database failed: nothing of the run committed; retry from its first record
            counters.failure();
            retryLater(tp, records.get(0), run.get(0), e);
            return -1;
        }
        for (int k = 0; k < result.committed(); k++) {
            InboxEvent event = run.get(k);
            if (result.applied()[k]) {
                counters.processed();
                counters.endToEndLatency(endToEndMillis(event));
            } else {
                counters.duplicate();
            }
            done(tp, records.get(k));
        }
        if (result.failure() == null) {
            if (result.committed() == 0 && running.getAsBoolean()) {
                consumer.seek(tp, records.get(0).offset()); // out of time before the first: read it again
            }
            return result.committed() == 0 ? -1 : result.committed();
        }
        int k = result.committed();
        counters.failure();
        InboxEvent failed = run.get(k);
        boolean handled = failed.key() == null
                ? failedWithoutKey(tp, records.get(k), failed, result.failure())
                : parkFailedKey(tp, records.get(k), failed, result.failure());
        return handled ? k + 1 : -1;
    }

    private boolean deadLetterBadRecord(TopicPartition tp, ConsumerRecord<byte[], byte[]> record,
            UnprocessableRecordException reason) {
        try {
            deadLetters.sendBadRecord(record, reason);
        } catch (DeadLetterPublisher.DeadLetterFailedException e) {
            counters.failure();
            retryLater(tp, record, null, e);
            return false;
        }
        counters.deadLettered();
        LOG.error("{} Sent to the dead-letter topic '{}'.", reason.getMessage(), settings.deadLetterTopic());
        done(tp, record);
        return true;
    }

    /**
     * Stores the record behind its parked key. Returns null if it could not (the partition is rewound for a retry),
     * {@link ParkedStore.ParkBehind#NOT_PARKED} if the key is no longer parked (forgotten here too; the record is not
     * done), else what was done with it.
     */
    private ParkedStore.ParkBehind parkBehind(TopicPartition tp, ConsumerRecord<byte[], byte[]> record, InboxEvent event) {
        ParkedStore.ParkBehind parked;
        try {
            parked = parkedStore.parkBehind(event);
        } catch (Exception e) {
            counters.failure();
            retryLater(tp, record, event, e);
            return null;
        }
        switch (parked) {
            case STORED -> {
                counters.parked();
                LOG.debug("Inbox consumer '{}': event {} at {}@{} waits behind parked key '{}'", name, event.id(), tp,
                        record.offset(), event.key());
            }
            case DUPLICATE -> counters.duplicate();
            case NOT_PARKED -> {
                Set<String> keys = parkedKeys.get(tp);
                if (keys != null) {
                    keys.remove(event.key());
                }
                LOG.info("Inbox consumer '{}': key '{}' of {} was unparked by another member of the group; its events"
                        + " are applied directly again", name, event.key(), tp);
                return parked;
            }
        }
        done(tp, record);
        return parked;
    }

    /** The first failure of an event with a key: park the key (or dead-letter at once if fatal). */
    private boolean parkFailedKey(TopicPartition tp, ConsumerRecord<byte[], byte[]> record, InboxEvent event,
            Exception failure) {
        boolean fatal = settings.classifier().isFatal(failure);
        try {
            if (fatal || settings.maxAttempts() <= 1) {
                deadLetters.sendEvent(event, fatal, failure, 1);
                parkedStore.parkDeadLettered(event, failure, 1);
                counters.deadLettered();
                LOG.error("Inbox consumer '{}': event {} at {}@{} failed {}; sent to the dead-letter topic '{}', key "
                        + "'{}' parked until redriven", name, event.id(), tp, record.offset(),
                        fatal ? "fatally" : "its only attempt", settings.deadLetterTopic(), event.key(), failure);
            } else {
                long delay = backoff.delayMillis(1);
                parkedStore.parkRetrying(event, failure, 1, clock.instant().plusMillis(delay));
                counters.retryScheduled();
                LOG.warn("Inbox consumer '{}': attempt 1 of event {} at {}@{} failed and was rolled back; key '{}' "
                        + "parked, later events of the key wait, retrying in {} ms", name, event.id(), tp,
                        record.offset(), event.key(), delay, failure);
            }
        } catch (Exception e) {
            e.addSuppressed(failure);
            retryLater(tp, record, event, e);
            return false;
        }
        counters.parked();
        parkedKeys.computeIfAbsent(tp, p -> new HashSet<>()).add(event.key());
        done(tp, record);
        return true;
    }

    /** A failure of an event without a key: it cannot be parked, so its partition waits (bounded). */
    private boolean failedWithoutKey(TopicPartition tp, ConsumerRecord<byte[], byte[]> record, InboxEvent event,
            Exception failure) {
        boolean fatal = settings.classifier().isFatal(failure);
        int attempt = retries.attemptsSoFar(tp, record.offset()) + 1;
        if (!fatal && attempt < settings.maxAttempts()) {
            retryLater(tp, record, event, failure);
            return false;
        }
        try {
            deadLetters.sendEvent(event, fatal, failure, attempt);
            parkedStore.recordDeadLettered(event);
        } catch (Exception e) {
            e.addSuppressed(failure);
            retryLater(tp, record, event, e);
            return false;
        }
        counters.deadLettered();
        LOG.error("Inbox consumer '{}': event {} (no key) at {}@{} failed {} after {} attempt(s); sent to the "
                + "dead-letter topic '{}'", name, event.id(), tp, record.offset(), fatal ? "fatally" : "", attempt,
                settings.deadLetterTopic(), failure);
        retries.forget(List.of(tp));
        done(tp, record);
        return true;
    }

    private void done(TopicPartition tp, ConsumerRecord<byte[], byte[]> record) {
        offsets.processed(tp, record.offset());
        retries.succeeded(tp);
    }

    /** Rewinds the partition to the record and pauses it for the backoff; other partitions go on. */
    private void retryLater(TopicPartition tp, ConsumerRecord<byte[], byte[]> record, InboxEvent event, Exception e) {
        PartitionRetries.Failure failure = retries.failed(tp, record.offset(), clock.millis());
        counters.retryScheduled();
        consumer.seek(tp, record.offset());
        consumer.pause(Set.of(tp));
        LOG.warn("Inbox consumer '{}': attempt {} to handle {} at {}@{} failed and was rolled back; "
                + "partition paused, retrying in {} ms", name, failure.attempt(),
                event == null ? "the record" : "event " + event.id(), tp, record.offset(), failure.delayMillis(), e);
    }

    // ---- parked keys ----------------------------------------------------------------------------

    private boolean isParked(TopicPartition tp, String key) {
        Set<String> keys = parkedKeys.get(tp);
        return keys != null && keys.contains(key);
    }

    /** Retries the heads of the parked keys of owned partitions whose backoff elapsed, or that were redriven. */
    private void retryDueParkedKeys() {
        long now = System.nanoTime();
        if (now - nextParkedCheckNanos < 0) {
            return;
        }
        nextParkedCheckNanos = now + settings.parkedKeyCheckInterval().toNanos();
        batchDeadlineNanos = now + processingBudgetNanos; // draining parked keys must not get the member evicted
        List<ParkedKey> due;
        try {
            due = parkedStore.dueKeys(clock.instant());
            counters.parkedKeys(parkedStore.countParkedKeys());
        } catch (Exception e) {
            LOG.warn("Inbox consumer '{}' could not look for parked keys due for a retry; trying again in {}", name,
                    settings.parkedKeyCheckInterval(), e);
            return;
        }
        Set<TopicPartition> owned = consumer.assignment();
        for (ParkedKey key : due) {
            TopicPartition tp = new TopicPartition(key.topic(), key.partition());
            if (!keepGoing()) {
                return; // the rest of the due keys at the next check
            }
            if (owned.contains(tp) && parkedKeys.containsKey(tp)) {
                drain(tp, key);
            }
        }
    }

    /** Applies the stored events of {@code key} in order until one fails or none is left. */
    private void drain(TopicPartition tp, ParkedKey key) {
        int attempts = key.attempts();
        while (keepGoing()) {
            Optional<InboxEvent> head;
            try {
                head = parkedStore.head(key);
                if (head.isEmpty()) {
                    if (parkedStore.unparkIfEmpty(key)) {
                        unparked(tp, key);
                    }
                    return;
                }
            } catch (Exception e) {
                LOG.warn("Inbox consumer '{}' could not read the parked events of key '{}' of {}", name, key.key(),
                        key.topic(), e);
                return;
            }
            InboxEvent event = head.get();
            try {
                InboxTransaction.ParkedApply result = transaction.applyParked(event, key);
                if (result.applied()) {
                    counters.processed();
                    counters.endToEndLatency(endToEndMillis(event));
                } else {
                    counters.duplicate();
                }
                attempts = 0;
                if (result.unparked()) {
                    unparked(tp, key);
                    return;
                }
            } catch (InboxTransaction.HandlerMisuseException e) {
                throw e;
            } catch (Exception e) {
                counters.failure();
                headFailed(key, event, attempts + 1, e);
                return;
            }
        }
    }

    private void headFailed(ParkedKey key, InboxEvent event, int attempts, Exception failure) {
        boolean fatal = settings.classifier().isFatal(failure);
        try {
            if (fatal || attempts >= settings.maxAttempts()) {
                deadLetters.sendEvent(event, fatal, failure, attempts);
                parkedStore.markDeadLettered(key, event, failure, attempts);
                counters.deadLettered();
                LOG.error("Inbox consumer '{}': event {} of parked key '{}' failed {} (attempt {}); sent to the "
                        + "dead-letter topic '{}', the key stays parked until redriven", name, event.id(), key.key(),
                        fatal ? "fatally" : "too often", attempts, settings.deadLetterTopic(), failure);
            } else {
                long delay = backoff.delayMillis(attempts);
                parkedStore.recordFailure(key, failure, attempts, clock.instant().plusMillis(delay));
                counters.retryScheduled();
                LOG.warn("Inbox consumer '{}': attempt {} of event {} of parked key '{}' failed and was rolled back; "
                        + "retrying in {} ms", name, attempts, event.id(), key.key(), delay, failure);
            }
        } catch (Exception e) {
            e.addSuppressed(failure);
            LOG.warn("Inbox consumer '{}' could not record the failure of event {} of parked key '{}'; the attempt "
                    + "is repeated at the next check", name, event.id(), key.key(), e);
        }
    }

    private void unparked(TopicPartition tp, ParkedKey key) {
        Set<String> keys = parkedKeys.get(tp);
        if (keys != null) {
            keys.remove(key.key());
        }
        LOG.info("Inbox consumer '{}': key '{}' of {} unparked, its events applied in order", name, key.key(),
                key.topic());
    }

    /** Loads the parked keys of newly assigned partitions; a partition stays paused until loaded. */
    private void loadUnloadedPartitions() {
        if (unloaded.isEmpty()) {
            return;
        }
        List<TopicPartition> loaded = new ArrayList<>();
        for (TopicPartition tp : unloaded) {
            try {
                parkedKeys.put(tp, new HashSet<>(parkedStore.keysOf(tp.topic(), tp.partition())));
                loaded.add(tp);
            } catch (Exception e) {
                counters.failure();
                LOG.warn("Inbox consumer '{}' could not load the parked keys of {}; the partition waits", name, tp, e);
                break;
            }
        }
        loaded.forEach(unloaded::remove);
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

    private void resumeDuePartitions() {
        List<TopicPartition> due = retries.dueForResume(clock.millis());
        if (!due.isEmpty()) {
            due.retainAll(consumer.assignment());
            due.removeAll(unloaded);
            consumer.resume(due);
        }
    }

    private long endToEndMillis(InboxEvent event) {
        return event.committedAt() == null ? -1 : clock.millis() - event.committedAt().toEpochMilli();
    }

    private void updateLag() {
        long total = 0;
        for (TopicPartition tp : consumer.assignment()) {
            OptionalLong lag = consumer.currentLag(tp);
            if (lag.isPresent()) {
                total += lag.getAsLong();
            }
        }
        counters.lag(total);
    }

    private void shutDown() {
        try {
            offsets.commitAll();
        } catch (RuntimeException e) {
            LOG.warn("Inbox consumer '{}' could not commit offsets while stopping; the records are redelivered and "
                    + "skipped by the inbox", name, e);
        }
        try {
            consumer.close(CloseOptions.timeout(settings.closeTimeout()));
        } catch (RuntimeException e) {
            LOG.warn("Inbox consumer '{}' did not close its Kafka consumer cleanly", name, e);
        }
    }

    /** Commits on revocation, drops on loss, loads parked keys on assignment. */
    private final class Rebalance implements ConsumerRebalanceListener {

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (partitions.isEmpty()) {
                return;
            }
            forgetPartitions(partitions);
            try {
                offsets.commitAndForget(partitions);
            } catch (KafkaException e) {
                LOG.warn("Inbox consumer '{}' could not commit offsets of revoked partitions {}; the new owner "
                        + "re-reads those records and the inbox skips them", name, partitions, e);
            }
            LOG.info("Inbox consumer '{}': partitions revoked {}", name, partitions);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            if (partitions.isEmpty()) {
                return;
            }
            forgetPartitions(partitions);
            int dropped = offsets.forget(partitions);
            LOG.warn("Inbox consumer '{}' lost partitions {}; {} of them had applied records whose offsets were not "
                    + "committed: they are redelivered and skipped by the inbox", name, partitions, dropped);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            if (partitions.isEmpty()) {
                return;
            }
            // records of a partition must not be handled before its parked keys are known
            unloaded.addAll(partitions);
            consumer.pause(partitions);
            loadUnloadedPartitions();
            LOG.info("Inbox consumer '{}': partitions assigned {}", name, partitions);
        }

        private void forgetPartitions(Collection<TopicPartition> partitions) {
            retries.forget(partitions);
            partitions.forEach(tp -> {
                parkedKeys.remove(tp);
                unloaded.remove(tp);
            });
        }
    }
}
