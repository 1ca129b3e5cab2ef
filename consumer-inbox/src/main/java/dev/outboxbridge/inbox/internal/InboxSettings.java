package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.db.TableName;
import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.inbox.TransactionRunner;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import javax.sql.DataSource;

/**
 * Validated settings of one inbox consumer, built by name through {@link #builder()} (never from positional
 * arguments, where two ints or two durations could be swapped silently). {@link InboxConsumerBuilder} validates the
 * values; the builder here only refuses a setting left unset.
 */
final class InboxSettings {

    private final String consumerName;
    private final Map<String, Object> kafkaProperties;
    private final List<String> topics;
    private final Pattern topicPattern;
    private final DataSource dataSource;
    private final TableName inboxTable;
    private final InboxHandler handler;
    private final Duration pollTimeout;
    private final Duration closeTimeout;
    private final Duration retryBackoffInitial;
    private final Duration retryBackoffMax;
    private final Clock clock;
    private final int maxAttempts;
    private final FailureClassifier classifier;
    private final String deadLetterTopic;
    private final Map<String, Object> deadLetterProducerProperties;
    private final Duration parkedKeyCheckInterval;
    private final Duration retention;
    private final Duration cleanupInterval;
    private final int cleanupBatchSize;
    private final Object meterRegistry;
    private final int maxBatchSize;
    private final TransactionRunner transactionRunner;
    private final boolean savepointPerHandler;

    private InboxSettings(Builder b) {
        if ((b.topics == null) == (b.topicPattern == null)) {
            throw new IllegalStateException("InboxSettings: set exactly one of topics and topicPattern (topics: "
                    + b.topics + ", topicPattern: " + b.topicPattern + ")");
        }
        this.consumerName = required("consumerName", b.consumerName);
        this.kafkaProperties = required("kafkaProperties", b.kafkaProperties);
        this.topics = b.topics;
        this.topicPattern = b.topicPattern;
        this.dataSource = required("dataSource", b.dataSource);
        this.inboxTable = required("inboxTable", b.inboxTable);
        this.handler = required("handler", b.handler);
        this.pollTimeout = required("pollTimeout", b.pollTimeout);
        this.closeTimeout = required("closeTimeout", b.closeTimeout);
        this.retryBackoffInitial = required("retryBackoffInitial", b.retryBackoffInitial);
        this.retryBackoffMax = required("retryBackoffMax", b.retryBackoffMax);
        this.clock = required("clock", b.clock);
        this.maxAttempts = required("maxAttempts", b.maxAttempts);
        this.classifier = required("classifier", b.classifier);
        this.deadLetterTopic = required("deadLetterTopic", b.deadLetterTopic);
        this.deadLetterProducerProperties = required("deadLetterProducerProperties", b.deadLetterProducerProperties);
        this.parkedKeyCheckInterval = required("parkedKeyCheckInterval", b.parkedKeyCheckInterval);
        this.retention = required("retention", b.retention);
        this.cleanupInterval = required("cleanupInterval", b.cleanupInterval);
        this.cleanupBatchSize = required("cleanupBatchSize", b.cleanupBatchSize);
        this.meterRegistry = b.meterRegistry;
        this.maxBatchSize = required("maxBatchSize", b.maxBatchSize);
        this.transactionRunner = required("transactionRunner", b.transactionRunner);
        this.savepointPerHandler = b.savepointPerHandler;
    }

    static Builder builder() {
        return new Builder();
    }

    String consumerName() {
        return consumerName;
    }

    /** The complete Kafka consumer configuration, with the inbox's forced values. */
    Map<String, Object> kafkaProperties() {
        return kafkaProperties;
    }

    /** The topics, or null when {@link #topicPattern()} is set. */
    List<String> topics() {
        return topics;
    }

    /** The topic pattern, or null when {@link #topics()} is set. */
    Pattern topicPattern() {
        return topicPattern;
    }

    DataSource dataSource() {
        return dataSource;
    }

    TableName inboxTable() {
        return inboxTable;
    }

    InboxHandler handler() {
        return handler;
    }

    Duration pollTimeout() {
        return pollTimeout;
    }

    Duration closeTimeout() {
        return closeTimeout;
    }

    Duration retryBackoffInitial() {
        return retryBackoffInitial;
    }

    Duration retryBackoffMax() {
        return retryBackoffMax;
    }

    /** The consumer's clock: retry times, retention, end-to-end latency. */
    Clock clock() {
        return clock;
    }

    int maxAttempts() {
        return maxAttempts;
    }

    FailureClassifier classifier() {
        return classifier;
    }

    String deadLetterTopic() {
        return deadLetterTopic;
    }

    /** The complete dead-letter producer configuration. */
    Map<String, Object> deadLetterProducerProperties() {
        return deadLetterProducerProperties;
    }

    Duration parkedKeyCheckInterval() {
        return parkedKeyCheckInterval;
    }

    /** Zero: keep inbox rows forever. */
    Duration retention() {
        return retention;
    }

    Duration cleanupInterval() {
        return cleanupInterval;
    }

    int cleanupBatchSize() {
        return cleanupBatchSize;
    }

