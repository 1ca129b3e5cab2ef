package dev.outboxbridge.inbox;

import dev.outboxbridge.inbox.internal.InboxConsumerBuilder;
import java.time.Clock;
import java.time.Duration;
import java.util.Collection;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.regex.Pattern;
import javax.sql.DataSource;

/**
 * Consumes outbox events from Kafka and applies each one's side effects exactly once: for every
 * record it inserts {@code (consumer name, event id)} into the inbox table and runs the
 * {@link InboxHandler} in the same database transaction, and it commits a Kafka offset only after
 * that transaction has committed. A redelivered event finds its inbox row and is skipped.
 * Consecutive records of a partition share one transaction (one multi-row inbox insert, then each
 * handler, with no savepoint unless {@link Builder#savepointPerHandler(boolean)}; see {@link Builder#maxBatchSize(int)}). A poll batch that takes longer than
 * half of {@code max.poll.interval.ms} is cut short (the rest is read again after the next poll), so a
 * slow handler does not get the consumer evicted from its group.
 *
 * <pre>{@code
 * try (InboxConsumer inbox = InboxConsumer.builder()
 *         .consumerName("billing")
 *         .kafkaProperties(Map.of("bootstrap.servers", "localhost:9092"))
 *         .topics(List.of("outbox.event.order"))
 *         .dataSource(dataSource)
 *         .handler((event, tx) -> billing.apply(event, tx))
 *         .build()) {
 *     inbox.start();
 *     ...
 * }
 * }</pre>
 *
 * <p>Lifecycle: {@link State#NEW} → {@link #start()} → {@link State#RUNNING} → {@link #close()} →
 * {@link State#STOPPING} → {@link State#STOPPED}, or {@link State#FAILED} when the consumer stops on
 * its own (see {@link #failure()}). One instance runs once; build a new one to restart.
 *
 * <p><b>Failures park the key, not the partition.</b> When the handler fails for an event of
 * aggregate K (the record key), the transaction rolls back and K is <em>parked</em>: the event and
 * every later event of K are stored, in order, in the parked-event table and their offsets are
 * committed, so the other keys of the partition keep flowing. The head event is retried with
 * exponential backoff and jitter ({@link Builder#retryBackoff(Duration, Duration)}); when it
 * succeeds, K's stored events are applied in order and K is unparked. After
 * {@link Builder#maxAttempts(int)} attempts, or at once for a fatal failure
 * ({@link FatalEventException}, {@link Builder#fatalExceptions(Collection)}), the event goes to the
 * dead-letter topic ({@link Builder#deadLetterTopic(String)}, headers in {@link DeadLetterHeaders}),
 * its inbox row records it as dead-lettered (a redelivery never runs the handler again), and K stays
 * parked until an operator calls {@link #redrive(String, String, RedriveMode)}. Events without a key
 * cannot be parked: their partition pauses during the retries instead. Records the inbox cannot
 * deduplicate (no usable {@code id} header, or a null value) go to the dead-letter topic with reason
 * {@value DeadLetterHeaders#REASON_BAD_RECORD}. A dead-lettered record's offset is committed only
 * after the dead-letter topic acknowledged it. When the database itself fails, the record's
 * partition is rewound and paused for the backoff instead, as nothing can be recorded.
 *
 * <p>Instances are thread-safe: {@link #close()}, {@link #state()} and {@link #stats()} may be
 * called from any thread. The Kafka consumer itself is used only by the polling thread.
 */
public interface InboxConsumer extends AutoCloseable {

    /** A builder for an inbox consumer; {@link Builder#build()} validates every setting. */
    static Builder builder() {
        return new InboxConsumerBuilder();
    }

    /**
     * Checks that the inbox tables exist (and warns if the dead-letter topic does not), subscribes, and starts the polling thread
     * {@code outbox-inbox-<consumerName>}. Returns once the thread is started; it does not wait for
     * partitions to be assigned.
     *
     * @throws IllegalStateException if the consumer is not {@link State#NEW}
     * @throws dev.outboxbridge.db.SchemaMismatchException if the inbox table is missing or has the
     *         wrong columns; the consumer is then {@link State#FAILED}
     * @throws IllegalStateException if the database cannot be reached to check the table; the
     *         consumer is then {@link State#FAILED}
     * @throws org.apache.kafka.common.KafkaException if the Kafka consumer cannot be created; the
     *         consumer is then {@link State#FAILED}
     */
    void start();

