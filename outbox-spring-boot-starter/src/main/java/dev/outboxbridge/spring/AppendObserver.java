package dev.outboxbridge.spring;

import dev.outboxbridge.outbox.OutboxEvent;
import java.util.List;
import java.util.function.Function;

/**
 * Runs an append of outbox events, observed: the starter's tracing ({@link OutboxObservationAutoConfiguration})
 * opens an {@code outbox.append} observation around it and gives the append copies of the events carrying the trace
 * context in their headers. Package-private: it holds no Micrometer type, so {@link SpringOutboxImpl} loads without
 * Micrometer on the class path.
 */
interface AppendObserver {

    /** Appends the events as they are. */
    AppendObserver NONE = new AppendObserver() {
        @Override
        public <T> T observe(List<OutboxEvent> events, Function<List<OutboxEvent>, T> append) {
            return append.apply(events);
        }

        @Override
        public String toString() {
            return "AppendObserver.NONE";
        }
    };

    /**
     * Calls {@code append} once, with {@code events} or with copies of them carrying more headers, in the same order.
     */
    <T> T observe(List<OutboxEvent> events, Function<List<OutboxEvent>, T> append);
}
