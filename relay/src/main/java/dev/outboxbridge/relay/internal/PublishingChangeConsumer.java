package dev.outboxbridge.relay.internal;

import dev.outboxbridge.db.FaultPoint;
import dev.outboxbridge.db.OutboxRecordFormat;
import dev.outboxbridge.relay.DeadLetterHeaders;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.RecordChangeEvent;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.InvalidRecordException;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.RecordBatchTooLargeException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.connect.source.SourceRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The relay's batch contract (as Debezium Server's Kafka sink): send every record of the batch,
 * wait for each acknowledgement in order, mark each processed only after its acknowledgement,
 * then mark the batch finished. The first failure fails the batch: nothing after it is marked, so
 * a restart resumes from it. Change events are only ever handled on the engine's thread.
 *
 * <p>With {@code delivery.guarantee=exactly_once} ({@link #publishInTransaction}) the batch's records and the position
 * after them go in one Kafka transaction, and nothing is marked processed before it committed (docs/exactly-once.md).
 */
final class PublishingChangeConsumer implements DebeziumEngine.ChangeConsumer<RecordChangeEvent<SourceRecord>> {

    private static final Logger LOG = LoggerFactory.getLogger(PublishingChangeConsumer.class);
    private static final long SNAPSHOT_LOG_EVERY = 10_000;

    private final Producer<byte[], byte[]> producer;
    private final OutboxRecordMapper mapper;
    private final TopicGuard topics;
    private final AtomicLong published = new AtomicLong();
    private final AtomicLong batches = new AtomicLong();
    private final AtomicLong snapshotPublished = new AtomicLong();
    private final Object gate = new Object();
    private boolean stopping; // guarded by gate
    private boolean inBatch; // guarded by gate

    private final RelayMetrics metrics;
    private final Clock clock;
    private final String deadLetterTopic; // null: fail-stop
    private final BooleanSupplier mayPublish;
    private final TransactionalPositions positions; // null: at_least_once
    private final Consumer<String> onFenced;
    private volatile Runnable beforeFirstSend = () -> { };
    /** How often a batch's transaction is tried when Kafka aborts it with an error it may be retried after. */
    static final int TRANSACTION_ATTEMPTS = 5;


    public PublishingChangeConsumer(Producer<byte[], byte[]> producer, OutboxRecordMapper mapper, TopicGuard topics,
            RelayMetrics metrics, Clock clock, String deadLetterTopic, BooleanSupplier mayPublish) {
        this(producer, mapper, topics, metrics, clock, deadLetterTopic, mayPublish, null, reason -> { });
    }

    /**
     * @param positions not null: delivery.guarantee=exactly_once, each batch and its position in one Kafka transaction
     *        (the producer is transactional and initialized)
     * @param onFenced told when Kafka fenced the transactional producer: the relay must step down
     */
    public PublishingChangeConsumer(Producer<byte[], byte[]> producer, OutboxRecordMapper mapper, TopicGuard topics,
            RelayMetrics metrics, Clock clock, String deadLetterTopic, BooleanSupplier mayPublish,
            TransactionalPositions positions, Consumer<String> onFenced) {
        this.positions = positions;
        this.onFenced = onFenced;
        this.mayPublish = mayPublish;
        this.producer = producer;
        this.mapper = mapper;
        this.topics = topics;
        this.metrics = metrics;
        this.clock = clock;
        this.deadLetterTopic = deadLetterTopic == null || deadLetterTopic.isEmpty() ? null : deadLetterTopic;
    }

    /** Kafka refuses this record whatever the number of retries: too large, invalid topic, not authorized. */
    static boolean refusedForGood(Throwable cause) {
        return cause instanceof RecordTooLargeException || cause instanceof RecordBatchTooLargeException
                || cause instanceof InvalidTopicException || cause instanceof TopicAuthorizationException
                || cause instanceof InvalidRecordException;
    }

    private static long estimatedSize(ProducerRecord<byte[], byte[]> r) {
        long size = 100 + (r.key() == null ? 0 : r.key().length) + (r.value() == null ? 0 : r.value().length);
        for (Header h : r.headers()) {
            size += 10 + h.key().length() + (h.value() == null ? 0 : h.value().length);
        }
        return size;
    }

    private ProducerRecord<byte[], byte[]> deadLetterRecord(ProducerRecord<byte[], byte[]> r, Throwable cause) throws InterruptedException {
        topics.ensure(List.of(deadLetterTopic));
        RecordHeaders headers = new RecordHeaders(r.headers().toArray());
        headers.add(DeadLetterHeaders.REASON, String.valueOf(cause).getBytes(StandardCharsets.UTF_8));
        headers.add(DeadLetterHeaders.ORIGINAL_TOPIC, r.topic().getBytes(StandardCharsets.UTF_8));
        boolean tooLarge = cause instanceof RecordTooLargeException || cause instanceof RecordBatchTooLargeException;
        // a record too large for its topic is sent without its payload (the outbox row still holds it, found by id)
        return new ProducerRecord<>(deadLetterTopic, null, r.timestamp(), r.key(), tooLarge ? null : r.value(), headers);
    }

    private void deadLetter(ProducerRecord<byte[], byte[]> r, Throwable cause) throws InterruptedException {
        ProducerRecord<byte[], byte[]> dlq = deadLetterRecord(r, cause);
        try {
            producer.send(dlq).get();
        } catch (ExecutionException e) {
            metrics.error("send");
            throw new RelayException("Kafka refused event " + eventId(r) + " for topic " + r.topic() + " (" + cause
                    + ") and did not acknowledge it on the dead-letter topic " + deadLetterTopic + " either: " + e.getCause()
                    + ". Nothing after it is marked processed; it is sent again after a restart.", e.getCause());
        }
        LOG.warn("Event {} sent to dead-letter topic {} instead of {}: {}", eventId(r), deadLetterTopic, r.topic(), cause.toString());
    }

    @Override
    public void handleBatch(List<RecordChangeEvent<SourceRecord>> changes,
            DebeziumEngine.RecordCommitter<RecordChangeEvent<SourceRecord>> committer) throws InterruptedException {
        synchronized (gate) {
            while (stopping) {
                // stopping: publish and mark nothing more (these changes are read again after a restart); wait here
                // until the engine's close() interrupts this thread, so its polling loop does not spin meanwhile
                gate.wait();
            }
            inBatch = true;
        }
        try {
            publish(changes, committer);
        } finally {
            synchronized (gate) {
                inBatch = false;
                gate.notifyAll();
            }
        }
    }

    /**
     * Stops publishing: batches handed over from now on are neither sent nor marked processed. Waits
     * until the batch in flight, if any, is fully acknowledged and marked processed.
     *
     * @return false if the batch in flight did not finish within the timeout
     */
    public boolean stopAndDrain(long timeoutMillis) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        synchronized (gate) {
            stopping = true;
            while (inBatch) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(gate, left);
            }
            return true;
        }
    }

    private void publish(List<RecordChangeEvent<SourceRecord>> changes,
            DebeziumEngine.RecordCommitter<RecordChangeEvent<SourceRecord>> committer) throws InterruptedException {
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>(changes.size());
        RelayException mappingFailure = null;
        for (RecordChangeEvent<SourceRecord> change : changes) {
            try {
                records.add(mapper.map(change.record()));
            } catch (RelayException e) {
                mappingFailure = e; // publish and mark what came before it, then stop
                metrics.error("mapping");
                break;
            }
        }
        Set<String> targetTopics = new LinkedHashSet<>();
        for (ProducerRecord<byte[], byte[]> r : records) {
            if (r != null) {
                targetTopics.add(r.topic());
            }
        }
        metrics.batch(changes.size());
        try {
            topics.ensure(targetTopics);
        } catch (RelayException e) {
            metrics.error("topic");
            throw e;
        }

        // A record larger than its topic accepts would be refused while the records after it are accepted: check
        // before sending, so the fail-stop reorders nothing and a dead-lettered record keeps its place
        RelayException refused = null;
        for (int i = 0; i < records.size(); i++) {
            ProducerRecord<byte[], byte[]> r = records.get(i);
            if (r == null) {
                continue;
            }
            int limit = topics.maxMessageBytes(r.topic());
            long size = estimatedSize(r);
            if (size > limit) {
                RecordTooLargeException cause = new RecordTooLargeException("the record of about " + size
                        + " bytes is larger than max.message.bytes=" + limit + " of topic " + r.topic());
                if (deadLetterTopic != null) {
                    metrics.error("dead_letter");
                    records.set(i, deadLetterRecord(r, cause));
                    LOG.warn("Event {} goes to dead-letter topic {} instead of {}: {}", eventId(r), deadLetterTopic, r.topic(),
                            cause.getMessage());
                } else {
                    metrics.error("refused");
                    refused = new RelayException("Kafka refuses event " + eventId(r) + " for good: " + cause.getMessage()
                            + ". The relay stopped before it; nothing after it was sent. Fix: raise the topic's max.message.bytes"
                            + " (and the producer's max.request.size) or shrink the event, then restart; or set "
                            + RelayConfig.DEAD_LETTER_TOPIC + " to divert such records and go on.", cause);
                    records.subList(i, records.size()).clear();
                    break;
                }
            }
        }
        if (refused != null) {
            mappingFailure = refused; // it comes before any malformed row: the batch was cut there
        }
        if (positions != null) {
            publishInTransaction(changes, records, committer, mappingFailure);
            return;
        }

        long lastCheckMillis = -1; // when the batch's last permission check began (the log of a paused process is late)
        List<Future<RecordMetadata>> acks = new ArrayList<>(records.size());
        boolean anySent = false;
        for (ProducerRecord<byte[], byte[]> r : records) {
            if (r != null) {
                checkMayPublish();
            }
            acks.add(r == null ? null : producer.send(r));
            anySent |= r != null;
        }
        if (anySent) {
            FaultPoint.RELAY_AFTER_SEND.reached();
        }
        long sent = 0;
        long snapshotSent = 0;
        List<String> snapshotMarkers = new ArrayList<>(records.size());
        String lastMarker = null;
        for (int i = 0; i < records.size(); i++) {
            String marker = OutboxRecordMapper.snapshotMarker(changes.get(i).record());
            snapshotMarkers.add(marker);
            lastMarker = marker == null ? lastMarker : marker;
        }
        for (int i = 0; i < records.size(); i++) {
            Future<RecordMetadata> ack = acks.get(i);
            if (ack != null) {
                try {
                    ack.get();
                    FaultPoint.RELAY_AFTER_ACK.reached();
                    Long committedAt = records.get(i).timestamp();
                    if (committedAt != null && snapshotMarkers.get(i) == null) { // a snapshot row's wait is no publish latency
                        metrics.latency(Duration.ofMillis(clock.millis() - committedAt));
                    }
                } catch (ExecutionException e) {
                    ProducerRecord<byte[], byte[]> r = records.get(i);
                    boolean forGood = refusedForGood(e.getCause());
                    if (forGood && deadLetterTopic != null) {
                        metrics.error("dead_letter");
                        deadLetter(r, e.getCause());
                        committer.markProcessed(changes.get(i));
                        continue;
                    }
                    metrics.error("send");
                    throw new RelayException("Kafka did not acknowledge event " + eventId(r) + " (topic " + r.topic() + "): "
                            + e.getCause() + ". The batch failed: this event and the " + (records.size() - i - 1)
                            + " after it are not marked processed and will be sent again after a restart."
                            + (forGood ? " Kafka refuses this record for good: fix the cause (the topic's max.message.bytes, the"
                                    + " relay's ACLs, the aggregate type) and restart, or set " + RelayConfig.DEAD_LETTER_TOPIC
                                    + " to divert such records and go on." : ""), e.getCause());
                }
                if (deadLetterTopic == null || !deadLetterTopic.equals(records.get(i).topic())) {
                    sent++; // dead-lettered records are counted as errors of kind dead_letter, not as published
                    if (snapshotMarkers.get(i) != null) {
                        snapshotSent++;
                    }
                }
            }
            if (i == records.size() - 1) {
                lastCheckMillis = clock.millis(); // read before the check: a pause between the two makes the check fail
            }
            checkMayPublish();
            committer.markProcessed(changes.get(i));
        }
        committer.markBatchFinished();
        published.addAndGet(sent);
        metrics.published(sent);
        if (lastMarker != null) {
            snapshotProgress(snapshotSent, lastMarker);
        }
        long n = batches.incrementAndGet();
        if (LOG.isDebugEnabled()) {
            LOG.debug("Batch {}: {} change events, {} published (last permitted at {})", n, changes.size(), sent,
                    lastCheckMillis < 0 ? "-" : java.time.Instant.ofEpochMilli(lastCheckMillis));
        }
        if (mappingFailure != null) {
            throw mappingFailure;
        }
    }

    /**
     * delivery.guarantee=exactly_once: the batch's records and the position after them in one Kafka transaction, marked
     * processed only once it committed. {@code records.get(i)} is the record of {@code changes.get(i)} (null: nothing to
     * publish for it); the list may be shorter than {@code changes} when the batch was cut before a refused or malformed
     * event ({@code failure}, thrown once what comes before it is committed and marked).
     *
     * <p>A record Kafka refuses for good aborts the transaction (nothing of it was visible, nothing was marked): with a
     * dead-letter topic the batch is sent again with the dead-letter record in the refused record's place; without one,
     * the records before it are sent again and committed, and the refusal stops the relay before it, as in
     * at_least_once. Any other error Kafka lets a transaction abort from is retried the same way, in the same order, up
     * to {@value #TRANSACTION_ATTEMPTS} times. Fenced by Kafka (another relay of the slot called initTransactions with
     * the same transactional.id): nothing of this relay's open transaction can commit any more; it steps down like a
     * relay that lost its lease.
     */
    private void publishInTransaction(List<RecordChangeEvent<SourceRecord>> changes, List<ProducerRecord<byte[], byte[]>> records,
            DebeziumEngine.RecordCommitter<RecordChangeEvent<SourceRecord>> committer, RelayException failure)
            throws InterruptedException {
        RelayException stop = failure;
        int attempt = 0;
        while (!records.isEmpty()) {
            ProducerRecord<byte[], byte[]> position = positions.positionAfter(changes.get(records.size() - 1).record());
            int refusedAt = -1;
            Throwable refusal = null;
            try {
                checkMayPublish();
                producer.beginTransaction();
                List<Future<RecordMetadata>> acks = new ArrayList<>(records.size());
                boolean first = true;
                for (ProducerRecord<byte[], byte[]> r : records) {
                    if (r != null) {
                        checkMayPublish();
                        if (first) {
                            first = false;
                            beforeFirstSend.run(); // test hook: a relay frozen between its check and its send
                        }
                    }
                    acks.add(r == null ? null : producer.send(r));
                }
                Future<RecordMetadata> positionAck = producer.send(position);
                FaultPoint.RELAY_AFTER_SEND.reached(); // in the middle of the transaction: nothing of it is visible yet
                for (int i = 0; i < acks.size() && refusal == null; i++) {
                    if (acks.get(i) == null) {
                        continue;
                    }
                    try {
                        acks.get(i).get();
                        FaultPoint.RELAY_AFTER_ACK.reached();
                    } catch (ExecutionException e) {
                        if (fencedError(e.getCause())) {
                            throw fenced(e.getCause());
                        }
                        if (!refusedForGood(e.getCause())) {
                            throw new TransactionRetry(e.getCause());
                        }
                        refusedAt = i;
                        refusal = e.getCause();
                    }
                }
                if (refusal == null) {
                    await(positionAck);
                    checkMayPublish();
                    producer.commitTransaction();
                    positions.committed(position);
                    FaultPoint.RELAY_AFTER_TRANSACTION_COMMIT.reached(); // committed; not marked, the slot not confirmed
                    break;
                }
            } catch (TransactionRetry e) {
                attempt = retryAfter(e.getCause(), attempt, records);
                continue;
            } catch (ProducerFencedException | InvalidProducerEpochException e) {
                throw fenced(e);
            } catch (KafkaException e) {
                if (fencedError(e)) {
                    throw fenced(e);
                }
                attempt = retryAfter(e, attempt, records);
                continue;
            }
            // a record Kafka refuses for good: the transaction aborts, nothing of it was visible or marked
            abort(refusal);
            ProducerRecord<byte[], byte[]> r = records.get(refusedAt);
            if (deadLetterTopic != null && !deadLetterTopic.equals(r.topic())) {
                metrics.error("dead_letter");
                records.set(refusedAt, deadLetterRecord(r, refusal));
                LOG.warn("Event {} goes to dead-letter topic {} instead of {} (the transaction is sent again): {}", eventId(r),
                        deadLetterTopic, r.topic(), refusal.toString());
            } else {
                metrics.error("refused");
                stop = new RelayException("Kafka refuses event " + eventId(r) + " for topic " + r.topic() + " for good: " + refusal
                        + ". The relay stopped before it; the events before it are committed, nothing after it was. Fix: the"
                        + " cause (the topic's max.message.bytes, the relay's ACLs, the aggregate type) then restart"
                        + (deadLetterTopic == null ? ", or set " + RelayConfig.DEAD_LETTER_TOPIC + " to divert such records and go on"
                                : "; the dead-letter topic " + deadLetterTopic + " refused it too"), refusal);
                records.subList(refusedAt, records.size()).clear();
            }
        }
        long sent = 0;
        long snapshotSent = 0;
        String lastMarker = null;
        for (int i = 0; i < records.size(); i++) {
            ProducerRecord<byte[], byte[]> r = records.get(i);
            String marker = OutboxRecordMapper.snapshotMarker(changes.get(i).record());
            lastMarker = marker == null ? lastMarker : marker;
            if (r != null && (deadLetterTopic == null || !deadLetterTopic.equals(r.topic()))) {
                sent++;
                if (marker != null) {
                    snapshotSent++;
                } else if (r.timestamp() != null) {
                    metrics.latency(Duration.ofMillis(clock.millis() - r.timestamp()));
                }
            }
            committer.markProcessed(changes.get(i));
        }
        committer.markBatchFinished();
        published.addAndGet(sent);
        metrics.published(sent);
        if (lastMarker != null) {
            snapshotProgress(snapshotSent, lastMarker);
        }
        batches.incrementAndGet();
        if (stop != null) {
            throw stop;
        }
    }

    /** Aborts the open transaction after an abortable error and waits before it is tried again; the attempt number. */
    private int retryAfter(Throwable cause, int attempt, List<ProducerRecord<byte[], byte[]>> records) throws InterruptedException {
        abort(cause);
        metrics.error("send");
        int next = attempt + 1;
        if (next >= TRANSACTION_ATTEMPTS) {
            throw new RelayException("Kafka did not commit the transaction of a batch of " + records.size() + " events after "
                    + TRANSACTION_ATTEMPTS + " attempts: " + cause + ". Each was aborted (nothing of it is visible to a"
                    + " read_committed consumer) and nothing was marked processed; the batch is sent again after a restart.", cause);
        }
        LOG.warn("Kafka transaction of a batch of {} events aborted ({}); sending the batch again, in the same order (attempt {} of {})",
                records.size(), cause.toString(), next + 1, TRANSACTION_ATTEMPTS);
        Thread.sleep(Math.min(2_000, 100L << next));
        return next;
    }

    /** Aborts the open transaction; a producer that cannot abort is in a fatal state: the batch fails. */
    private void abort(Throwable cause) {
        try {
            producer.abortTransaction();
        } catch (KafkaException e) {
            if (fencedError(e)) {
                throw fenced(e);
            }
            metrics.error("send");
            throw new RelayException("Kafka transaction failed (" + cause + ") and could not be aborted: " + e + ". Nothing of it"
                    + " was marked processed; it is sent again after a restart (a read_committed consumer never sees it).", e);
        }
    }

    private static void await(Future<RecordMetadata> ack) throws InterruptedException {
        try {
            ack.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof KafkaException k) {
                throw k;
            }
            throw new KafkaException(e.getCause());
        }
    }

    /** Fenced, directly or as the cause Kafka wraps it in (a send after the fencing fails with the producer's fatal error). */
    private static boolean fencedError(Throwable t) {
        for (int depth = 0; t != null && depth < 10; depth++, t = t.getCause()) {
            if (t instanceof ProducerFencedException || t instanceof InvalidProducerEpochException) {
                return true;
            }
        }
        return false;
    }

    /** Kafka fenced this relay's producer: step down like a lost lease (the runtime stops the engine), mark nothing. */
    private RelayException fenced(Throwable cause) {
        String reason = "Kafka fenced the relay's transactional producer (" + cause + "): another relay of the slot started"
                + " publishing with the same transactional.id";
        onFenced.accept(reason);
        return new RelayException(reason + "; this relay stopped publishing, its open transaction is aborted", cause);
    }

    /** An error Kafka lets the transaction abort from: the batch is sent again. */
    private static final class TransactionRetry extends RuntimeException {
        TransactionRetry(Throwable cause) {
            super(cause);
        }
    }

    /** Counts and logs the first-start snapshot's progress: a line every 10,000 events and one at its end. */
    private void snapshotProgress(long sentNow, String lastMarker) {
        long before = snapshotPublished.getAndAdd(sentNow);
        long total = before + sentNow;
        metrics.snapshotPublished(sentNow);
        if (before == 0) {
            LOG.info("First-start snapshot: publishing the rows already in the outbox table");
        }
        if ("last".equals(lastMarker)) {
            LOG.info("First-start snapshot published: {} events; the stream follows", total);
        } else if (total / SNAPSHOT_LOG_EVERY > before / SNAPSHOT_LOG_EVERY) {
            LOG.info("First-start snapshot: {} events published so far", total);
        }
    }

    /** Test hook (exactly_once): runs once per transaction, after the permission check of its first event, before its send. */
    void beforeFirstSend(Runnable hook) {
        this.beforeFirstSend = hook;
    }

    /** Events of the first-start snapshot acknowledged by Kafka since start. */
    public long snapshotPublished() {
        return snapshotPublished.get();
    }

    /** A relay that lost its lease sends and marks nothing more: the next leader publishes from the last stored position. */
    private void checkMayPublish() {
        if (!mayPublish.getAsBoolean()) {
            throw new RelayException("This relay is not the leader any more (lease lost): it stopped publishing; the rest of the"
                    + " batch is published by the next leader");
        }
    }

    private static String eventId(ProducerRecord<byte[], byte[]> r) {
        Header h = r.headers().lastHeader(OutboxRecordFormat.HEADER_ID);
        return h == null ? "?" : new String(h.value(), StandardCharsets.UTF_8);
    }

    public long published() {
        return published.get();
    }

    public long batches() {
        return batches.get();
    }
}