    /**
     * Stops consuming: wakes the polling thread, lets the record in flight finish (the records of its
     * transaction that finished commit, the rest are not applied), commits the offsets of the records
     * whose transaction committed, closes the Kafka consumer and the dead-letter producer, and waits for the thread for at most the close timeout
     * ({@link Builder#closeTimeout(Duration)}), logging a warning if it is still running then.
     * Idempotent; a consumer that was never started goes straight to {@link State#STOPPED}.
     */
    @Override
    void close();

    /** The current lifecycle state. */
    State state();

    /** Why the consumer stopped on its own, if it is {@link State#FAILED}; empty otherwise. */
    Optional<Throwable> failure();

    /** A snapshot of the counters since {@link #start()}. */
    InboxStats stats();

    /**
     * Releases the parked key {@code key} of {@code topic}: marks it due for an immediate attempt
     * (attempt count reset), in the database, so whichever member of the group owns the key's
     * partition applies the key's stored events in their original order within about
     * {@link Builder#parkedKeyCheckInterval(Duration)}. With {@link RedriveMode#RETRY_DEAD_LETTERED}
     * the dead-lettered head event runs through the handler again (fix its cause first); with
     * {@link RedriveMode#SKIP_DEAD_LETTERED} it is dropped from the parked events (it stays
     * dead-lettered in the inbox and in the dead-letter topic) and the next event goes first.
     * Works in any state, also on a consumer that is not started (it only needs the data source).
     *
     * @return true if the key was parked, false if there is nothing to redrive
     * @throws IllegalStateException if the database fails
     */
    boolean redrive(String topic, String key, RedriveMode mode);

    /** What {@link #redrive(String, String, RedriveMode)} does with the dead-lettered head event. */
    enum RedriveMode {
        /** Run the head event through the handler again, then the later events. */
        RETRY_DEAD_LETTERED,
        /** Drop the head event from the parked events (it stays dead-lettered), then apply the later events. */
        SKIP_DEAD_LETTERED
    }

    /** Lifecycle states; transitions are atomic. */
    enum State {
        /** Built, not started. */
        NEW,
        /** The polling thread is consuming. */
        RUNNING,
        /** {@link #close()} was called; the polling thread is finishing. */
        STOPPING,
        /** Stopped by {@link #close()}; the Kafka consumer is closed. */
        STOPPED,
        /** Stopped on its own; see {@link #failure()}. The Kafka consumer is closed. */
        FAILED
    }

    /**
     * Settings of an inbox consumer. Required: {@link #consumerName(String)},
     * {@link #kafkaProperties(Map)} with {@code bootstrap.servers}, {@link #topics(Collection)} or
     * {@link #topicPattern(Pattern)}, {@link #dataSource(DataSource)} and
     * {@link #handler(InboxHandler)}. Setters return this builder; {@link #build()} checks
     * everything and fails with an {@link IllegalArgumentException} naming the setting, the value
     * and the fix.
     */
    interface Builder {

        /** Default of {@link #inboxTable(String)}. */
        String DEFAULT_INBOX_TABLE = "public.inbox_event";
        /** Default of {@link #pollTimeout(Duration)}. */
        Duration DEFAULT_POLL_TIMEOUT = Duration.ofMillis(100);
        /** Default of {@link #closeTimeout(Duration)}. */
        Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(30);
        /** Default initial delay of {@link #retryBackoff(Duration, Duration)}. */
        Duration DEFAULT_RETRY_BACKOFF_INITIAL = Duration.ofMillis(100);
        /** Default maximum delay of {@link #retryBackoff(Duration, Duration)}. */
        Duration DEFAULT_RETRY_BACKOFF_MAX = Duration.ofSeconds(30);
        /** Default of {@link #maxBatchSize(int)}. */
        int DEFAULT_MAX_BATCH_SIZE = 500;
        /** Default of {@link #maxAttempts(int)}. */
        int DEFAULT_MAX_ATTEMPTS = 10;
        /** Suffix of the default {@link #deadLetterTopic(String)}: the consumer name followed by it. */
        String DEFAULT_DEAD_LETTER_TOPIC_SUFFIX = ".dlt";
        /** Default of {@link #parkedKeyCheckInterval(Duration)}. */
        Duration DEFAULT_PARKED_KEY_CHECK_INTERVAL = Duration.ofSeconds(1);
        /** Default of {@link #retention(Duration)}: keep inbox rows forever. */
        Duration DEFAULT_RETENTION = Duration.ZERO;
        /** Default of {@link #cleanupInterval(Duration)}. */
        Duration DEFAULT_CLEANUP_INTERVAL = Duration.ofMinutes(1);
        /** Default of {@link #cleanupBatchSize(int)}. */
        int DEFAULT_CLEANUP_BATCH_SIZE = 1000;

