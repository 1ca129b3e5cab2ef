package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.db.OutboxRecordFormat;
import dev.outboxbridge.db.TableName;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.inbox.TransactionRunner;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Pattern;
import javax.sql.DataSource;

/**
 * The {@link InboxConsumer.Builder} behind {@link InboxConsumer#builder()}. Setters only record
 * values; {@link #build()} checks them all in one place.
 */
public final class InboxConsumerBuilder implements InboxConsumer.Builder {

    /** Column {@code inbox_event.consumer_name} is {@code varchar(255)}. */
    private static final int MAX_CONSUMER_NAME_LENGTH = 255;

    private String consumerName;
    private Map<String, Object> kafkaProperties;
    private Collection<String> topics;
    private Pattern topicPattern;
    private DataSource dataSource;
    private String inboxTable = DEFAULT_INBOX_TABLE;
    private InboxHandler handler;
    private Duration pollTimeout = DEFAULT_POLL_TIMEOUT;
    private Duration closeTimeout = DEFAULT_CLOSE_TIMEOUT;
    private Duration retryBackoffInitial = DEFAULT_RETRY_BACKOFF_INITIAL;
    private Duration retryBackoffMax = DEFAULT_RETRY_BACKOFF_MAX;
    private Clock clock = Clock.systemUTC();
    private int maxAttempts = DEFAULT_MAX_ATTEMPTS;
    private Collection<Class<? extends Throwable>> fatalExceptions = List.of();
    private java.util.function.Predicate<Throwable> fatalWhen = e -> false;
    private String deadLetterTopic;
    private Map<String, Object> deadLetterProducerProperties = Map.of();
    private Duration parkedKeyCheckInterval = DEFAULT_PARKED_KEY_CHECK_INTERVAL;
    private Duration retention = DEFAULT_RETENTION;
    private Duration cleanupInterval = DEFAULT_CLEANUP_INTERVAL;
    private int cleanupBatchSize = DEFAULT_CLEANUP_BATCH_SIZE;
    private Object meterRegistry;
    private int maxBatchSize = DEFAULT_MAX_BATCH_SIZE;
    private TransactionRunner transactionRunner = TransactionRunner.jdbc();
    private boolean savepointPerHandler;

    /** Use {@link InboxConsumer#builder()}. */
    public InboxConsumerBuilder() {
    }

    @Override
    public InboxConsumerBuilder consumerName(String consumerName) {
        this.consumerName = consumerName;
        return this;
    }

    @Override
    public InboxConsumerBuilder kafkaProperties(Map<String, ?> properties) {
        this.kafkaProperties = properties == null ? null : copy(properties);
        return this;
    }

    @Override
    public InboxConsumerBuilder kafkaProperties(Properties properties) {
        return kafkaProperties(properties == null ? null : copy(properties));
    }

    @Override
    public InboxConsumerBuilder topics(Collection<String> topics) {
        this.topics = topics == null ? null : new ArrayList<>(topics);
        return this;
    }

    @Override
    public InboxConsumerBuilder topicPattern(Pattern topicPattern) {
        this.topicPattern = topicPattern;
        return this;
    }

    @Override
    public InboxConsumerBuilder dataSource(DataSource dataSource) {
        this.dataSource = dataSource;
        return this;
    }

    @Override
    public InboxConsumerBuilder inboxTable(String inboxTable) {
        this.inboxTable = inboxTable;
        return this;
    }

    @Override
    public InboxConsumerBuilder handler(InboxHandler handler) {
        this.handler = handler;
        return this;
    }

    @Override
    public InboxConsumerBuilder pollTimeout(Duration pollTimeout) {
        this.pollTimeout = pollTimeout;
        return this;
    }

    @Override
    public InboxConsumerBuilder closeTimeout(Duration closeTimeout) {
        this.closeTimeout = closeTimeout;
        return this;
    }

