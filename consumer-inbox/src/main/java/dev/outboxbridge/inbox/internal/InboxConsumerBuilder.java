package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.db.TableName;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxHandler;
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
        return new InboxSettings(name, Collections.unmodifiableMap(kafka), validTopics, topicPattern, dataSource, table, handler,
                pollTimeout, closeTimeout, retryBackoffInitial, retryBackoffMax, clock);
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
