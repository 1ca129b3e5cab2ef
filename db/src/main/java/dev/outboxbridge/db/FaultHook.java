package dev.outboxbridge.db;

/**
 * Told when the relay or the inbox consumer reaches a {@link FaultPoint}. A service provider
 * interface for the project's fault tests: production code only calls {@link FaultPoint#reached()},
 * which does nothing unless an implementation is registered in
 * {@code META-INF/services/dev.outboxbridge.db.FaultHook} on the classpath. The one implementation,
 * which halts the JVM at armed points, lives in {@code outbox-test-support}; no production jar ships
 * one.
 */
public interface FaultHook {

    /** {@code point} was reached on the calling thread. May halt the JVM; must not throw. */
    void reached(FaultPoint point);
}