    @Override
    public InboxConsumerBuilder retryBackoff(Duration initial, Duration max) {
        this.retryBackoffInitial = initial;
        this.retryBackoffMax = max;
        return this;
    }

    @Override
    public InboxConsumerBuilder clock(Clock clock) {
        this.clock = clock;
        return this;
    }

    @Override
    public InboxConsumerBuilder maxBatchSize(int maxBatchSize) {
        this.maxBatchSize = maxBatchSize;
        return this;
    }

    @Override
    public InboxConsumerBuilder maxAttempts(int maxAttempts) {
        this.maxAttempts = maxAttempts;
        return this;
    }

    @Override
    public InboxConsumerBuilder fatalExceptions(Collection<Class<? extends Throwable>> fatalExceptions) {
        this.fatalExceptions = fatalExceptions == null ? null : new ArrayList<>(fatalExceptions);
        return this;
    }

    @Override
    public InboxConsumerBuilder fatalWhen(java.util.function.Predicate<Throwable> isFatal) {
        this.fatalWhen = isFatal;
        return this;
    }

    @Override
    public InboxConsumerBuilder deadLetterTopic(String deadLetterTopic) {
        this.deadLetterTopic = deadLetterTopic;
        return this;
    }

    @Override
    public InboxConsumerBuilder deadLetterProducerProperties(Map<String, ?> properties) {
        this.deadLetterProducerProperties = properties == null ? null : copy(properties);
        return this;
    }

    @Override
    public InboxConsumerBuilder parkedKeyCheckInterval(Duration interval) {
        this.parkedKeyCheckInterval = interval;
        return this;
    }

    @Override
    public InboxConsumerBuilder retention(Duration retention) {
        this.retention = retention;
        return this;
    }

    @Override
    public InboxConsumerBuilder cleanupInterval(Duration interval) {
        this.cleanupInterval = interval;
        return this;
    }

    @Override
    public InboxConsumerBuilder cleanupBatchSize(int batchSize) {
        this.cleanupBatchSize = batchSize;
        return this;
    }

    @Override
    public InboxConsumerBuilder meterRegistry(io.micrometer.core.instrument.MeterRegistry registry) {
        this.meterRegistry = registry;
        return this;
    }

    @Override
    public InboxConsumerBuilder transactionRunner(TransactionRunner transactionRunner) {
        this.transactionRunner = transactionRunner;
        return this;
    }

    @Override
    public InboxConsumerBuilder savepointPerHandler(boolean savepointPerHandler) {
        this.savepointPerHandler = savepointPerHandler;
        return this;
    }

    @Override
    public InboxConsumer build() {
        return new InboxConsumerImpl(settings());
    }

