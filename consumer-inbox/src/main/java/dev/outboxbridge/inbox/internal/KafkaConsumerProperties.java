package dev.outboxbridge.inbox.internal;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.LoggerFactory;

/**
 * Resolves the Kafka consumer configuration of an inbox consumer from the user's settings: checks
 * the keys the inbox depends on, adds the inbox's defaults and forced values, and validates the
 * result against Kafka's own {@link ConsumerConfig} definitions. Bad values are rejected, never
 * replaced.
 */
final class KafkaConsumerProperties {

    private KafkaConsumerProperties() {
    }

    /**
     * @throws IllegalArgumentException naming the key, the value and the fix
     */
    static Map<String, Object> resolve(String consumerName, Map<String, Object> user) {
        requireBootstrapServers(user.get(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG));
        rejectAutoCommit(user.get(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG));
        requireByteArrayDeserializer(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG,
                user.get(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG));
        requireByteArrayDeserializer(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
                user.get(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG));

        Map<String, Object> props = new LinkedHashMap<>(user);
        props.putIfAbsent(ConsumerConfig.GROUP_ID_CONFIG, consumerName);
        props.putIfAbsent(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        warnReadUncommitted(consumerName, user.get(ConsumerConfig.ISOLATION_LEVEL_CONFIG));
        // a relay with delivery.guarantee=exactly_once writes in Kafka transactions: only committed records are events
        // (Kafka's own default, read_uncommitted, would also hand over records of aborted transactions: duplicates)
        props.putIfAbsent(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        if (isClassicProtocol(props.get(ConsumerConfig.GROUP_PROTOCOL_CONFIG))) {
            // the consumer group protocol (KIP-848) assigns on the broker and rejects this key
            props.putIfAbsent(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
        }
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        validate(props);
        return props;
    }

    /**
     * read_uncommitted set explicitly: allowed (the inbox cannot know how the relay publishes, and its dedupe makes a
     * record delivered twice harmless), but warned: with a relay publishing exactly_once it also reads the records of
     * aborted transactions, which the relay sends again.
     */
    private static void warnReadUncommitted(String consumerName, Object isolation) {
        if (isolation != null && "read_uncommitted".equalsIgnoreCase(isolation.toString().trim())) {
            LoggerFactory.getLogger(KafkaConsumerProperties.class).warn("Inbox consumer '{}': isolation.level=read_uncommitted"
                    + " also reads records of aborted Kafka transactions: with a relay running delivery.guarantee=exactly_once"
                    + " they are sent again, and the inbox dedupes them by event id instead of never seeing them. Fix: remove"
                    + " the setting (the inbox's default is read_committed) unless no relay of these topics uses transactions",
                    consumerName);
        }
    }

    /** {@code max.poll.interval.ms} of a resolved configuration. */
    static int maxPollIntervalMs(Map<String, Object> resolved) {
        return (Integer) ConsumerConfig.configDef().parse(resolved).get(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG);
    }

    private static void requireBootstrapServers(Object value) {
        boolean blank = value == null
                || (value instanceof Collection<?> c && c.isEmpty())
                || value.toString().isBlank();
        if (blank) {
            throw new IllegalArgumentException("Missing Kafka setting '" + ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG
                    + "' (value: " + value + "): give the brokers in kafkaProperties, e.g. "
                    + "Map.of(\"bootstrap.servers\", \"localhost:9092\")");
        }
    }

    private static void rejectAutoCommit(Object value) {
        if (value != null && !"false".equalsIgnoreCase(value.toString().trim())) {
            throw new IllegalArgumentException("Invalid value " + value + " for Kafka setting '"
                    + ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG + "': the inbox commits offsets itself, only after "
                    + "the database transaction of the record has committed; auto-commit would acknowledge records "
                    + "whose side effects are not applied yet. Fix: remove the setting (the inbox sets it to false)");
        }
    }

    private static void requireByteArrayDeserializer(String key, Object value) {
        if (value == null) {
            return;
        }
        String name = value instanceof Class<?> c ? c.getName() : value.toString().trim();
        if (!ByteArrayDeserializer.class.getName().equals(name)) {
            throw new IllegalArgumentException("Invalid value " + name + " for Kafka setting '" + key
                    + "': the inbox reads keys and values as bytes (" + ByteArrayDeserializer.class.getName()
                    + ") and hands them to the handler via InboxEvent.key()/payload(). Fix: remove the setting and "
                    + "deserialize the payload in the handler");
        }
    }

    private static boolean isClassicProtocol(Object groupProtocol) {
        return groupProtocol == null || "classic".equals(groupProtocol.toString().trim().toLowerCase(Locale.ROOT));
    }

    private static void validate(Map<String, Object> props) {
        try {
            ConsumerConfig.configDef().parse(props);
        } catch (ConfigException e) {
            throw new IllegalArgumentException("Invalid Kafka consumer setting in kafkaProperties: " + e.getMessage(), e);
        }
    }
}
