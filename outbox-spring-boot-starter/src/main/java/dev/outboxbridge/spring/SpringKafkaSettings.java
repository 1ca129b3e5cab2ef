package dev.outboxbridge.spring;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.core.env.Environment;

/**
 * The Kafka consumer settings of an inbox consumer: the application's {@code spring.kafka.*} below the
 * consumer's own {@code outbox.inbox.consumers.<name>.kafka.*}. The settings Spring Boot gives its own
 * listener containers that the inbox decides itself are left out of the {@code spring.kafka.*} part:
 * deserializers (always byte arrays), {@code enable.auto.commit} (always false), {@code group.id}
 * (default: the consumer name) and {@code client.id}; set them per consumer if you must.
 */
final class SpringKafkaSettings implements Function<Map<String, String>, Map<String, Object>> {

    /** Set by Boot for its listener containers; the inbox chooses these itself. */
    static final List<String> NOT_INHERITED =
            List.of("key.deserializer", "value.deserializer", "enable.auto.commit", "group.id", "client.id");

    private final Supplier<Map<String, Object>> base;

    /**
     * @param base the {@code spring.kafka.*} consumer settings, e.g. Boot's
     *        {@code KafkaProperties::buildConsumerProperties} (bootstrap, SSL, SASL/JAAS, properties)
     */
    SpringKafkaSettings(Supplier<Map<String, Object>> base) {
        this.base = base;
    }

    /**
     * Without spring-boot-kafka on the class path: {@code spring.kafka.bootstrap-servers},
     * {@code spring.kafka.properties.*} and {@code spring.kafka.consumer.properties.*} read directly.
     */
    static SpringKafkaSettings fromEnvironment(Environment environment) {
        return new SpringKafkaSettings(() -> {
            Binder binder = Binder.get(environment);
            refuseSslBundleWithoutBootKafka(binder);
            Map<String, Object> settings = new LinkedHashMap<>();
            binder.bind("spring.kafka.bootstrap-servers", Bindable.listOf(String.class))
                    .ifBound(servers -> settings.put("bootstrap.servers", String.join(",", servers)));
            Bindable<Map<String, String>> map = Bindable.mapOf(String.class, String.class);
            binder.bind("spring.kafka.properties", map).ifBound(settings::putAll);
            binder.bind("spring.kafka.consumer.properties", map).ifBound(settings::putAll);
            return settings;
        });
    }

    /**
     * Without spring-boot-kafka nothing reads {@code spring.kafka.*.ssl.bundle}: refused rather than connecting
     * without the TLS the application asked for.
     */
    static void refuseSslBundleWithoutBootKafka(Binder binder) {
        for (String setting : List.of("spring.kafka.ssl.bundle", "spring.kafka.consumer.ssl.bundle",
                "spring.kafka.producer.ssl.bundle")) {
            binder.bind(setting, String.class).ifBound(bundle -> {
                throw new IllegalStateException(setting + "=" + bundle + " is set, but spring-boot-kafka, which reads"
                        + " it, is not on the class path. Fix: add org.springframework.boot:spring-boot-kafka to the"
                        + " application, or give the TLS settings as spring.kafka.properties.ssl.*");
            });
        }
    }

    @Override
    public Map<String, Object> apply(Map<String, String> overrides) {
        Map<String, Object> settings = new LinkedHashMap<>(base.get());
        NOT_INHERITED.forEach(settings::remove);
        settings.putAll(overrides);
        return settings;
    }
}
