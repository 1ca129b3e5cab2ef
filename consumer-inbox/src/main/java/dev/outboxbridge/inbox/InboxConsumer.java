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
 * <p>Failures of the handler or of the database are retried: the transaction rolls back, the
 * record's partition is rewound to it and paused for an exponential backoff while the other
 * partitions keep flowing. A record the inbox cannot deduplicate (no usable {@code id} header, or
 * a null value) stops the consumer with an {@link UnprocessableRecordException} instead of being
 * acknowledged silently.
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
     * Checks that the inbox table exists, subscribes, and starts the polling thread
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
     * Stops consuming: wakes the polling thread, lets the record in flight finish (its transaction
     * commits or rolls back), commits the offsets of the records whose transaction committed, closes
     * the Kafka consumer, and waits for the thread for at most the close timeout
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
         * {@code partition.assignment.strategy=CooperativeStickyAssignor} (classic group protocol).
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

        /** The clock for backoff deadlines and latency; default {@link Clock#systemUTC()}. */
        Builder clock(Clock clock);

        /**
         * Validates the settings and creates a consumer in state {@link State#NEW}; nothing is
         * connected until {@link InboxConsumer#start()}.
         *
         * @throws IllegalArgumentException naming the setting, its value and how to fix it
         */
        InboxConsumer build();
    }
}
