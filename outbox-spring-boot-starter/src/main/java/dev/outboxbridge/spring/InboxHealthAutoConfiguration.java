package dev.outboxbridge.spring;

import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.context.annotation.Bean;

/**
 * The inbox consumers' health indicator ({@link InboxConsumersHealthIndicator}, contributor name
 * {@code outboxInbox}), when the application has Boot's health support (spring-boot-health, brought by
 * the Actuator starter) and the inbox consumers bean. Off with {@code management.health.outbox-inbox.enabled=false}
 * (or {@code management.health.defaults.enabled=false}).
 */
@AutoConfiguration(after = InboxAutoConfiguration.class)
@ConditionalOnClass(name = "org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator")
@ConditionalOnBean(SpringInboxConsumers.class)
@ConditionalOnEnabledHealthIndicator("outbox-inbox")
public class InboxHealthAutoConfiguration {

    /** The bean name; Boot names the health contributor after it ({@code outboxInbox}). */
    public static final String BEAN_NAME = "outboxInboxHealthIndicator";

    @Bean(BEAN_NAME)
    @ConditionalOnMissingBean(name = BEAN_NAME)
    InboxConsumersHealthIndicator outboxInboxHealthIndicator(SpringInboxConsumers consumers) {
        return new InboxConsumersHealthIndicator(consumers);
    }
}
