package dev.outboxbridge.spring;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.springframework.boot.kafka.autoconfigure.KafkaConnectionDetails;
import org.springframework.boot.kafka.autoconfigure.KafkaProperties;
import org.springframework.boot.ssl.SslBundle;
import org.springframework.boot.ssl.SslBundles;

/**
 * Kafka client settings from Boot's {@code spring.kafka.*} as Boot gives them to Spring Kafka's clients: Boot's
 * {@code KafkaProperties.build*Properties()}, then the {@link KafkaConnectionDetails} (bootstrap servers, security
 * protocol and SSL bundle of the consumer or producer; a service connection replaces the properties' ones). The
 * SSL bundle ({@code spring.kafka.[consumer.|producer.]ssl.bundle}) is chosen as Boot chooses it, from Boot's
 * {@link SslBundles}, and written as Kafka settings by {@link SslBundleKafkaSettings}. Only loaded with
 * spring-boot-kafka on the class path.
 */
final class BootKafkaSettings {

    private BootKafkaSettings() {
    }

    /** The inbox consumers' base: every {@code spring.kafka.*} consumer setting. */
    static Map<String, Object> consumer(KafkaProperties kafka, KafkaConnectionDetails details, SslBundles bundles) {
        Map<String, Object> settings = new LinkedHashMap<>(kafka.buildConsumerProperties());
        String bundleSetting = kafka.getConsumer().getSsl().getBundle() != null ? "spring.kafka.consumer.ssl.bundle"
                : "spring.kafka.ssl.bundle";
        String bundleName = kafka.getConsumer().getSsl().getBundle() != null ? kafka.getConsumer().getSsl().getBundle()
                : kafka.getSsl().getBundle();
        apply(settings, details == null ? null : details.getConsumer(), bundleSetting, bundleName, bundles);
        return settings;
    }

    /**
     * The relay producer's base: the connection settings of {@code spring.kafka.*} for a producer
     * ({@code bootstrap.servers}, {@code security.protocol}, {@code ssl.*}, {@code sasl.*}), as strings. The other
     * producer settings Boot gives its KafkaTemplate (acks, serializers, batching...) are not the relay's: set those
     * with {@code outbox.relay.properties.kafka.producer.*}.
     */
    static Map<String, String> relayProducer(KafkaProperties kafka, KafkaConnectionDetails details, SslBundles bundles) {
        Map<String, Object> all = new LinkedHashMap<>(kafka.buildProducerProperties());
        String bundleSetting = kafka.getProducer().getSsl().getBundle() != null ? "spring.kafka.producer.ssl.bundle"
                : "spring.kafka.ssl.bundle";
        String bundleName = kafka.getProducer().getSsl().getBundle() != null ? kafka.getProducer().getSsl().getBundle()
                : kafka.getSsl().getBundle();
        apply(all, details == null ? null : details.getProducer(), bundleSetting, bundleName, bundles);
        Map<String, String> settings = new LinkedHashMap<>();
        all.forEach((key, value) -> {
            if (value != null && (key.equals("bootstrap.servers") || key.equals("security.protocol")
                    || key.startsWith("ssl.") || key.startsWith("sasl."))) {
                settings.put(key, asString(key, value));
            }
        });
        return settings;
    }

    private static void apply(Map<String, Object> settings, KafkaConnectionDetails.Configuration connection,
            String bundleSetting, String bundleName, SslBundles bundles) {
        SslBundle bundle = null;
        if (connection != null) {
            settings.put("bootstrap.servers", connection.getBootstrapServers());
            String protocol = connection.getSecurityProtocol();
            if (protocol != null && !protocol.isEmpty()) {
                settings.put("security.protocol", protocol);
            }
            bundle = connection.getSslBundle();
        } else if (bundleName != null) {
            if (bundles == null) {
                throw new IllegalStateException(bundleSetting + "=" + bundleName + " is set, but the application has no"
                        + " SslBundles bean to find it in. Fix: let Boot's SslAutoConfiguration run (define the bundle"
                        + " under spring.ssl.bundle.*), or configure Kafka's TLS with spring.kafka.ssl.* instead");
            }
            bundle = bundles.getBundle(bundleName); // NoSuchSslBundleException names the missing bundle
        }
        if (bundle != null) {
            SslBundleKafkaSettings.apply(settings, bundleSetting, bundleName != null ? bundleName : "(service connection)",
                    bundle);
        }
    }

    private static String asString(String key, Object value) {
        if (value instanceof List<?> list) {
            return String.join(",", list.stream().map(String::valueOf).toList());
        }
        if (value instanceof Class<?> type) {
            return type.getName();
        }
        if (value instanceof CharSequence || value instanceof Number || value instanceof Boolean) {
            return value.toString();
        }
        throw new IllegalStateException("The Kafka setting " + key + " from spring.kafka.* is an object of type "
                + value.getClass().getName() + ", and the embedded relay takes string settings only. Fix: give it as a"
                + " string under outbox.relay.properties.kafka.producer." + key);
    }
}
