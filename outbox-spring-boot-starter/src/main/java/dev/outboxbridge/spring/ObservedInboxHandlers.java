package dev.outboxbridge.spring;

import dev.outboxbridge.inbox.InboxHandler;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import java.util.Objects;

/**
 * The {@value OutboxObservation#HANDLE} observation around each handler call of an inbox consumer: the tracing
 * handler of the registry (Micrometer Tracing's propagating receiver handler) reads the trace context from the
 * event's headers and starts a consumer span whose parent is the producing span; the handler runs in its scope, so
 * the spans it makes nest under it. A handler failure is the observation's error. The observation runs inside the
 * inbox transaction, around the event's savepoint: it covers the handler's work and its rollback, not the inbox row's
 * insert nor the commit (one commit for a batch of events).
 */
final class ObservedInboxHandlers implements InboxHandlerDecorator {

    private final ObservationRegistry registry;
    private final OutboxObservation.HandleConvention convention;

    /** @param convention a convention replacing the default, or null */
    ObservedInboxHandlers(ObservationRegistry registry, OutboxObservation.HandleConvention convention) {
        this.registry = Objects.requireNonNull(registry, "registry");
        this.convention = convention;
    }

    @Override
    public InboxHandler decorate(String consumerName, InboxHandler handler) {
        Objects.requireNonNull(handler, "handler");
        if (registry.isNoop()) {
            return handler;
        }
        OutboxObservation.DefaultHandleConvention defaults = new OutboxObservation.DefaultHandleConvention();
        return (event, transaction) -> {
            Observation observation = Observation.createNotStarted(convention, defaults,
                    () -> new OutboxObservation.HandleContext(consumerName, event), registry).start();
            try (Observation.Scope scope = observation.openScope()) {
                handler.handle(event, transaction);
            } catch (Throwable failure) {
                observation.error(failure);
                throw failure;
            } finally {
                observation.stop();
            }
        };
    }

    @Override
    public String toString() {
        return "ObservedInboxHandlers{" + registry + '}';
    }
}
