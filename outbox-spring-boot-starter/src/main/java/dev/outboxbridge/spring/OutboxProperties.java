package dev.outboxbridge.spring;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * Settings of the Outbox Bridge starter, prefix {@code outbox}. Defaults left unset here are the
 * libraries' own ({@code OutboxConfig}, {@code InboxConsumer.Builder}): nothing is repeated.
 */
@ConfigurationProperties("outbox")
public class OutboxProperties {

    /** The outbox table, {@code table} or {@code schema.table}; unset: {@code public.outbox_event}. */
    private String table;

    /** Prefix of the topic an event goes to (prefix + aggregate type); unset: {@code outbox.event.}. */
    private String topicPrefix;

    /** Upper bound on payload + aggregate id + headers of one event in bytes; unset: 1000000. */
    private Integer maxRecordBytes;

    /**
     * Retention mode "delete in the same transaction": each append inserts the row and deletes it again in the same
     * transaction, so only the WAL carries the event and the table stays empty. Create the relay's replication slot
     * before the first append (rows committed before it are lost). See docs/outbox-retention.md.
     */
    private boolean deleteInTransaction = false;

    private final Inbox inbox = new Inbox();

    private final Migrations migrations = new Migrations();

    private final CloudEvents cloudevents = new CloudEvents();

    private final Tracing tracing = new Tracing();

    public String getTable() {
        return table;
    }

    public void setTable(String table) {
        this.table = table;
    }

    public String getTopicPrefix() {
        return topicPrefix;
    }

    public void setTopicPrefix(String topicPrefix) {
        this.topicPrefix = topicPrefix;
    }

    public Integer getMaxRecordBytes() {
        return maxRecordBytes;
    }

    public void setMaxRecordBytes(Integer maxRecordBytes) {
        this.maxRecordBytes = maxRecordBytes;
    }

    public boolean isDeleteInTransaction() {
        return deleteInTransaction;
    }

    public void setDeleteInTransaction(boolean deleteInTransaction) {
        this.deleteInTransaction = deleteInTransaction;
    }

    public Inbox getInbox() {
        return inbox;
    }

    public Migrations getMigrations() {
        return migrations;
    }

    public CloudEvents getCloudevents() {
        return cloudevents;
    }

    /**
     * CloudEvents 1.0 headers on every appended event, binary content mode of the Kafka protocol binding
     * ({@code ce_specversion}, {@code ce_id} = the event id, {@code ce_type} = the event type, {@code ce_source},
     * {@code ce_time}; the {@code content-type} header is the {@code datacontenttype}). See {@code CloudEventsHeaders}.
     */
    public static class CloudEvents {

        /** Whether every append adds the CloudEvents binary-mode headers; needs outbox.cloudevents.source. */
        private boolean enabled = false;

        /**
         * The CloudEvents source of this application's events (header ce_source): a URI-reference such as
         * /orders-service or https://shop.example.com/orders. Required when outbox.cloudevents.enabled=true.
         */
        private String source;

        public boolean isEnabled() {
            return enabled;
        }

        public void setEnabled(boolean enabled) {
            this.enabled = enabled;
        }

        public String getSource() {
            return source;
        }

        public void setSource(String source) {
            this.source = source;
        }
    }

    public Tracing getTracing() {
        return tracing;
    }

    /**
     * Trace context carried from the append to the inbox handler, through the application's Micrometer
     * {@code ObservationRegistry} (see {@code OutboxObservationAutoConfiguration}).
     */
    public static class Tracing {

        /**
         * Whether appends and inbox handler calls are observed when the application has an {@code ObservationRegistry}:
         * the append's span context written into the event headers ({@code traceparent}, {@code tracestate}), the
         * handler run in a consumer span whose parent is the producing span.
         */
        private boolean enabled = true;

        public boolean isEnabled() {
            return enabled;
        }

        public void setEnabled(boolean enabled) {
            this.enabled = enabled;
        }
    }

