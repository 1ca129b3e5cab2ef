package dev.outboxbridge.spring;

import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxHandler;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;
import java.util.regex.Pattern;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.beans.factory.NoSuchBeanDefinitionException;
import org.springframework.context.SmartLifecycle;

/**
 * The inbox consumers of the application context: those declared by {@link InboxConsumerRegistration}
 * beans and under {@code outbox.inbox.consumers.<name>}. Built and started in {@link #start()} (with the
 * context unless {@code outbox.inbox.auto-startup=false}), stopped in {@link #stop()} before the context
 * closes its beans: each consumer finishes the batch in flight, commits its offsets and closes, all in
 * parallel, each within its close timeout. Nothing is connected before {@link #start()}; a consumer that
 * cannot start fails the start (and the application's start-up) with the reason.
 *
 * <p>Every handler runs in a Spring-managed transaction ({@link SpringTransactionRunner}), wrapped by the
 * {@link InboxHandlerDecorator} beans: among them, with Micrometer's Observation API, the starter's
 * {@value OutboxObservation#HANDLE} observation, whose consumer span continues the producer's trace from the event
 * headers (see {@link OutboxObservationAutoConfiguration}).
 */
public final class SpringInboxConsumers implements SmartLifecycle {

    private static final Logger LOG = LoggerFactory.getLogger(SpringInboxConsumers.class);

    private final OutboxProperties.Inbox properties;
    private final List<InboxConsumerRegistration> registrations;
    private final BeanFactory beanFactory;
    private final DataSource dataSource;
    private final java.util.function.Supplier<SpringTransactionRunner> transactionRunner;
    private final Function<Map<String, String>, Map<String, Object>> kafkaSettings;
    private final List<InboxConsumerCustomizer> customizers;
    private final InboxListeners listeners;
    private final List<InboxHandlerDecorator> decorators;

    private final Map<String, InboxConsumer> consumers = new LinkedHashMap<>();
    private volatile boolean running;

    /**
     * @param kafkaSettings the Kafka consumer settings of a consumer, given its overrides
     *        ({@code spring.kafka.*} below them)
     */
    public SpringInboxConsumers(OutboxProperties.Inbox properties, List<InboxConsumerRegistration> registrations,
            BeanFactory beanFactory, DataSource dataSource,
            java.util.function.Supplier<SpringTransactionRunner> transactionRunner,
            Function<Map<String, String>, Map<String, Object>> kafkaSettings, List<InboxConsumerCustomizer> customizers) {
        this(properties, registrations, beanFactory, dataSource, transactionRunner, kafkaSettings, customizers,
                new InboxListeners());
    }

    /**
     * @param kafkaSettings the Kafka consumer settings of a consumer, given its overrides
     *        ({@code spring.kafka.*} below them)
     * @param listeners the {@link InboxListener} methods, whose consumers are declared too
     */
    public SpringInboxConsumers(OutboxProperties.Inbox properties, List<InboxConsumerRegistration> registrations,
            BeanFactory beanFactory, DataSource dataSource,
            java.util.function.Supplier<SpringTransactionRunner> transactionRunner,
            Function<Map<String, String>, Map<String, Object>> kafkaSettings, List<InboxConsumerCustomizer> customizers,
            InboxListeners listeners) {
        this(properties, registrations, beanFactory, dataSource, transactionRunner, kafkaSettings, customizers, listeners,
                List.of());
    }

    /**
     * @param kafkaSettings the Kafka consumer settings of a consumer, given its overrides
     *        ({@code spring.kafka.*} below them)
     * @param listeners the {@link InboxListener} methods, whose consumers are declared too
     * @param decorators wrap each consumer's handler (inside the inbox transaction, around the event's savepoint if it has one),
     *        the first one outermost; e.g. the starter's tracing
     */
    public SpringInboxConsumers(OutboxProperties.Inbox properties, List<InboxConsumerRegistration> registrations,
            BeanFactory beanFactory, DataSource dataSource,
            java.util.function.Supplier<SpringTransactionRunner> transactionRunner,
            Function<Map<String, String>, Map<String, Object>> kafkaSettings, List<InboxConsumerCustomizer> customizers,
            InboxListeners listeners, List<InboxHandlerDecorator> decorators) {
        this.decorators = List.copyOf(decorators);
        this.listeners = Objects.requireNonNull(listeners, "listeners");
        this.properties = Objects.requireNonNull(properties, "properties");
        this.registrations = List.copyOf(registrations);
        this.beanFactory = Objects.requireNonNull(beanFactory, "beanFactory");
        this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
        this.transactionRunner = Objects.requireNonNull(transactionRunner, "transactionRunner");
        this.kafkaSettings = Objects.requireNonNull(kafkaSettings, "kafkaSettings");
        this.customizers = List.copyOf(customizers);
    }

