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
 * Validated settings of one inbox consumer.
 *
 * @param kafkaProperties the complete Kafka consumer configuration, with the inbox's forced values
 * @param topics the topics, or null when {@code topicPattern} is set
 * @param topicPattern the topic pattern, or null when {@code topics} is set
 * @param deadLetterProducerProperties the complete dead-letter producer configuration
 * @param retention zero: keep inbox rows forever
 * @param meterRegistry a Micrometer {@code MeterRegistry}, or null; typed Object so that Micrometer
 *        stays optional
 * @param transactionRunner runs the transactions that run the handler
 */
record InboxSettings(
        String consumerName,
        Map<String, Object> kafkaProperties,
        List<String> topics,
        Pattern topicPattern,
        DataSource dataSource,
        TableName inboxTable,
        InboxHandler handler,
        Duration pollTimeout,
        Duration closeTimeout,
        Duration retryBackoffInitial,
        Duration retryBackoffMax,
        Clock clock,
        int maxAttempts,
        FailureClassifier classifier,
        String deadLetterTopic,
        Map<String, Object> deadLetterProducerProperties,
        Duration parkedKeyCheckInterval,
        Duration retention,
        Duration cleanupInterval,
        int cleanupBatchSize,
        Object meterRegistry,
        int maxBatchSize,
        TransactionRunner transactionRunner) {

    /** The Kafka consumer group. */
    String groupId() {
        return String.valueOf(kafkaProperties.get("group.id"));
    }

    /** The subscription, for logs and messages. */
    String subscription() {
        return topics != null ? "topics " + topics : "topic pattern '" + topicPattern + "'";
    }
}