    /**
     * The shipped Flyway migrations of the outbox and inbox tables, run at start-up (with Flyway on the class
     * path), each with its own schema history table beside the application's own Flyway.
     */
    public static class Migrations {

        /**
         * Whether to run the shipped migrations at start-up when Flyway is on the class path: after the
         * application's own Flyway, before the beans that use the database and before the inbox consumers start.
         */
        private boolean enabled = true;

        /** Whether to migrate the outbox table ({@code outbox_event}). */
        private boolean outbox = true;

        /**
         * Whether to migrate the inbox tables ({@code inbox_event} and the parked-key tables); unset: only when the
         * application declares an inbox consumer.
         */
        private Boolean inbox;

        public boolean isEnabled() {
            return enabled;
        }

        public void setEnabled(boolean enabled) {
            this.enabled = enabled;
        }

        public boolean isOutbox() {
            return outbox;
        }

        public void setOutbox(boolean outbox) {
            this.outbox = outbox;
        }

        public Boolean getInbox() {
            return inbox;
        }

        public void setInbox(Boolean inbox) {
            this.inbox = inbox;
        }
    }

    /** The inbox consumers run by the application context. */
    public static class Inbox {

        /**
         * Whether the declared inbox consumers start with the application context; false: start them
         * yourself with {@code SpringInboxConsumers.start()}.
         */
        private boolean autoStartup = true;

        /**
         * Inbox consumers by consumer name (the name recorded in the inbox table and the default Kafka
         * group). A consumer declared here needs topics (or a topic pattern) and an {@code InboxHandler}
         * bean; for a consumer also declared by an {@code InboxConsumerRegistration} bean these
         * settings override the registration's.
         */
        private Map<String, Consumer> consumers = new LinkedHashMap<>();

        public boolean isAutoStartup() {
            return autoStartup;
        }

        public void setAutoStartup(boolean autoStartup) {
            this.autoStartup = autoStartup;
        }

        public Map<String, Consumer> getConsumers() {
            return consumers;
        }

        public void setConsumers(Map<String, Consumer> consumers) {
            this.consumers = consumers;
        }
    }

    /** One inbox consumer. Unset values keep the {@code InboxConsumer.Builder} defaults. */
    public static class Consumer {

        /** Topics to consume; give these or a topic pattern. */
        private List<String> topics = new ArrayList<>();

        /** A regular expression of topics to consume, instead of topics. */
        private String topicPattern;

        /** Name of the {@code InboxHandler} bean that applies the events; unset: the bean named like the consumer. */
        private String handler;

        /**
         * For a consumer with {@code @InboxListener} methods: what to do with an event whose type has none;
         * {@code skip} (record it in the inbox and count it) or {@code dead-letter}.
         */
        private InboxListeners.UnknownEventTypes unknownEventTypes = InboxListeners.UnknownEventTypes.SKIP;

        /**
         * Kafka consumer settings of this consumer, over those taken from {@code spring.kafka.*}
         * (e.g. {@code group.id}, {@code max.poll.records}, {@code bootstrap.servers}).
         */
        private Map<String, String> kafka = new LinkedHashMap<>();

        /** Extra settings of this consumer's dead-letter producer. */
        private Map<String, String> deadLetterProducer = new LinkedHashMap<>();

        /** The inbox table, {@code table} or {@code schema.table}. */
        private String inboxTable;

        /** The dead-letter topic; unset: the consumer name followed by {@code .dlt}. */
        private String deadLetterTopic;

        /** Most consecutive records of a partition applied in one transaction (1: a transaction per record). */
        private Integer maxBatchSize;

        /**
         * Runs each handler of a batch in a nested transaction (a savepoint), so a failing event costs its batch no
         * redo; default false (batches run optimistically, two round trips per event fewer). Needs a transaction
         * manager of the DataSource that allows nested transactions (not JPA).
         */
        private boolean savepointPerHandler;

