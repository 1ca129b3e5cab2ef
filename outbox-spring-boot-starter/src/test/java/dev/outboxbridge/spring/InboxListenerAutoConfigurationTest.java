package dev.outboxbridge.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.InboxHandler;
import java.sql.Connection;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.jdbc.datasource.DriverManagerDataSource;
import org.springframework.transaction.PlatformTransactionManager;

/**
 * How {@link InboxListener} methods become consumers and handlers, and the mistakes refused at start-up. The
 * data source points at no server; nothing here connects. Dispatch on real PostgreSQL and Kafka:
 * {@code InboxListenerIT}.
 */
class InboxListenerAutoConfigurationTest {

    private static final DataSource NOWHERE = new DriverManagerDataSource("jdbc:postgresql://127.0.0.1:1/none");

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(OutboxAutoConfiguration.class, InboxAutoConfiguration.class))
            .withBean(DataSource.class, () -> NOWHERE)
            .withBean(PlatformTransactionManager.class, () -> new DataSourceTransactionManager(NOWHERE));

    static class Billing {
        final List<String> calls = new CopyOnWriteArrayList<>();

        @InboxListener(consumer = "${billing.name}", eventType = "OrderPlaced", topics = "${billing.topic}")
        void placed(InboxEvent event) {
            calls.add("placed " + event.key());
        }

        @InboxListener(consumer = "${billing.name}", eventType = "OrderCancelled", topics = "outbox.event.refund")
        void cancelled(InboxEvent event, Connection transaction) {
            calls.add("cancelled " + event.key() + (transaction == null ? " without" : " with") + " connection");
        }
    }

    static class Twice {
        @InboxListener(consumer = "billing", eventType = "OrderPlaced")
        void one(InboxEvent event) {
        }

        @InboxListener(consumer = "billing", eventType = "OrderPlaced")
        void two(InboxEvent event) {
        }
    }

    static class WrongSignature {
        @InboxListener(consumer = "billing", eventType = "OrderPlaced")
        String placed(String payload) {
            return payload;
        }
    }

    private ApplicationContextRunner withBilling() {
        return runner.withBean(Billing.class, Billing::new)
                .withPropertyValues("billing.name=billing", "billing.topic=outbox.event.order",
                        "outbox.inbox.auto-startup=false");
    }

    @Test
    void listenerMethodsDeclareTheirConsumerWithTheirTopicsAndPlaceholdersResolved() {
        withBilling().run(context -> {
            assertThat(context).hasNotFailed();
            InboxListeners listeners = context.getBean(InboxListeners.class);
            assertThat(listeners.consumers()).containsExactly("billing");
            assertThat(listeners.eventTypes("billing")).containsExactlyInAnyOrder("OrderPlaced", "OrderCancelled");
            assertThat(listeners.topics("billing")).containsExactlyInAnyOrder("outbox.event.order", "outbox.event.refund");
            assertThat(context.getBean(SpringInboxConsumers.class).names()).containsExactly("billing");
        });
    }

    @Test
    void theHandlerDispatchesOnTheEventTypeAndSkipsOrDeadLettersUnknownTypes() {
        withBilling().run(context -> {
            InboxListeners listeners = context.getBean(InboxListeners.class);
            Billing billing = context.getBean(Billing.class);
            InboxHandler skipping = listeners.handler("billing", InboxListeners.UnknownEventTypes.SKIP);
            skipping.handle(event("OrderPlaced", "o-1"), null);
            skipping.handle(event("OrderCancelled", "o-2"), null);
            skipping.handle(event("OrderShipped", "o-3"), null);
            skipping.handle(event(null, "o-4"), null);
            assertThat(billing.calls).containsExactly("placed o-1", "cancelled o-2 without connection");
            assertThat(listeners.skipped("billing")).isEqualTo(2);

            InboxHandler strict = listeners.handler("billing", InboxListeners.UnknownEventTypes.DEAD_LETTER);
            assertThatThrownBy(() -> strict.handle(event("OrderShipped", "o-5"), null))
                    .isInstanceOf(FatalEventException.class).hasMessageContaining("'OrderShipped'")
                    .hasMessageContaining("OrderPlaced");
        });
    }

    @Test
    void whatAListenerThrowsReachesTheConsumerUnwrapped() {
        runner.withBean(Failing.class, Failing::new).withPropertyValues("outbox.inbox.auto-startup=false")
                .run(context -> assertThatThrownBy(() -> context.getBean(InboxListeners.class)
                        .handler("billing", InboxListeners.UnknownEventTypes.SKIP).handle(event("OrderPlaced", "o-1"), null))
                        .isInstanceOf(FatalEventException.class).hasMessage("poison"));
    }

    static class Failing {
        @InboxListener(consumer = "billing", eventType = "OrderPlaced", topics = "t")
        void placed(InboxEvent event) {
            throw new FatalEventException("poison");
        }
    }

    @Test
    void twoListenersForOneEventTypeOfAConsumerAreRefused() {
        runner.withBean(Twice.class, Twice::new).run(context -> assertThat(context).hasFailed().getFailure()
                .hasStackTraceContaining("two @InboxListener methods for event type 'OrderPlaced'"));
    }

    @Test
    void aListenerWithAnotherSignatureIsRefused() {
        runner.withBean(WrongSignature.class, WrongSignature::new).run(context -> assertThat(context).hasFailed()
                .getFailure().hasStackTraceContaining("has a signature the inbox cannot call: it returns "
                        + "java.lang.String"));
    }

    @Test
    void aConsumerWithListenersAndAHandlerIsRefusedAtStartBeforeConnecting() {
        withBilling().withPropertyValues("outbox.inbox.auto-startup=true", "outbox.inbox.consumers.billing.handler=other")
                .run(context -> assertThat(context).hasFailed().getFailure()
                        .hasStackTraceContaining("'billing' has @InboxListener methods")
                        .hasStackTraceContaining("outbox.inbox.consumers.billing.handler=other"));
    }

    @Test
    void listenersOnAPrototypeBeanAreRefused() {
        runner.withBean(Billing.class, Billing::new, definition -> definition.setScope("prototype"))
                .withBean(PrototypeUser.class, PrototypeUser::new)
                .withPropertyValues("billing.name=billing", "billing.topic=t", "outbox.inbox.auto-startup=false")
                .run(context -> assertThat(context).hasFailed().getFailure()
                        .hasStackTraceContaining("not a singleton bean of the context"));
    }

    /** Creates a Billing prototype at start-up, as a prototype's user would. */
    static class PrototypeUser implements org.springframework.beans.factory.BeanFactoryAware {
        @Override
        public void setBeanFactory(org.springframework.beans.factory.BeanFactory beanFactory) {
            beanFactory.getBean(Billing.class);
        }
    }

    private static InboxEvent event(String type, String key) {
        return InboxEvent.builder().id(UUID.randomUUID()).eventType(type).key(key).payload("{}").topic("t").build();
    }
}
