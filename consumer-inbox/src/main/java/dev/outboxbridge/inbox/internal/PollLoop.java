package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.UnprocessableRecordException;
import dev.outboxbridge.inbox.internal.FailurePolicy.Action;
import dev.outboxbridge.inbox.internal.FailurePolicy.Decision;
import dev.outboxbridge.inbox.internal.FailurePolicy.Origin;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The body of the polling thread. It alone uses the Kafka consumer: poll, apply each record in its
 * own transaction (or park it behind its failing key, or dead-letter it), commit the offsets of the
 * records whose transaction committed, retry the heads of parked keys when due, run the retention
 * cleanup, and on exit commit what was applied and close the consumer.
 *
 * <p>It keeps the loop and delegates the decisions: {@link FailurePolicy} says what happens to a failed
 * event, {@link ParkedKeyIndex} knows the parked keys of the owned partitions and
 * {@link InboxRebalanceListener} keeps them and the offsets in step with the assignment,
 * {@link PollBudget} ends a batch in time to poll again.
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
    private final FailurePolicy policy;
    private final ParkedStore parkedStore;
    private final DeadLetterPublisher deadLetters;
    private final InboxCleanup cleanup;
    private final Clock clock;
    private final ParkedKeyIndex parkedKeys;
    private final InboxRebalanceListener rebalance;
    private final LongSupplier nanoTime;
    private final PollBudget budget;
    private long nextParkedCheckNanos;
    /** Most records applied in one transaction. */
    private final int maxRun;

    /** What the loop reports when it ends. */
    interface Exit {
        /** @param failure null after close(), else why the loop stopped on its own */
        void exited(Throwable failure);
    }

    /**
     * @param nanoTime a monotonic clock in nanoseconds ({@code System::nanoTime} outside tests), for the poll budget
     *        and the parked-key checks; the settings' clock stays the one for retry times and retention
     */
    PollLoop(InboxSettings settings, Consumer<byte[], byte[]> consumer, InboxCounters counters,
            DeadLetterPublisher deadLetters, BooleanSupplier running, Exit exit, LongSupplier nanoTime) {
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
        this.nanoTime = nanoTime;
        this.budget = PollBudget.halfOfMaxPollInterval(settings.kafkaProperties(), nanoTime);
        this.nextParkedCheckNanos = nanoTime.getAsLong();
        this.transaction = new InboxTransaction(name, settings.dataSource(), settings.transactionRunner(), sql, settings.handler(), clock, counters,
                settings.savepointPerHandler());
        this.offsets = new OffsetCommitter(name, consumer, counters);
        Backoff backoff = new Backoff(settings.retryBackoffInitial(), settings.retryBackoffMax());
        this.retries = new PartitionRetries(backoff);
        this.policy = new FailurePolicy(settings.classifier(), settings.maxAttempts(), backoff, clock);
        this.parkedStore = new ParkedStore(name, settings.dataSource(), sql, clock);
        this.parkedKeys = new ParkedKeyIndex(name, tp -> parkedStore.keysOf(tp.topic(), tp.partition()), counters);
        this.rebalance = new InboxRebalanceListener(name, consumer, parkedKeys, retries, offsets);
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
        if (settings.topics() != null) {
            consumer.subscribe(settings.topics(), rebalance);
        } else {
            consumer.subscribe(settings.topicPattern(), rebalance);
        }
    }

    private void pollOnce() {
        rebalance.loadParkedKeys();
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
        budget.restart();
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

    /** Whether to go on with the current poll batch: the consumer is running and the batch has time left. */
    private boolean keepGoing() {
        return running.getAsBoolean() && budget.hasTimeLeft();
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
            if (event.key() != null && parkedKeys.isParked(tp, event.key())) {
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
                if (next == null || next.key() != null && parkedKeys.isParked(tp, next.key())) {
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
        } catch (Exception e) {
            // the database failed (or a handler misused the transaction): nothing of the run committed
            Decision decision = policy.decide(Origin.DATABASE, run.get(0).key() != null,
                    retries.attemptsSoFar(tp, records.get(0).offset()) + 1, e);
            if (decision.action() == Action.FAIL_CONSUMER) {
                throw failConsumer(e);
            }
            counters.failure();
            retryLater(tp, records.get(0), run.get(0), e); // from the run's first record
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
        ConsumerRecord<byte[], byte[]> record = records.get(k);
        boolean keyed = failed.key() != null;
        // a keyed event fails only once here: its key is parked, and later attempts are those of the parked head
        int attempt = keyed ? 1 : retries.attemptsSoFar(tp, record.offset()) + 1;
        Decision decision = policy.decide(Origin.HANDLER, keyed, attempt, result.failure());
        return handleFailure(tp, record, failed, decision, result.failure()) ? k + 1 : -1;
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
                parkedKeys.unpark(tp, event.key());
                LOG.info("Inbox consumer '{}': key '{}' of {} was unparked by another member of the group; its events"
                        + " are applied directly again", name, event.key(), tp);
                return parked;
            }
        }
        done(tp, record);
        return parked;
    }

    /**
     * Carries out the decision about an event read from Kafka whose handler failed: retry it in place, park its key,
     * or dead-letter it (a keyed event's key stays parked until redriven).
     *
     * @return whether the record is done (its offset may be committed); false if the partition now waits
     */
    private boolean handleFailure(TopicPartition tp, ConsumerRecord<byte[], byte[]> record, InboxEvent event,
            Decision decision, Exception failure) {
        switch (decision.action()) {
            case FAIL_CONSUMER -> throw failConsumer(failure);
            case RETRY -> {
                retryLater(tp, record, event, failure);
                return false;
            }
            default -> {
                // PARK_KEY or DEAD_LETTER, below
            }
        }
        boolean keyed = event.key() != null;
        try {
            if (decision.action() == Action.PARK_KEY) {
                parkedStore.parkRetrying(event, failure, decision.attempt(), decision.retryAt());
                counters.retryScheduled();
                LOG.warn("Inbox consumer '{}': attempt {} of event {} at {}@{} failed and was rolled back; key '{}' "
                        + "parked, later events of the key wait, retrying in {} ms", name, decision.attempt(),
                        event.id(), tp, record.offset(), event.key(), decision.delayMillis(), failure);
            } else if (keyed) {
                deadLetters.sendEvent(event, decision.fatal(), failure, decision.attempt());
                parkedStore.parkDeadLettered(event, failure, decision.attempt());
                counters.deadLettered();
                LOG.error("Inbox consumer '{}': event {} at {}@{} failed {}; sent to the dead-letter topic '{}', key "
                        + "'{}' parked until redriven", name, event.id(), tp, record.offset(),
                        decision.fatal() ? "fatally" : "its only attempt", settings.deadLetterTopic(), event.key(),
                        failure);
            } else {
                deadLetters.sendEvent(event, decision.fatal(), failure, decision.attempt());
                parkedStore.recordDeadLettered(event);
                counters.deadLettered();
                LOG.error("Inbox consumer '{}': event {} (no key) at {}@{} failed {} after {} attempt(s); sent to the "
                        + "dead-letter topic '{}'", name, event.id(), tp, record.offset(),
                        decision.fatal() ? "fatally" : "", decision.attempt(), settings.deadLetterTopic(), failure);
            }
        } catch (Exception e) {
            e.addSuppressed(failure);
            retryLater(tp, record, event, e);
            return false;
        }
        if (keyed) {
            counters.parked();
            parkedKeys.park(tp, event.key());
        } else {
            retries.forget(List.of(tp));
        }
        done(tp, record);
        return true;
    }

    /** A handler that misused its transaction is a bug that no retry fixes: the loop ends and the consumer fails. */
    private static RuntimeException failConsumer(Throwable failure) {
        return failure instanceof RuntimeException e ? e : new IllegalStateException(failure);
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

    /** Retries the heads of the parked keys of owned partitions whose backoff elapsed, or that were redriven. */
    private void retryDueParkedKeys() {
        long now = nanoTime.getAsLong();
        if (now - nextParkedCheckNanos < 0) {
            return;
        }
        nextParkedCheckNanos = now + settings.parkedKeyCheckInterval().toNanos();
        budget.restart(); // draining parked keys must not get the member evicted
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
            if (owned.contains(tp) && parkedKeys.isLoaded(tp)) {
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
            } catch (Exception e) {
                Decision decision = policy.decide(Origin.PARKED_HEAD, true, attempts + 1, e);
                if (decision.action() == Action.FAIL_CONSUMER) {
                    throw failConsumer(e);
                }
                counters.failure();
                headFailed(key, event, decision, e);
                return;
            }
        }
    }

    /** Carries out the decision about a parked key's head that failed: dead-letter it, or retry it later. */
    private void headFailed(ParkedKey key, InboxEvent event, Decision decision, Exception failure) {
        int attempts = decision.attempt();
        try {
            if (decision.action() == Action.DEAD_LETTER) {
                deadLetters.sendEvent(event, decision.fatal(), failure, attempts);
                parkedStore.markDeadLettered(key, event, failure, attempts);
                counters.deadLettered();
                LOG.error("Inbox consumer '{}': event {} of parked key '{}' failed {} (attempt {}); sent to the "
                        + "dead-letter topic '{}', the key stays parked until redriven", name, event.id(), key.key(),
                        decision.fatal() ? "fatally" : "too often", attempts, settings.deadLetterTopic(), failure);
            } else {
                parkedStore.recordFailure(key, failure, attempts, decision.retryAt());
                counters.retryScheduled();
                LOG.warn("Inbox consumer '{}': attempt {} of event {} of parked key '{}' failed and was rolled back; "
                        + "retrying in {} ms", name, attempts, event.id(), key.key(), decision.delayMillis(), failure);
            }
        } catch (Exception e) {
            e.addSuppressed(failure);
            LOG.warn("Inbox consumer '{}' could not record the failure of event {} of parked key '{}'; the attempt "
                    + "is repeated at the next check", name, event.id(), key.key(), e);
        }
    }

    private void unparked(TopicPartition tp, ParkedKey key) {
        parkedKeys.unpark(tp, key.key());
        LOG.info("Inbox consumer '{}': key '{}' of {} unparked, its events applied in order", name, key.key(),
                key.topic());
    }

    private void resumeDuePartitions() {
        List<TopicPartition> due = retries.dueForResume(clock.millis());
        if (!due.isEmpty()) {
            due.retainAll(consumer.assignment());
            due.removeIf(parkedKeys::isUnloaded);
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
}
