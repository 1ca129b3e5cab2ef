package dev.outboxbridge.spring;

import dev.outboxbridge.db.OutboxRecordFormat;
import dev.outboxbridge.outbox.OutboxEvent;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * The {@value OutboxObservation#APPEND} observation around each append. The tracing handler of the registry
 * (Micrometer Tracing's propagating sender handler) starts a producer span and writes its context into the
 * observation's carrier; each event is then appended as a copy carrying those headers, unless it already has a
 * {@value #TRACEPARENT} header: the application's own trace context is kept whole, never overwritten or mixed with
 * ours. Headers reserved by the outbox ({@code id}, {@code eventType}, {@code aggregateType}) are never added.
 */
final class ObservedAppends implements AppendObserver {

    static final String TRACEPARENT = "traceparent";

    private final ObservationRegistry registry;
    private final OutboxObservation.AppendConvention convention;

    /** @param convention a convention replacing the default, or null */
    ObservedAppends(ObservationRegistry registry, OutboxObservation.AppendConvention convention) {
        this.registry = Objects.requireNonNull(registry, "registry");
        this.convention = convention;
    }

    @Override
    public <T> T observe(List<OutboxEvent> events, Function<List<OutboxEvent>, T> append) {
        if (registry.isNoop() || events.isEmpty() || events.stream().anyMatch(Objects::isNull)) {
            return append.apply(events); // nothing to observe; or the outbox's validation names the null event
        }
        OutboxObservation.AppendContext context = new OutboxObservation.AppendContext(events);
        Observation observation = Observation.createNotStarted(convention, new OutboxObservation.DefaultAppendConvention(),
                () -> context, registry);
        return observation.observe(() -> append.apply(withHeaders(events, context.getCarrier())));
    }

    private static List<OutboxEvent> withHeaders(List<OutboxEvent> events, Map<String, String> injected) {
        if (injected == null || injected.isEmpty()) {
            return events;
        }
        List<OutboxEvent> result = new ArrayList<>(events.size());
        for (OutboxEvent event : events) {
            if (event.headers().containsKey(TRACEPARENT)) {
                result.add(event); // the application's trace context, kept as given
                continue;
            }
            OutboxEvent.Builder copy = event.toBuilder();
            injected.forEach((name, value) -> {
                if (!OutboxRecordFormat.RESERVED_HEADERS.contains(name) && !event.headers().containsKey(name)) {
                    copy.header(name, value);
                }
            });
            result.add(copy.build());
        }
        return result;
    }

    @Override
    public String toString() {
        return "ObservedAppends{" + registry + '}';
    }
}
