package dev.outboxbridge.spring;

import dev.outboxbridge.inbox.InboxHandler;
import java.util.List;
import java.util.Objects;

/**
 * Declares an inbox consumer as a bean; the starter builds, starts and stops it with the application
 * context ({@link SpringInboxConsumers}). Settings under {@code outbox.inbox.consumers.<name>.*}
 * override these and add the rest (Kafka overrides, batch size, ...).
 *
 * <pre>{@code
 * @Bean
 * InboxConsumerRegistration billing(BillingService billing) {
 *     return InboxConsumerRegistration.of("billing", List.of("outbox.event.order"),
 *             (event, tx) -> billing.apply(event));
 * }
 * }</pre>
 *
 * @param name the consumer name (inbox rows, default Kafka group); never rename one that has run
 * @param topics the topics to consume; empty if the properties give topics or a pattern
 * @param handler applies each event inside the Spring-managed inbox transaction
 */
public record InboxConsumerRegistration(String name, List<String> topics, InboxHandler handler) {

    public InboxConsumerRegistration {
        Objects.requireNonNull(name, "name");
        topics = List.copyOf(Objects.requireNonNull(topics, "topics"));
        Objects.requireNonNull(handler, "handler");
    }

    public static InboxConsumerRegistration of(String name, List<String> topics, InboxHandler handler) {
        return new InboxConsumerRegistration(name, topics, handler);
    }
}
