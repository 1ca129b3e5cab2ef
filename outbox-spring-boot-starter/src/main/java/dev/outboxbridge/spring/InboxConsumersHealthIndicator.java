package dev.outboxbridge.spring;

import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxStats;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;

/**
 * The health of the application's inbox consumers ({@link SpringInboxConsumers}), one entry per declared
 * consumer under {@code details.consumers}, the overall status the worst of theirs in Boot's default
 * order (DOWN, OUT_OF_SERVICE, UP, UNKNOWN):
 * <ul>
 * <li>{@code DOWN}: the consumer stopped on its own ({@link InboxConsumer.State#FAILED}); its failure is in
 * {@code failure};</li>
 * <li>{@code OUT_OF_SERVICE}: stopping or stopped (the context is closing, or it was stopped by hand);</li>
 * <li>{@code UP}: running;</li>
 * <li>{@code UNKNOWN}: not started yet ({@code outbox.inbox.auto-startup=false} and no
 * {@code SpringInboxConsumers.start()} so far); UNKNOWN does not lower the application's health.</li>
 * </ul>
 * No consumer declared: {@code UP} with no consumers. Each consumer's details are its state and the counters
 * of {@link InboxConsumer#stats()} since its start: {@code processed} (applied), {@code duplicates},
 * {@code failures}, {@code deadLettered}, {@code parkedEvents} and {@code parkedKeys} (keys waiting behind a
 * failing or dead-lettered event, as of the consumer's last look, every {@code parked-key-check-interval}).
 * Parked keys alone do not make the consumer DOWN: the other keys keep flowing; alert on the
 * {@code outbox.inbox.parked.keys} gauge instead. Reads in-memory state only: never connects.
 */
public final class InboxConsumersHealthIndicator implements HealthIndicator {

    /** Boot's default severity order, worst first. */
    private static final List<Status> ORDER = List.of(Status.DOWN, Status.OUT_OF_SERVICE, Status.UP, Status.UNKNOWN);

    private final SpringInboxConsumers consumers;

    public InboxConsumersHealthIndicator(SpringInboxConsumers consumers) {
        this.consumers = Objects.requireNonNull(consumers, "consumers");
    }

    @Override
    public Health health() {
        Map<String, InboxConsumer> started = consumers.consumers();
        Map<String, Object> details = new LinkedHashMap<>();
        Status overall = null;
        for (String name : consumers.names()) {
            InboxConsumer consumer = started.get(name);
            Map<String, Object> detail = new LinkedHashMap<>();
            Status status;
            if (consumer == null) {
                status = Status.UNKNOWN;
                detail.put("state", "NOT_STARTED");
            } else {
                InboxConsumer.State state = consumer.state();
                status = status(state);
                detail.put("state", state.name());
                consumer.failure().ifPresent(f -> detail.put("failure", f.getClass().getName() + ": " + f.getMessage()));
                InboxStats stats = consumer.stats();
                detail.put("processed", stats.processed());
                detail.put("duplicates", stats.duplicates());
                detail.put("failures", stats.failures());
                detail.put("deadLettered", stats.deadLettered());
                detail.put("parkedEvents", stats.parked());
                detail.put("parkedKeys", stats.parkedKeys());
            }
            detail.put("status", status.getCode());
            details.put(name, detail);
            overall = overall == null || ORDER.indexOf(status) < ORDER.indexOf(overall) ? status : overall;
        }
        return Health.status(overall == null ? Status.UP : overall).withDetail("consumers", details).build();
    }

    private static Status status(InboxConsumer.State state) {
        return switch (state) {
            case NEW -> Status.UNKNOWN;
            case RUNNING -> Status.UP;
            case STOPPING, STOPPED -> Status.OUT_OF_SERVICE;
            case FAILED -> Status.DOWN;
        };
    }

    @Override
    public String toString() {
        return "InboxConsumersHealthIndicator" + consumers.names();
    }
}
