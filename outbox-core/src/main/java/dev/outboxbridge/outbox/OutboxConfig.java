package dev.outboxbridge.outbox;

import dev.outboxbridge.db.OutboxRecordFormat;
import dev.outboxbridge.db.TableName;
import java.time.Clock;
import java.util.Objects;

/**
 * Settings of an {@link Outbox}. Defaults match the relay's defaults; keep {@link #topicPrefix()}
 * and {@link #maxRecordBytes()} in step with the relay's {@code topic.prefix} and the broker's
 * {@code message.max.bytes}.
 */
public final class OutboxConfig {

    /** Kafka's limit on topic name length ({@link OutboxRecordFormat#MAX_TOPIC_LENGTH}). */
    public static final int MAX_TOPIC_LENGTH = OutboxRecordFormat.MAX_TOPIC_LENGTH;
    /** Default table: the one the migrations create. */
    public static final String DEFAULT_TABLE = "public.outbox_event";
    /** Default topic prefix, as Debezium's Outbox Event Router ({@code outbox.event.<aggregatetype>}). */
    public static final String DEFAULT_TOPIC_PREFIX = OutboxRecordFormat.DEFAULT_TOPIC_PREFIX;
    /** Default bound on payload + key + headers ({@link OutboxRecordFormat#DEFAULT_MAX_RECORD_BYTES}). */
    public static final int DEFAULT_MAX_RECORD_BYTES = OutboxRecordFormat.DEFAULT_MAX_RECORD_BYTES;

    private final TableName table;
    private final String topicPrefix;
    private final int maxRecordBytes;
    private final Clock clock;
    private final boolean deleteInTransaction;

    private OutboxConfig(Builder b) {
        this.table = b.table;
        this.topicPrefix = b.topicPrefix;
        this.maxRecordBytes = b.maxRecordBytes;
        this.clock = b.clock;
        this.deleteInTransaction = b.deleteInTransaction;
    }

    public static OutboxConfig defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public TableName table() {
        return table;
    }

    public String topicPrefix() {
        return topicPrefix;
    }

    public int maxRecordBytes() {
        return maxRecordBytes;
    }

    public Clock clock() {
        return clock;
    }

    /** Whether each appended row is deleted again in the caller's transaction ({@link Builder#deleteInTransaction}). */
    public boolean deleteInTransaction() {
        return deleteInTransaction;
    }

    /** Builder of {@link OutboxConfig}; every setter validates its value at once. */
    public static final class Builder {
        private TableName table = TableName.parse(DEFAULT_TABLE);
        private String topicPrefix = DEFAULT_TOPIC_PREFIX;
        private int maxRecordBytes = DEFAULT_MAX_RECORD_BYTES;
        private Clock clock = Clock.systemUTC();
        private boolean deleteInTransaction;

        private Builder() {
        }

        /** {@code table} or {@code schema.table}; default {@value #DEFAULT_TABLE}. */
        public Builder table(String qualifiedName) {
            this.table = TableName.parse(qualifiedName);
            return this;
        }

        /** The relay's topic prefix, used to check that every aggregate type makes a valid topic name. */
        public Builder topicPrefix(String topicPrefix) {
            Objects.requireNonNull(topicPrefix, "topicPrefix");
            OutboxRecordFormat.topicPrefixProblem(topicPrefix).ifPresent(problem -> {
                throw new IllegalArgumentException("Invalid topicPrefix '" + topicPrefix + "': " + problem
                        + "; use the same prefix as the relay's topic.prefix");
            });
            this.topicPrefix = topicPrefix;
            return this;
        }

        /** Upper bound on payload + aggregate id + headers in bytes; default {@value #DEFAULT_MAX_RECORD_BYTES}. */
        public Builder maxRecordBytes(int maxRecordBytes) {
            if (maxRecordBytes < OutboxRecordFormat.MIN_MAX_RECORD_BYTES) {
                throw new IllegalArgumentException("Invalid maxRecordBytes " + maxRecordBytes
                        + ": must be at least " + OutboxRecordFormat.MIN_MAX_RECORD_BYTES + "; set it a little below the broker's message.max.bytes");
            }
            this.maxRecordBytes = maxRecordBytes;
            return this;
        }

        /** The clock behind generated UUIDv7 ids (inject a fixed one in tests). */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /**
         * Retention mode "delete in the same transaction" (default {@code false}): each append inserts the row and
         * deletes it again before returning, in the caller's transaction. The relay publishes from the insert in the
         * WAL, so the event still reaches Kafka, and the table holds no live rows (only dead tuples until vacuum). The
         * price: about one more statement per append, no row to look at afterwards, and rows committed before the
         * relay's replication slot exists are lost for good (create the slot first). See docs/outbox-retention.md.
         */
        public Builder deleteInTransaction(boolean deleteInTransaction) {
            this.deleteInTransaction = deleteInTransaction;
            return this;
        }

        public OutboxConfig build() {
            return new OutboxConfig(this);
        }
    }
}
