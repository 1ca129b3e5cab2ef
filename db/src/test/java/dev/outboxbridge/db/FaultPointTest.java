package dev.outboxbridge.db;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;

class FaultPointTest {

    @Test
    void withoutAHookOnTheClasspathReachingAPointDoesNothing() {
        assertThat(ServiceLoader.load(FaultHook.class).findFirst()).as("no hook in outbox-db or its tests").isEmpty();
        for (FaultPoint p : FaultPoint.values()) {
            p.reached();
        }
    }

    @Test
    void pointIdsAreUniqueAndNamespacedByProcess() {
        assertThat(Arrays.stream(FaultPoint.values()).map(FaultPoint::id)).doesNotHaveDuplicates()
                .allMatch(id -> id.startsWith("relay.") || id.startsWith("inbox."));
    }
}
