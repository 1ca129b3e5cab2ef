package dev.outboxbridge.spring;

import dev.outboxbridge.inbox.InboxConsumer;

/**
 * Beans of this type adjust each inbox consumer's builder after the starter applied the properties
 * (e.g. {@code fatalExceptions}, a clock, a topic pattern), in {@code @Order} order. The starter
 * itself contributes one that hands the application's {@code MeterRegistry} to every consumer.
 */
@FunctionalInterface
public interface InboxConsumerCustomizer {

    void customize(String consumerName, InboxConsumer.Builder builder);
}