    /**
     * The names of the declared consumers, in declaration order: registrations, properties, then
     * {@link InboxListener} methods (those are known once the context has created its singletons).
     */
    public List<String> names() {
        List<String> names = new ArrayList<>();
        registrations.forEach(r -> names.add(r.name()));
        properties.getConsumers().keySet().forEach(n -> {
            if (!names.contains(n)) {
                names.add(n);
            }
        });
        listeners.consumers().forEach(n -> {
            if (!names.contains(n)) {
                names.add(n);
            }
        });
        return names;
    }

    /** The consumer of that name since the last {@link #start()}, if any (also after stop, for its stats). */
    public synchronized Optional<InboxConsumer> consumer(String name) {
        return Optional.ofNullable(consumers.get(name));
    }

    /** The consumers since the last {@link #start()}, by name. */
    public synchronized Map<String, InboxConsumer> consumers() {
        return Collections.unmodifiableMap(new LinkedHashMap<>(consumers));
    }

    @Override
    public synchronized void start() {
        if (running) {
            return;
        }
        List<String> names = names();
        if (names.isEmpty()) {
            running = true;
            return;
        }
        SpringTransactionRunner runner = transactionRunner.get();
        Map<String, InboxConsumer> built = new LinkedHashMap<>();
        for (String name : names) {
            built.put(name, build(name, runner)); // checks every setting before anything connects
        }
        runner.verify(dataSource, names.stream().anyMatch(name ->
                properties.getConsumers().getOrDefault(name, new OutboxProperties.Consumer()).isSavepointPerHandler()));
        consumers.clear();
        consumers.putAll(built);
        List<InboxConsumer> started = new ArrayList<>();
        for (Map.Entry<String, InboxConsumer> e : built.entrySet()) {
            try {
                e.getValue().start();
                started.add(e.getValue());
            } catch (RuntimeException failure) {
                closeAll(started);
                throw new IllegalStateException("Inbox consumer '" + e.getKey() + "' could not start: "
                        + failure.getMessage(), failure);
            }
        }
        running = true;
        LOG.info("Started {} inbox consumer(s): {}", started.size(), built.keySet());
    }

