package dev.outboxbridge.spring;

import dev.outboxbridge.relay.Relay;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;

/**
 * The health of the embedded relay ({@link SpringRelay}), as the sidecar's readiness sees it: {@code UP} while it
 * publishes ({@code state=leader}) or stands by ready to take over ({@code state=standby}); {@code DOWN} when it
 * failed ({@code state=failed}, with {@code failure}: a relay that lost its lease or met a fatal error is not
 * restarted in the process: restart the application); {@code OUT_OF_SERVICE} while starting, stopping or stopped;
 * {@code UNKNOWN} before its first start ({@code outbox.relay.auto-startup=false}). Details: {@code name},
 * {@code slot}, {@code published} (events acknowledged by Kafka since the start) and {@code status} (the relay's
 * status line). Reads in-memory state only: never connects.
 */
public final class RelayHealthIndicator implements HealthIndicator {

    private final SpringRelay relay;

    public RelayHealthIndicator(SpringRelay relay) {
        this.relay = Objects.requireNonNull(relay, "relay");
    }

    @Override
    public Health health() {
        Optional<Relay> started = relay.relay();
        Health.Builder health = started.isEmpty() ? Health.unknown().withDetail("state", "not-started") : of(started.get());
        return health.withDetail("name", relay.config().name()).withDetail("slot", relay.config().slotName()).build();
    }

    private static Health.Builder of(Relay relay) {
        Relay.State state = relay.state();
        Health.Builder health = Health.status(status(state)).withDetail("state", state(state));
        relay.failure().ifPresent(f -> health.withDetail("failure", f.getClass().getName() + ": " + f.getMessage()));
        return health.withDetail("published", relay.publishedCount()).withDetail("status", relay.statusLine());
    }

    /** leader, standby, starting, stopping, stopped or failed. */
    static String state(Relay.State state) {
        return switch (state) {
            case RUNNING -> "leader";
            case STANDBY -> "standby";
            case NEW, STARTING -> "starting";
            default -> state.name().toLowerCase(Locale.ROOT);
        };
    }

    private static Status status(Relay.State state) {
        return switch (state) {
            case RUNNING, STANDBY -> Status.UP;
            case FAILED -> Status.DOWN;
            case NEW, STARTING, STOPPING, STOPPED -> Status.OUT_OF_SERVICE;
        };
    }

    @Override
    public String toString() {
        return "RelayHealthIndicator[" + relay.config().name() + "]";
    }
}