    /** A Micrometer {@code MeterRegistry}, or null; typed Object so that Micrometer stays optional. */
    Object meterRegistry() {
        return meterRegistry;
    }

    int maxBatchSize() {
        return maxBatchSize;
    }

    /** Runs the transactions in which the handler runs (default {@link TransactionRunner#jdbc()}). */
    TransactionRunner transactionRunner() {
        return transactionRunner;
    }

    boolean savepointPerHandler() {
        return savepointPerHandler;
    }

    /** The Kafka consumer group. */
    String groupId() {
        return String.valueOf(kafkaProperties.get("group.id"));
    }

    /** The subscription, for logs and messages. */
    String subscription() {
        return topics != null ? "topics " + topics : "topic pattern '" + topicPattern + "'";
    }

    private static <T> T required(String setting, T value) {
        if (value == null) {
            throw new IllegalStateException("InboxSettings: " + setting + " was not set; every setting but "
                    + "meterRegistry (and one of topics and topicPattern) must be given to the builder");
        }
        return value;
    }

    /** Collects the settings by name; {@link #build()} refuses any left unset. */
    static final class Builder {

        private String consumerName;
        private Map<String, Object> kafkaProperties;
        private List<String> topics;
        private Pattern topicPattern;
        private DataSource dataSource;
        private TableName inboxTable;
        private InboxHandler handler;
        private Duration pollTimeout;
        private Duration closeTimeout;
        private Duration retryBackoffInitial;
        private Duration retryBackoffMax;
        private Clock clock;
        private Integer maxAttempts;
        private FailureClassifier classifier;
        private String deadLetterTopic;
        private Map<String, Object> deadLetterProducerProperties;
        private Duration parkedKeyCheckInterval;
        private Duration retention;
        private Duration cleanupInterval;
        private Integer cleanupBatchSize;
        private Object meterRegistry;
        private Integer maxBatchSize;
        private TransactionRunner transactionRunner;
        private boolean savepointPerHandler;

        private Builder() {
        }

        Builder consumerName(String consumerName) {
            this.consumerName = consumerName;
            return this;
        }

        Builder kafkaProperties(Map<String, Object> kafkaProperties) {
            this.kafkaProperties = kafkaProperties;
            return this;
        }

        Builder topics(List<String> topics) {
            this.topics = topics;
            return this;
        }

        Builder topicPattern(Pattern topicPattern) {
            this.topicPattern = topicPattern;
            return this;
        }

        Builder dataSource(DataSource dataSource) {
            this.dataSource = dataSource;
            return this;
        }

        Builder inboxTable(TableName inboxTable) {
            this.inboxTable = inboxTable;
            return this;
        }

        Builder handler(InboxHandler handler) {
            this.handler = handler;
            return this;
        }

        Builder pollTimeout(Duration pollTimeout) {
            this.pollTimeout = pollTimeout;
            return this;
        }

        Builder closeTimeout(Duration closeTimeout) {
            this.closeTimeout = closeTimeout;
            return this;
        }

        Builder retryBackoffInitial(Duration retryBackoffInitial) {
            this.retryBackoffInitial = retryBackoffInitial;
            return this;
        }

        Builder retryBackoffMax(Duration retryBackoffMax) {
            this.retryBackoffMax = retryBackoffMax;
            return this;
        }

        Builder clock(Clock clock) {
            this.clock = clock;
            return this;
        }

        Builder maxAttempts(int maxAttempts) {
            this.maxAttempts = maxAttempts;
            return this;
        }

        Builder classifier(FailureClassifier classifier) {
            this.classifier = classifier;
            return this;
        }

        Builder deadLetterTopic(String deadLetterTopic) {
            this.deadLetterTopic = deadLetterTopic;
            return this;
        }

        Builder deadLetterProducerProperties(Map<String, Object> deadLetterProducerProperties) {
            this.deadLetterProducerProperties = deadLetterProducerProperties;
            return this;
        }

        Builder parkedKeyCheckInterval(Duration parkedKeyCheckInterval) {
            this.parkedKeyCheckInterval = parkedKeyCheckInterval;
            return this;
        }

        Builder retention(Duration retention) {
            this.retention = retention;
            return this;
        }

        Builder cleanupInterval(Duration cleanupInterval) {
            this.cleanupInterval = cleanupInterval;
            return this;
        }

        Builder cleanupBatchSize(int cleanupBatchSize) {
            this.cleanupBatchSize = cleanupBatchSize;
            return this;
        }

        /** Optional. */
        Builder meterRegistry(Object meterRegistry) {
            this.meterRegistry = meterRegistry;
            return this;
        }

        Builder maxBatchSize(int maxBatchSize) {
            this.maxBatchSize = maxBatchSize;
            return this;
        }

        Builder transactionRunner(TransactionRunner transactionRunner) {
            this.transactionRunner = transactionRunner;
            return this;
        }

        Builder savepointPerHandler(boolean savepointPerHandler) {
            this.savepointPerHandler = savepointPerHandler;
            return this;
        }

        /** @throws IllegalStateException naming a setting left unset */
        InboxSettings build() {
            return new InboxSettings(this);
        }
    }
}