    /** Validates every setting; package-private for tests. */
    InboxSettings settings() {
        String name = validConsumerName();
        Map<String, Object> kafka = KafkaConsumerProperties.resolve(name, require("kafkaProperties", kafkaProperties,
                "give at least Map.of(\"bootstrap.servers\", \"host:9092\")"));
        List<String> validTopics = validTopics();
        TableName table = validInboxTable();
        require("dataSource", dataSource, "give the DataSource of the database that holds the inbox table");
        require("handler", handler, "give the InboxHandler that applies each event");
        require("clock", clock, "omit clock() to use the system clock");
        positive("pollTimeout", pollTimeout, "e.g. Duration.ofMillis(100)");
        positive("closeTimeout", closeTimeout, "e.g. Duration.ofSeconds(30)");
        positive("retryBackoff initial", retryBackoffInitial, "e.g. Duration.ofMillis(100)");
        positive("retryBackoff max", retryBackoffMax, "e.g. Duration.ofSeconds(30)");
        checkBackoffOrder();
        checkPollTimeoutFitsPollInterval(kafka);
        if (maxAttempts < 1) {
            throw invalid("maxAttempts", String.valueOf(maxAttempts), "give at least 1 (1: dead-letter at the first "
                    + "failure), e.g. " + DEFAULT_MAX_ATTEMPTS);
        }
        require("fatalExceptions", fatalExceptions, "give a collection of exception classes, e.g. List.of() for none "
                + "besides FatalEventException");
        if (fatalExceptions.stream().anyMatch(java.util.Objects::isNull)) {
            throw invalid("fatalExceptions", String.valueOf(fatalExceptions), "remove the null entries");
        }
        require("fatalWhen", fatalWhen, "give a predicate, e.g. e -> false");
        String dlt = deadLetterTopic == null ? name + DEFAULT_DEAD_LETTER_TOPIC_SUFFIX : deadLetterTopic;
        if (!OutboxRecordFormat.isValidTopicName(dlt)) {
            throw invalid("deadLetterTopic", "'" + dlt + "'", "give a valid Kafka topic name ("
                    + OutboxRecordFormat.topicNameProblem(dlt).orElseThrow() + ")" + (deadLetterTopic == null ? "; the default is the consumer name + '"
                    + DEFAULT_DEAD_LETTER_TOPIC_SUFFIX + "', so set deadLetterTopic(...) explicitly" : ""));
        }
        if (topics != null && topics.contains(dlt)) {
            throw invalid("deadLetterTopic", "'" + dlt + "'", "it is also one of the consumed topics; dead letters "
                    + "would be consumed again. Give a topic of its own, e.g. '" + name + DEFAULT_DEAD_LETTER_TOPIC_SUFFIX
                    + "'");
        }
        Map<String, Object> producer = DeadLetterProducerProperties.resolve(name, kafka, require("deadLetterProducerProperties",
                deadLetterProducerProperties, "give Map.of() for none"));
        positive("parkedKeyCheckInterval", parkedKeyCheckInterval, "e.g. Duration.ofSeconds(1)");
        require("retention", retention, "give Duration.ZERO to keep inbox rows forever, or e.g. Duration.ofDays(14)");
        if (retention.isNegative()) {
            throw invalid("retention", retention.toString(), "give Duration.ZERO (keep forever) or a positive duration "
                    + "longer than the topic's retention plus the longest redelivery window, e.g. Duration.ofDays(14)");
        }
        positive("cleanupInterval", cleanupInterval, "e.g. Duration.ofMinutes(1)");
        if (cleanupBatchSize < 1 || cleanupBatchSize > 100_000) {
            throw invalid("cleanupBatchSize", String.valueOf(cleanupBatchSize), "give 1 to 100000, e.g. "
                    + DEFAULT_CLEANUP_BATCH_SIZE + " (small batches keep each delete's locks short)");
        }
        if (maxBatchSize < 1 || maxBatchSize > 10_000) {
            throw invalid("maxBatchSize", String.valueOf(maxBatchSize), "give 1 (a transaction per record) to 10000, "
                    + "e.g. " + DEFAULT_MAX_BATCH_SIZE);
        }
        require("transactionRunner", transactionRunner, "omit transactionRunner(...) to use TransactionRunner.jdbc()");
        if (savepointPerHandler && !transactionRunner.supportsSavepoints()) {
            throw invalid("savepointPerHandler", "true", "the transactionRunner " + transactionRunner.getClass().getName()
                    + " supports no savepoints (supportsSavepoints() is false, e.g. a JPA transaction): omit "
                    + "savepointPerHandler(true); batches then run without savepoints, a failing handler's batch is "
                    + "rolled back and the events before it applied again");
        }
        FailureClassifier classifier = new FailureClassifier(List.copyOf(fatalExceptions), fatalWhen);
        return InboxSettings.builder()
                .consumerName(name)
                .kafkaProperties(Collections.unmodifiableMap(kafka))
                .topics(validTopics)
                .topicPattern(topicPattern)
                .dataSource(dataSource)
                .inboxTable(table)
                .handler(handler)
                .pollTimeout(pollTimeout)
                .closeTimeout(closeTimeout)
                .retryBackoffInitial(retryBackoffInitial)
                .retryBackoffMax(retryBackoffMax)
                .clock(clock)
                .maxAttempts(maxAttempts)
                .classifier(classifier)
                .deadLetterTopic(dlt)
                .deadLetterProducerProperties(Collections.unmodifiableMap(producer))
                .parkedKeyCheckInterval(parkedKeyCheckInterval)
                .retention(retention)
                .cleanupInterval(cleanupInterval)
                .cleanupBatchSize(cleanupBatchSize)
                .meterRegistry(meterRegistry)
                .maxBatchSize(maxBatchSize)
                .transactionRunner(transactionRunner)
                .savepointPerHandler(savepointPerHandler)
                .build();
    }

