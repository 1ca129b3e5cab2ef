package com.example.shop.orders;

import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Map;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.SmartLifecycle;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;

/**
 * The relay, embedded in the orders service: the only place that creates, starts and stops it.
 *
 * <p>It reads the orders database's WAL (a logical replication slot on the outbox table) and publishes each committed
 * outbox row to Kafka. Its settings are the relay's own keys ({@link RelayConfig}), passed through unchanged from
 * {@code shop.relay.settings.*} (see {@code orders.yml}). {@code shop.relay.enabled=false} leaves it out, for when a
 * sidecar ({@code outbox-relay-app}) publishes instead.
 *
 * <p>Lifecycle: it starts before the web server accepts requests (a row committed before the slot exists is never
 * published) and after the migrations (the outbox table must exist); it stops after the web server, within the
 * relay's {@code shutdown.timeout.ms}, storing its position so the next start re-sends nothing.
 */
@Configuration(proxyBeanMethods = false)
@ConditionalOnBooleanProperty(name = "shop.relay.enabled", matchIfMissing = true)
public class RelayConfiguration {

    /** Before the web server (which starts in phase {@code DEFAULT_PHASE - 1024}) and the inbox consumers. */
    static final int PHASE = SmartLifecycle.DEFAULT_PHASE - 2048;

    @Bean
    EmbeddedRelay embeddedRelay(Environment environment, ObjectProvider<MeterRegistry> meterRegistry) {
        Map<String, String> settings = Binder.get(environment)
                .bind("shop.relay.settings", Bindable.mapOf(String.class, String.class))
                .orElseThrow(() -> new IllegalStateException("shop.relay.settings.* is empty: set the relay's database"
                        + " and Kafka settings (see orders.yml), or shop.relay.enabled=false when a sidecar relays"));
        Relay.Builder relay = Relay.builder(RelayConfig.of(settings));
        meterRegistry.ifAvailable(relay::meterRegistry);
        return new EmbeddedRelay(relay.build());
    }

    @Bean
    HealthIndicator relayHealthIndicator(EmbeddedRelay relay) {
        return relay::health;
    }

    /** Starts and stops the relay with the application context. */
    public static final class EmbeddedRelay implements SmartLifecycle, AutoCloseable {

        private final Relay relay;

        EmbeddedRelay(Relay relay) {
            this.relay = relay;
        }

        /** The relay, for its state and {@link Relay#publishedCount()}. */
        public Relay relay() {
            return relay;
        }

        @Override
        public void start() {
            relay.start(); // returns once the slot exists: every outbox row committed from now on is published
        }

        @Override
        public void stop() {
            relay.close();
        }

        /** Also when the context closes without having stopped it (a failed start): {@link Relay#close()} is idempotent. */
        @Override
        public void close() {
            relay.close();
        }

        @Override
        public boolean isRunning() {
            Relay.State state = relay.state();
            return state == Relay.State.STARTING || state == Relay.State.STANDBY || state == Relay.State.RUNNING;
        }

        @Override
        public int getPhase() {
            return PHASE;
        }

        Health health() {
            Health.Builder health = relay.isReady() ? Health.up() : Health.down();
            health.withDetail("state", relay.state().name()).withDetail("published", relay.publishedCount())
                    .withDetail("status", relay.statusLine().strip());
            relay.failure().ifPresent(f -> health.withDetail("failure", String.valueOf(f.getMessage())));
            return health.build();
        }
    }
}