        /**
         * Required. The name under which this consumer records applied events in the inbox table (at
         * most 255 characters); also the default Kafka {@code group.id}. Never rename a consumer
         * that has run: its inbox rows would no longer dedupe redeliveries.
         */
        Builder consumerName(String consumerName);

        /**
         * Required. Kafka consumer settings, passed through to the {@code KafkaConsumer}; replaces
         * earlier calls. {@code bootstrap.servers} is required. Defaults: {@code group.id} = the
         * consumer name, {@code auto.offset.reset=earliest},
         * {@code partition.assignment.strategy=CooperativeStickyAssignor} (classic group protocol),
         * {@code isolation.level=read_committed} (records of aborted Kafka transactions, e.g. of a relay
         * with {@code delivery.guarantee=exactly_once}, are never handed over; an explicit
         * {@code read_uncommitted} is kept, with a warning).
         * {@code enable.auto.commit} is always false and the deserializers are always
         * {@code ByteArrayDeserializer}: other values are rejected.
         */
        Builder kafkaProperties(Map<String, ?> properties);

        /** As {@link #kafkaProperties(Map)}. */
        Builder kafkaProperties(Properties properties);

        /** The topics to subscribe to; give this or {@link #topicPattern(Pattern)}. */
        Builder topics(Collection<String> topics);

        /** A pattern of topics to subscribe to; give this or {@link #topics(Collection)}. */
        Builder topicPattern(Pattern topicPattern);

        /**
         * Required. The database of the inbox table and of the handler's side effects. The consumer
         * borrows one connection per record, so give a pooling data source (e.g. HikariCP).
         */
        Builder dataSource(DataSource dataSource);

        /** The inbox table, {@code table} or {@code schema.table}; default {@value #DEFAULT_INBOX_TABLE}. */
        Builder inboxTable(String inboxTable);

        /** Required. Applies one event inside the inbox transaction. */
        Builder handler(InboxHandler handler);

        /**
         * How long one {@code poll} may block; default 100 ms. It is also the longest a paused
         * partition waits past its backoff, and must be below {@code max.poll.interval.ms}.
         */
        Builder pollTimeout(Duration pollTimeout);

        /** How long {@link InboxConsumer#close()} waits for the polling thread; default 30 s. */
        Builder closeTimeout(Duration closeTimeout);

        /**
         * Backoff between attempts of a failing record: the n-th retry waits
         * {@code initial × 2^(n-1)}, randomised by ±20 %, capped at {@code max}. Defaults 100 ms and
         * 30 s.
         */
        Builder retryBackoff(Duration initial, Duration max);

        /** The clock for backoff deadlines, retention and latency; default {@link Clock#systemUTC()}. */
        Builder clock(Clock clock);

        /**
         * Most consecutive records of one partition applied in one database transaction; default
         * {@value #DEFAULT_MAX_BATCH_SIZE}, 1 for a transaction per record. The batch runs optimistically,
         * without savepoints: the inbox rows in one insert, then each new record's handler, then one commit.
         * A failing record keeps its per-record semantics: the whole transaction is rolled back, the records
         * before it are applied again in a new transaction (their handlers run a second time; nothing of the
         * first attempt committed), it is handled alone (retried, parked or dead-lettered), and the records
         * after it go on in a new transaction. A commit that fails (a constraint checked at commit) is retried
         * in halves of the batch until the record it fails for is found. Every record's effects commit with
         * its inbox row, exactly once; the cost of a failure is the redo. See
         * {@link #savepointPerHandler(boolean)} for handlers that must not run twice in one delivery.
         */
        Builder maxBatchSize(int maxBatchSize);

