package dev.outboxbridge.spring;

import io.micrometer.observation.ObservationRegistry;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;

/**
 * Trace context end to end, through Micrometer's Observation API, when the application has it (optional dependency
 * {@code io.micrometer:micrometer-observation}, brought by Boot's Actuator, {@code spring-boot-starter-opentelemetry}
 * or the Brave bridge) and {@code outbox.tracing.enabled} is not false:
 *
 * <ul>
 * <li>every {@code SpringOutbox.append}/{@code appendAll} runs in an {@value OutboxObservation#APPEND}
 * observation; with Micrometer Tracing its producer span is a child of the current span, and its context (W3C
 * {@code traceparent}/{@code tracestate} with Boot's default propagation) is written into the headers of the events,
 * hence into the outbox row and, unchanged by the relay, into the Kafka record. An event that already has a
 * {@code traceparent} header keeps its own trace context;
 * <li>every inbox handler call runs in an {@value OutboxObservation#HANDLE} observation whose consumer span has the
 * producing span as parent: one trace from the request that wrote the event to the handler that applied it.
 * </ul>
 *
 * <p>The observations use the application's {@code ObservationRegistry} bean; without one (no Actuator, no tracing)
 * nothing is observed and no header is added. Beans of {@link OutboxObservation.AppendConvention} and
 * {@link OutboxObservation.HandleConvention} replace the names and tags.
 */
@AutoConfiguration(afterName = "org.springframework.boot.micrometer.observation.autoconfigure.ObservationAutoConfiguration")
@ConditionalOnClass(name = "io.micrometer.observation.ObservationRegistry")
@ConditionalOnBooleanProperty(name = "outbox.tracing.enabled", matchIfMissing = true)
public class OutboxObservationAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    AppendObserver outboxAppendObserver(ObjectProvider<ObservationRegistry> registry,
            ObjectProvider<OutboxObservation.AppendConvention> convention) {
        return new ObservedAppends(registry.getIfUnique(() -> ObservationRegistry.NOOP), convention.getIfUnique());
    }

    /** The outermost decorator: the application's own decorators run inside the span (their logs carry its ids). */
    @Bean
    @Order(Ordered.HIGHEST_PRECEDENCE)
    @ConditionalOnMissingBean(name = "outboxInboxHandlerObservation")
    InboxHandlerDecorator outboxInboxHandlerObservation(ObjectProvider<ObservationRegistry> registry,
            ObjectProvider<OutboxObservation.HandleConvention> convention) {
        return new ObservedInboxHandlers(registry.getIfUnique(() -> ObservationRegistry.NOOP), convention.getIfUnique());
    }
}
