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
 * publishes ({@code state=leader}) or stands by ready to take over ({@code state=standby}); {@code OUT_OF_SERVICE}
 * while it restarts itself after a failure ({@code state=restarting}, with {@code failure}, {@code nextAttemptAt} and
 * {@code failuresInARow}: a PostgreSQL failover, a lost lease or a broker outage ended its run, and it starts a fresh
 * run after a backoff, {@code outbox.relay.restart.enabled=true}, the default; nothing to do unless it keeps failing),
 * and while starting, stopping or stopped; {@code DOWN} when it failed and does not restart ({@code state=failed},
 * with {@code failure}: with {@code outbox.relay.restart.enabled=false}, or when its first start failed, or when it
 * was stopped during a restart: restart the application); {@code UNKNOWN} before its first start
 * ({@code outbox.relay.auto-startup=false}). Details: {@code name}, {@code slot}, {@code published} (events
 * acknowledged by Kafka since the start, over its restarts) and {@code status} (the relay's status line). Reads
 * in-memory state only: never connects. This contributor is not a liveness check: a restarting relay is live
 * ({@code Relay.isLive()}); keep Kubernetes' liveness probe on {@code /actuator/health/liveness}.
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
        relay.pendingRestart().ifPresent(r -> health.withDetail("nextAttemptAt", r.nextAttemptAt().toString())
                .withDetail("failuresInARow", r.failuresInARow()));
        return health.withDetail("published", relay.publishedCount()).withDetail("status", relay.statusLine());
    }

    /** leader, standby, starting, restarting, stopping, stopped or failed. */
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
            case NEW, STARTING, RESTARTING, STOPPING, STOPPED -> Status.OUT_OF_SERVICE;
        };
    }

    @Override
    public String toString() {
        return "RelayHealthIndicator[" + relay.config().name() + "]";
    }
}