    @Override
    public void stop() {
        List<InboxConsumer> toClose;
        synchronized (this) {
            if (!running) {
                return;
            }
            toClose = new ArrayList<>(consumers.values());
            running = false;
        }
        closeAll(toClose);
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    @Override
    public boolean isAutoStartup() {
        return properties.isAutoStartup();
    }

    /**
     * The default phase: started after, and stopped before, lifecycle beans of lower phases (Boot's web
     * server stops later); the DataSource is closed only afterwards, with the bean factory.
     */
    @Override
    public int getPhase() {
        return SmartLifecycle.DEFAULT_PHASE;
    }

    private InboxConsumer build(String name, SpringTransactionRunner runner) {
        InboxConsumerRegistration registration =
                registrations.stream().filter(r -> r.name().equals(name)).findFirst().orElse(null);
        OutboxProperties.Consumer settings = properties.getConsumers().getOrDefault(name, new OutboxProperties.Consumer());
        String prefix = "outbox.inbox.consumers." + name;
        InboxHandler handler = handler(name, registration, settings, prefix);
        InboxConsumer.Builder builder = InboxConsumer.builder()
                .consumerName(name)
                .kafkaProperties(kafkaSettings.apply(settings.getKafka()))
                .dataSource(dataSource)
                .transactionRunner(runner)
                .savepointPerHandler(settings.isSavepointPerHandler())
                .handler(decorated(name, runner.handler(handler, settings.isSavepointPerHandler())));
        if (settings.getTopicPattern() != null) {
            builder.topicPattern(Pattern.compile(settings.getTopicPattern()));
        } else if (!settings.getTopics().isEmpty()) {
            builder.topics(settings.getTopics());
        } else if (registration != null && !registration.topics().isEmpty()) {
            builder.topics(registration.topics());
        } else if (!listeners.topics(name).isEmpty()) {
            builder.topics(listeners.topics(name));
        } else {
            throw new IllegalStateException("Inbox consumer '" + name + "' has no topics. Fix: set " + prefix
                    + ".topics (or " + prefix + ".topic-pattern)");
        }
        if (settings.getInboxTable() != null) {
            builder.inboxTable(settings.getInboxTable());
        }
        if (settings.getDeadLetterTopic() != null) {
            builder.deadLetterTopic(settings.getDeadLetterTopic());
        }
        if (!settings.getDeadLetterProducer().isEmpty()) {
            builder.deadLetterProducerProperties(settings.getDeadLetterProducer());
        }
        if (settings.getMaxBatchSize() != null) {
            builder.maxBatchSize(settings.getMaxBatchSize());
        }
        if (settings.getMaxAttempts() != null) {
            builder.maxAttempts(settings.getMaxAttempts());
        }
        if (settings.getPollTimeout() != null) {
            builder.pollTimeout(settings.getPollTimeout());
        }
        if (settings.getCloseTimeout() != null) {
            builder.closeTimeout(settings.getCloseTimeout());
        }
        if (settings.getRetryBackoffInitial() != null || settings.getRetryBackoffMax() != null) {
            builder.retryBackoff(
                    Objects.requireNonNullElse(settings.getRetryBackoffInitial(),
                            InboxConsumer.Builder.DEFAULT_RETRY_BACKOFF_INITIAL),
                    Objects.requireNonNullElse(settings.getRetryBackoffMax(), InboxConsumer.Builder.DEFAULT_RETRY_BACKOFF_MAX));
        }
        if (settings.getParkedKeyCheckInterval() != null) {
            builder.parkedKeyCheckInterval(settings.getParkedKeyCheckInterval());
        }
        if (settings.getRetention() != null) {
            builder.retention(settings.getRetention());
        }
        customizers.forEach(c -> c.customize(name, builder));
        try {
            return builder.build();
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException("Inbox consumer '" + name + "' (" + prefix + "): " + e.getMessage(), e);
        }
    }

    private InboxHandler handler(String name, InboxConsumerRegistration registration, OutboxProperties.Consumer settings,
            String prefix) {
        if (listeners.consumers().contains(name)) {
            if (settings.getHandler() != null || registration != null) {
                throw new IllegalStateException("Inbox consumer '" + name + "' has @InboxListener methods (event types "
                        + listeners.eventTypes(name) + ") and also " + (registration != null
                                ? "an InboxConsumerRegistration bean" : prefix + ".handler=" + settings.getHandler())
                        + ". Fix: give a consumer either listener methods or one handler");
            }
            return listeners.handler(name, settings.getUnknownEventTypes());
        }
        if (settings.getHandler() == null && registration != null) {
            return registration.handler();
        }
        String bean = settings.getHandler() != null ? settings.getHandler() : name;
        try {
            return beanFactory.getBean(bean, InboxHandler.class);
        } catch (NoSuchBeanDefinitionException e) {
            throw new IllegalStateException("Inbox consumer '" + name + "' has no handler: there is no InboxHandler "
                    + "bean named '" + bean + "'. Fix: declare an InboxHandler bean named '" + bean + "', set " + prefix
                    + ".handler to the name of yours, or declare an InboxConsumerRegistration bean", e);
        }
    }

    private InboxHandler decorated(String name, InboxHandler handler) {
        InboxHandler result = handler;
        for (int i = decorators.size() - 1; i >= 0; i--) {
            result = Objects.requireNonNull(decorators.get(i).decorate(name, result),
                    () -> "InboxHandlerDecorator returned no handler for consumer '" + name + "'");
        }
        return result;
    }

    private static void closeAll(List<InboxConsumer> toClose) {
        List<Thread> closing = new ArrayList<>();
        for (InboxConsumer consumer : toClose) {
            Thread t = new Thread(consumer::close, "outbox-inbox-stop-" + closing.size());
            t.start();
            closing.add(t);
        }
        for (Thread t : closing) {
            try {
                t.join(); // each close() is bounded by its consumer's close timeout
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                LOG.warn("Interrupted while stopping the inbox consumers; {} still closing", t.getName());
                return;
            }
        }
    }

    @Override
    public String toString() {
        return "SpringInboxConsumers" + names();
    }
}
