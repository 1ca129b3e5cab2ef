package dev.outboxbridge.spring;

import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.context.annotation.Bean;

/**
 * The embedded relay's health indicator ({@link RelayHealthIndicator}, contributor name {@code outboxRelay}), when
 * the application has Boot's health support (spring-boot-health, brought by the Actuator starter) and the embedded
 * relay. Off with {@code management.health.outbox-relay.enabled=false}.
 */
@AutoConfiguration(after = RelayAutoConfiguration.class)
@ConditionalOnClass(name = { "org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator",
        "dev.outboxbridge.relay.Relay" })
@ConditionalOnBean(SpringRelay.class)
@ConditionalOnEnabledHealthIndicator("outbox-relay")
public class RelayHealthAutoConfiguration {

    /** The bean name; Boot names the health contributor after it ({@code outboxRelay}). */
    public static final String BEAN_NAME = "outboxRelayHealthIndicator";

    @Bean(BEAN_NAME)
    @ConditionalOnMissingBean(name = BEAN_NAME)
    RelayHealthIndicator outboxRelayHealthIndicator(SpringRelay relay) {
        return new RelayHealthIndicator(relay);
    }
}