        /**
         * Runs each handler of a batch in its own savepoint (default false): a failing handler's savepoint is
         * rolled back and the records before it commit without a redo, so every handler runs once per
         * delivery, at the cost of two more round trips per record ({@code SAVEPOINT}, {@code RELEASE
         * SAVEPOINT}), about half the batched throughput with a one-statement handler. Useful when a handler
         * does something outside the transaction that must not be repeated when a later record of its batch
         * fails (a delivery after a crash can repeat it anyway: the inbox dedupes what commits, not what a
         * handler does elsewhere). Refused at {@link #build()} when the {@link TransactionRunner}
         * {@linkplain TransactionRunner#supportsSavepoints() supports no savepoints} (a JPA transaction).
         */
        Builder savepointPerHandler(boolean savepointPerHandler);

        /**
         * How many times the handler runs for one event before the event goes to the dead-letter
         * topic; default {@value #DEFAULT_MAX_ATTEMPTS}, at least 1. Fatal failures go at once.
         */
        Builder maxAttempts(int maxAttempts);

        /**
         * Exception classes that are fatal (never retried) when the handler throws them or an
         * exception caused by them; replaces earlier calls. {@link FatalEventException} is always fatal.
         */
        Builder fatalExceptions(Collection<Class<? extends Throwable>> fatalExceptions);

        /** A further rule for fatal failures, e.g. {@code e -> e instanceof SQLIntegrityConstraintViolationException}. */
        Builder fatalWhen(java.util.function.Predicate<Throwable> isFatal);

        /**
         * The dead-letter topic; default the consumer name followed by
         * {@value #DEFAULT_DEAD_LETTER_TOPIC_SUFFIX}. Create it beforehand: {@link InboxConsumer#start()}
         * warns if it is missing, and a record that must be dead-lettered then waits (its partition
         * paused, its offset not committed) until the topic exists.
         */
        Builder deadLetterTopic(String deadLetterTopic);

        /**
         * Extra settings of the dead-letter producer (e.g. {@code compression.type}); the Kafka
         * settings of {@link #kafkaProperties(Map)} that producers know ({@code bootstrap.servers},
         * security) are used too. {@code acks=all} and {@code enable.idempotence=true} are forced:
         * other values are rejected, as are serializers.
         */
        Builder deadLetterProducerProperties(Map<String, ?> properties);

        /**
         * How often the consumer looks in the database for parked keys that are due for a retry or
         * were redriven; default 1 s. A key's retry happens at most this much after its backoff.
         */
        Builder parkedKeyCheckInterval(Duration interval);

        /**
         * How long inbox rows are kept after they were written; default {@link Duration#ZERO}: forever.
         * Choose more than the topic's retention plus the longest redelivery window (the longest a
         * record may be redelivered after it was first applied: consumer downtime, group offset
         * resets, replays): a record redelivered after its inbox row was removed runs the handler
         * again. See docs/consumer-retention.md.
         */
        Builder retention(Duration retention);

        /** How often the retention cleanup runs; default 1 min. */
        Builder cleanupInterval(Duration interval);

        /** At most this many rows are deleted per cleanup statement (short transactions); default 1000. */
        Builder cleanupBatchSize(int batchSize);

        /**
         * A Micrometer registry for the consumer's metrics ({@code outbox.inbox.*}, tag
         * {@code consumer}); optional, micrometer-core must then be on the class path.
         */
        Builder meterRegistry(io.micrometer.core.instrument.MeterRegistry registry);

        /**
         * Where the transactions that run the handler come from; default {@link TransactionRunner#jdbc()}
         * (a connection of {@link #dataSource(DataSource)}, committed or rolled back by the consumer).
         * A framework integration gives its own, e.g. one that runs the work in a Spring-managed
         * transaction so that code the handler calls joins the inbox transaction. The runner must
         * follow the contract of {@link TransactionRunner}; one that returns false from
         * {@link TransactionRunner#supportsSavepoints()} cannot be combined with
         * {@link #savepointPerHandler(boolean)}.
         */
        Builder transactionRunner(TransactionRunner transactionRunner);

        /**
         * Validates the settings and creates a consumer in state {@link State#NEW}; nothing is
         * connected until {@link InboxConsumer#start()}.
         *
         * @throws IllegalArgumentException naming the setting, its value and how to fix it
         */
        InboxConsumer build();
    }
}