    private String validConsumerName() {
        require("consumerName", consumerName, "give the name under which this consumer records events in the inbox, "
                + "e.g. \"billing\"");
        if (consumerName.isBlank() || !consumerName.strip().equals(consumerName)
                || consumerName.length() > MAX_CONSUMER_NAME_LENGTH) {
            throw invalid("consumerName", "'" + consumerName + "'", "use 1 to " + MAX_CONSUMER_NAME_LENGTH
                    + " characters without leading or trailing whitespace (column consumer_name is varchar(255))");
        }
        return consumerName;
    }

    private List<String> validTopics() {
        if ((topics == null) == (topicPattern == null)) {
            throw new IllegalArgumentException("Invalid setting topics/topicPattern (topics: " + topics
                    + ", topicPattern: " + topicPattern + "): give exactly one of topics(...) or topicPattern(...)");
        }
        if (topics == null) {
            return null;
        }
        if (topics.isEmpty() || topics.stream().anyMatch(t -> t == null || t.isBlank())) {
            throw invalid("topics", String.valueOf(topics), "give at least one topic and no blank or null names");
        }
        return List.copyOf(topics);
    }

    private TableName validInboxTable() {
        try {
            return TableName.parse(inboxTable);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("Invalid value '" + inboxTable + "' for setting inboxTable: "
                    + e.getMessage(), e);
        }
    }

    private void checkBackoffOrder() {
        if (retryBackoffMax.compareTo(retryBackoffInitial) < 0) {
            throw new IllegalArgumentException("Invalid setting retryBackoff (initial " + retryBackoffInitial
                    + ", max " + retryBackoffMax + "): max must be at least initial, e.g. retryBackoff("
                    + "Duration.ofMillis(100), Duration.ofSeconds(30))");
        }
    }

    private void checkPollTimeoutFitsPollInterval(Map<String, Object> kafka) {
        int maxPollIntervalMs = KafkaConsumerProperties.maxPollIntervalMs(kafka);
        if (pollTimeout.toMillis() >= maxPollIntervalMs) {
            throw invalid("pollTimeout", pollTimeout.toString(), "it must be well below Kafka's max.poll.interval.ms ("
                    + maxPollIntervalMs + " ms), or the group evicts the consumer; e.g. Duration.ofMillis(100)");
        }
    }

    private static <T> T require(String setting, T value, String fix) {
        if (value == null) {
            throw new IllegalArgumentException("Missing setting " + setting + " (value: null): " + fix);
        }
        return value;
    }

    private static void positive(String setting, Duration value, String example) {
        require(setting, value, "give a positive duration, " + example);
        if (value.toMillis() < 1) {
            throw invalid(setting, value.toString(), "give a duration of at least 1 ms, " + example);
        }
    }

    private static IllegalArgumentException invalid(String setting, String value, String fix) {
        return new IllegalArgumentException("Invalid value " + value + " for setting " + setting + ": " + fix);
    }

    private static Map<String, Object> copy(Map<?, ?> properties) {
        Map<String, Object> copy = new LinkedHashMap<>();
        properties.forEach((k, v) -> copy.put(String.valueOf(k), v));
        return copy;
    }
}
