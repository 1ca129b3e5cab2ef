package dev.outboxbridge.testkit;

import java.lang.reflect.Method;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ExtensionContext.Namespace;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * JUnit 5 extension that injects the testkit's servers and per-test resources as parameters of
 * test methods, lifecycle methods ({@code @BeforeEach}, {@code @AfterEach}, ...) and test class
 * constructors:
 *
 * <ul>
 * <li>{@link TestDatabase}: a fresh database with the outbox and the inbox migrations applied;</li>
 * <li>{@link TestKafka}: a fresh topic namespace;</li>
 * <li>{@link PostgresServer} and {@link KafkaServer}: the shared servers of {@link TestServers}.</li>
 * </ul>
 *
 * <pre>{@code
 * @ExtendWith(OutboxBridgeExtension.class)
 * class OrderHandlerIT {
 *     @Test
 *     void publishesOrderCreated(TestDatabase db, TestKafka kafka) throws Exception {
 *         kafka.createTopic(kafka.topic("order"), 3);
 *         // ... run the code under test against db.dataSource() and kafka.bootstrapServers() ...
 *         assertEquals(1, kafka.readAll(kafka.topic("order"), 1, Duration.ofSeconds(30)).size());
 *     }
 * }
 * }</pre>
 *
 * <p>A {@code TestDatabase} or {@code TestKafka} belongs to the scope it is first asked for in:
 * within one test method, the constructor (default per-method lifecycle), {@code @BeforeEach},
 * the test itself and {@code @AfterEach} all get the same instance, and the next test gets new
 * ones. Asked for in {@code @BeforeAll}/{@code @AfterAll} or the constructor of a
 * {@code @TestInstance(PER_CLASS)} class, they belong to the class. They are closed (database
 * dropped, topics deleted) when their scope ends, also when a test fails.
 */
public final class OutboxBridgeExtension implements ParameterResolver {

    private static final Set<Class<?>> SUPPORTED =
            Set.of(TestDatabase.class, TestKafka.class, PostgresServer.class, KafkaServer.class);

    /** Creates the extension; JUnit does it for {@code @ExtendWith}. */
    public OutboxBridgeExtension() {
    }

    @Override
    public boolean supportsParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        return SUPPORTED.contains(parameterContext.getParameter().getType());
    }

    @Override
    public Object resolveParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        Class<?> type = parameterContext.getParameter().getType();
        if (type == PostgresServer.class) {
            return TestServers.postgres();
        }
        if (type == KafkaServer.class) {
            return TestServers.kafka();
        }
        if (type == TestDatabase.class) {
            return scoped(extensionContext, TestDatabase.class, () -> newDatabase(extensionContext), TestDatabase::close);
        }
        if (type == TestKafka.class) {
            return scoped(extensionContext, TestKafka.class,
                    () -> TestServers.kafka().newNamespace(scopeName(extensionContext)), TestKafka::close);
        }
        throw new IllegalArgumentException("Unsupported parameter type " + type.getName());
    }

    /**
     * Lets constructor parameters of per-method test instances share the test method's scope,
     * so the constructor sees the same {@link TestDatabase} as the test.
     */
    @Override
    public ExtensionContextScope getTestInstantiationExtensionContextScope(ExtensionContext rootContext) {
        return ExtensionContextScope.TEST_METHOD;
    }

    private static TestDatabase newDatabase(ExtensionContext context) {
        TestDatabase db = TestServers.postgres().createDatabase(scopeName(context));
        try {
            return db.migrateOutbox().migrateInbox();
        } catch (RuntimeException e) {
            db.close();
            throw e;
        }
    }

    /**
     * The resource of this type for exactly this context: the namespace holds the context's unique
     * id, so a method never inherits a class-level resource through the store's parent lookup.
     */
    private static <T> T scoped(ExtensionContext context, Class<T> type, Supplier<T> factory, Consumer<T> closer) {
        ExtensionContext.Store store =
                context.getStore(Namespace.create(OutboxBridgeExtension.class, context.getUniqueId()));
        Closing closing = store.getOrComputeIfAbsent(type, key -> {
            T resource = factory.get();
            return new Closing(resource, () -> closer.accept(resource));
        }, Closing.class);
        return type.cast(closing.resource);
    }

    /** A readable name prefix: the test method's name, or the test class's. */
    private static String scopeName(ExtensionContext context) {
        return context.getTestMethod().map(Method::getName)
                .orElseGet(() -> context.getTestClass().map(Class::getSimpleName).orElse("test"));
    }

    /**
     * Closes a resource when its store is closed. Implements both store contracts: AutoCloseable
     * (JUnit 5.13+) and the deprecated CloseableResource (earlier versions); JUnit calls it once.
     */
    @SuppressWarnings("deprecation")
    private static final class Closing implements AutoCloseable, ExtensionContext.Store.CloseableResource {
        private final Object resource;
        private final Runnable closer;

        Closing(Object resource, Runnable closer) {
            this.resource = resource;
            this.closer = closer;
        }

        @Override
        public void close() {
            closer.run();
        }
    }
}
