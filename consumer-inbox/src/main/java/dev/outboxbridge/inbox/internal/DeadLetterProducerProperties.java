package dev.outboxbridge.inbox.internal;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Resolves the configuration of the dead-letter producer: the consumer's Kafka settings that a
 * producer knows (brokers, security), then the user's dead-letter producer settings, then the forced
 * values (idempotent, {@code acks=all}, byte-array serializers). Conflicting values are rejected.
 */
final class DeadLetterProducerProperties {

    /** Consumer settings not copied to the producer even though producers know them. */
    private static final Set<String> NOT_SHARED = Set.of(ProducerConfig.CLIENT_ID_CONFIG);

    private DeadLetterProducerProperties() {
    }

    static Map<String, Object> resolve(String consumerName, Map<String, Object> consumer, Map<String, Object> user) {
        Map<String, Object> props = new LinkedHashMap<>();
        consumer.forEach((k, v) -> {
            if (ProducerConfig.configNames().contains(k) && !NOT_SHARED.contains(k)) {
                props.put(k, v);
            }
        });
        requireValue(user, ProducerConfig.ACKS_CONFIG, "all", "-1");
        requireValue(user, ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        for (String key : Set.of(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG,
                ProducerConfig.TRANSACTIONAL_ID_CONFIG)) {
            if (user.containsKey(key)) {
                throw new IllegalArgumentException("Invalid setting '" + key + "' (value: " + user.get(key)
                        + ") in deadLetterProducerProperties: the inbox owns it. Fix: remove it");
            }
        }
        props.putAll(user);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.putIfAbsent(ProducerConfig.MAX_BLOCK_MS_CONFIG, 30_000);
        // names the producer's network thread: kafka-producer-network-thread | outbox-inbox-<name>-dlt
        props.putIfAbsent(ProducerConfig.CLIENT_ID_CONFIG, "outbox-inbox-" + consumerName + "-dlt");
        try {
            ProducerConfig.configDef().parse(props);
        } catch (ConfigException e) {
            throw new IllegalArgumentException("Invalid dead-letter producer setting in deadLetterProducerProperties: "
                    + e.getMessage(), e);
        }
        return props;
    }

    private static void requireValue(Map<String, Object> user, String key, String... allowed) {
        Object value = user.get(key);
        if (value == null) {
            return;
        }
        for (String a : allowed) {
            if (a.equalsIgnoreCase(value.toString().trim())) {
                return;
            }
        }
        throw new IllegalArgumentException("Invalid value " + value + " for dead-letter producer setting '" + key
                + "': the dead-letter producer must be idempotent with acks=all, so that a record whose offset is "
                + "committed is durably in the dead-letter topic. Fix: remove the setting (the inbox sets "
                + key + "=" + allowed[0] + ")");
    }
}
