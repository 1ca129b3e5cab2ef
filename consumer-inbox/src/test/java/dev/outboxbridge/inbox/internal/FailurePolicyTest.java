package dev.outboxbridge.inbox.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.internal.FailurePolicy.Action;
import dev.outboxbridge.inbox.internal.FailurePolicy.Decision;
import dev.outboxbridge.inbox.internal.FailurePolicy.Origin;
import java.sql.SQLTransientConnectionException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.Test;

class FailurePolicyTest {

    private static final Instant NOW = Instant.parse("2025-01-01T00:00:00Z");
    private static final Exception RETRIABLE = new IllegalStateException("downstream service unavailable");

    /** Backoff without jitter: 100 ms, 200 ms, 400 ms, ... up to 10 s. */
    private static final Backoff BACKOFF = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(10), () -> 0.5);

    private final FailurePolicy policy = policy(3);

    private static FailurePolicy policy(int maxAttempts) {
        FailureClassifier classifier = new FailureClassifier(List.of(IllegalArgumentException.class),
                e -> "poison".equals(e.getMessage()));
        return new FailurePolicy(classifier, maxAttempts, BACKOFF, Clock.fixed(NOW, ZoneOffset.UTC));
    }

    @Test
    void firstFailureOfAKeyedEventParksItsKeyForTheFirstBackoff() {
        Decision d = policy.decide(Origin.HANDLER, true, 1, RETRIABLE);

        assertThat(d).isEqualTo(new Decision(Action.PARK_KEY, 1, false, 100, NOW.plusMillis(100)));
    }

    @Test
    void failedParkedHeadStaysParkedWithAGrowingBackoffUntilItsLastAttempt() {
        assertThat(policy.decide(Origin.PARKED_HEAD, true, 2, RETRIABLE))
                .isEqualTo(new Decision(Action.PARK_KEY, 2, false, 200, NOW.plusMillis(200)));

        assertThat(policy.decide(Origin.PARKED_HEAD, true, 3, RETRIABLE))
                .isEqualTo(new Decision(Action.DEAD_LETTER, 3, false, 0, null));
        assertThat(policy.decide(Origin.PARKED_HEAD, true, 4, RETRIABLE).action()).isEqualTo(Action.DEAD_LETTER);
    }

    @Test
    void eventWithoutKeyIsRetriedInPlaceUntilItsLastAttempt() {
        assertThat(policy.decide(Origin.HANDLER, false, 1, RETRIABLE))
                .isEqualTo(new Decision(Action.RETRY, 1, false, 0, null));
        assertThat(policy.decide(Origin.HANDLER, false, 2, RETRIABLE).action()).isEqualTo(Action.RETRY);

        assertThat(policy.decide(Origin.HANDLER, false, 3, RETRIABLE))
                .isEqualTo(new Decision(Action.DEAD_LETTER, 3, false, 0, null));
    }

    @Test
    void fatalFailureIsDeadLetteredAtOnceWhereverItHappens() {
        Exception[] fatal = {
            new FatalEventException("order total is negative"),
            new IllegalArgumentException("configured class"),
            new RuntimeException("wrapper", new IllegalArgumentException("configured class as a cause")),
            new IllegalStateException("poison"),
        };
        for (Exception failure : fatal) {
            for (Origin origin : List.of(Origin.HANDLER, Origin.PARKED_HEAD)) {
                for (boolean keyed : new boolean[] {true, false}) {
                    assertThat(policy.decide(origin, keyed, 1, failure))
                            .as("%s, %s, keyed %s", failure, origin, keyed)
                            .isEqualTo(new Decision(Action.DEAD_LETTER, 1, true, 0, null));
                }
            }
        }
    }

    @Test
    void withASingleAttemptTheFirstFailureIsDeadLettered() {
        FailurePolicy once = policy(1);

        assertThat(once.decide(Origin.HANDLER, true, 1, RETRIABLE))
                .isEqualTo(new Decision(Action.DEAD_LETTER, 1, false, 0, null));
        assertThat(once.decide(Origin.HANDLER, false, 1, RETRIABLE))
                .isEqualTo(new Decision(Action.DEAD_LETTER, 1, false, 0, null));
    }

    @Test
    void inboxDatabaseFailureIsRetriedInPlaceWithoutLimitEvenIfTheClassifierCallsItFatal() {
        Exception down = new SQLTransientConnectionException("database is down", "08001");
        FailurePolicy fatalDatabase = new FailurePolicy(new FailureClassifier(List.of(), e -> true), 1, BACKOFF,
                Clock.fixed(NOW, ZoneOffset.UTC));

        for (boolean keyed : new boolean[] {true, false}) {
            assertThat(policy.decide(Origin.DATABASE, keyed, 50, down).action()).isEqualTo(Action.RETRY);
            assertThat(fatalDatabase.decide(Origin.DATABASE, keyed, 1, down).action()).isEqualTo(Action.RETRY);
        }
    }

    @Test
    void handlerThatMisusedItsTransactionFailsTheConsumerWhereverItHappens() {
        Exception misuse = new InboxTransaction.HandlerMisuseException("the handler committed the transaction");

        for (Origin origin : Origin.values()) {
            assertThat(policy.decide(origin, true, 1, misuse).action()).as("%s", origin)
                    .isEqualTo(Action.FAIL_CONSUMER);
        }
    }

    @Test
    void retryTimeFollowsTheInjectedClock() {
        Instant later = NOW.plus(Duration.ofHours(5));
        FailurePolicy atLater = new FailurePolicy(new FailureClassifier(List.of(), e -> false), 10, BACKOFF,
                Clock.fixed(later, ZoneOffset.UTC));

        assertThat(atLater.decide(Origin.PARKED_HEAD, true, 4, RETRIABLE).retryAt()).isEqualTo(later.plusMillis(800));
    }
}
