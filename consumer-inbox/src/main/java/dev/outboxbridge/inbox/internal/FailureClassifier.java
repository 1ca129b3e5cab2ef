package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.inbox.FatalEventException;
import java.util.List;
import java.util.function.Predicate;

/**
 * Tells fatal failures (never retried: dead-lettered at once) from retriable ones. Fatal: a
 * {@link FatalEventException}, an instance of one of the configured classes, or what the configured
 * predicate accepts, anywhere in the cause chain.
 */
final class FailureClassifier {

    private static final int MAX_CAUSE_DEPTH = 16;

    private final List<Class<? extends Throwable>> fatalClasses;
    private final Predicate<Throwable> fatalWhen;

    FailureClassifier(List<Class<? extends Throwable>> fatalClasses, Predicate<Throwable> fatalWhen) {
        this.fatalClasses = fatalClasses;
        this.fatalWhen = fatalWhen;
    }

    boolean isFatal(Throwable failure) {
        Throwable t = failure;
        for (int depth = 0; t != null && depth < MAX_CAUSE_DEPTH; depth++, t = t.getCause()) {
            if (t instanceof FatalEventException || fatalWhen.test(t)) {
                return true;
            }
            for (Class<? extends Throwable> c : fatalClasses) {
                if (c.isInstance(t)) {
                    return true;
                }
            }
        }
        return false;
    }
}