        /** How many times the handler runs for one event before it is dead-lettered. */
        private Integer maxAttempts;

        /** How long one poll may block. */
        private Duration pollTimeout;

        /** How long stopping waits for the batch in flight and the polling thread. */
        private Duration closeTimeout;

        /** First delay between attempts of a failing event. */
        private Duration retryBackoffInitial;

        /** Longest delay between attempts of a failing event. */
        private Duration retryBackoffMax;

        /** How long inbox rows are kept (0: forever). */
        private Duration retention;

        /** How often the consumer looks for parked keys due for a retry or redriven. */
        private Duration parkedKeyCheckInterval;

        public List<String> getTopics() {
            return topics;
        }

        public void setTopics(List<String> topics) {
            this.topics = topics;
        }

        public String getTopicPattern() {
            return topicPattern;
        }

        public void setTopicPattern(String topicPattern) {
            this.topicPattern = topicPattern;
        }

        public String getHandler() {
            return handler;
        }

        public void setHandler(String handler) {
            this.handler = handler;
        }

        public InboxListeners.UnknownEventTypes getUnknownEventTypes() {
            return unknownEventTypes;
        }

        public void setUnknownEventTypes(InboxListeners.UnknownEventTypes unknownEventTypes) {
            this.unknownEventTypes = unknownEventTypes;
        }

        public Map<String, String> getKafka() {
            return kafka;
        }

        public void setKafka(Map<String, String> kafka) {
            this.kafka = kafka;
        }

        public Map<String, String> getDeadLetterProducer() {
            return deadLetterProducer;
        }

        public void setDeadLetterProducer(Map<String, String> deadLetterProducer) {
            this.deadLetterProducer = deadLetterProducer;
        }

        public String getInboxTable() {
            return inboxTable;
        }

        public void setInboxTable(String inboxTable) {
            this.inboxTable = inboxTable;
        }

        public String getDeadLetterTopic() {
            return deadLetterTopic;
        }

        public void setDeadLetterTopic(String deadLetterTopic) {
            this.deadLetterTopic = deadLetterTopic;
        }

        public Integer getMaxBatchSize() {
            return maxBatchSize;
        }

        public void setMaxBatchSize(Integer maxBatchSize) {
            this.maxBatchSize = maxBatchSize;
        }

        public boolean isSavepointPerHandler() {
            return savepointPerHandler;
        }

        public void setSavepointPerHandler(boolean savepointPerHandler) {
            this.savepointPerHandler = savepointPerHandler;
        }

        public Integer getMaxAttempts() {
            return maxAttempts;
        }

        public void setMaxAttempts(Integer maxAttempts) {
            this.maxAttempts = maxAttempts;
        }

        public Duration getPollTimeout() {
            return pollTimeout;
        }

        public void setPollTimeout(Duration pollTimeout) {
            this.pollTimeout = pollTimeout;
        }

        public Duration getCloseTimeout() {
            return closeTimeout;
        }

        public void setCloseTimeout(Duration closeTimeout) {
            this.closeTimeout = closeTimeout;
        }

        public Duration getRetryBackoffInitial() {
            return retryBackoffInitial;
        }

        public void setRetryBackoffInitial(Duration retryBackoffInitial) {
            this.retryBackoffInitial = retryBackoffInitial;
        }

        public Duration getRetryBackoffMax() {
            return retryBackoffMax;
        }

        public void setRetryBackoffMax(Duration retryBackoffMax) {
            this.retryBackoffMax = retryBackoffMax;
        }

        public Duration getParkedKeyCheckInterval() {
            return parkedKeyCheckInterval;
        }

        public void setParkedKeyCheckInterval(Duration parkedKeyCheckInterval) {
            this.parkedKeyCheckInterval = parkedKeyCheckInterval;
        }

        public Duration getRetention() {
            return retention;
        }

        public void setRetention(Duration retention) {
            this.retention = retention;
        }
    }
}
