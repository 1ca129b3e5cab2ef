package dev.outboxbridge.inbox.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class PollBudgetTest {

    /** A monotonic clock the test moves; starts near the overflow of a long, as System.nanoTime() may. */
    private final AtomicLong nanos = new AtomicLong(Long.MAX_VALUE - Duration.ofSeconds(5).toNanos());

    @Test
    void batchHasTimeLeftUntilTheBudgetIsUsed() {
        PollBudget budget = new PollBudget(Duration.ofSeconds(10), nanos::get);
        budget.restart();

        assertThat(budget.hasTimeLeft()).isTrue();
        advance(Duration.ofSeconds(10).minusNanos(1));
        assertThat(budget.hasTimeLeft()).isTrue();
        advance(Duration.ofNanos(1));
        assertThat(budget.hasTimeLeft()).isFalse();
    }

    @Test
    void restartGivesTheWholeBudgetAgain() {
        PollBudget budget = new PollBudget(Duration.ofSeconds(10), nanos::get);
        advance(Duration.ofSeconds(30));
        assertThat(budget.hasTimeLeft()).isFalse();

        budget.restart();

        assertThat(budget.hasTimeLeft()).isTrue();
        advance(Duration.ofSeconds(9));
        assertThat(budget.hasTimeLeft()).isTrue();
    }

    @Test
    void budgetIsHalfOfMaxPollInterval() {
        PollBudget budget = PollBudget.halfOfMaxPollInterval(kafka(Map.of("bootstrap.servers",
                "localhost:9092", "max.poll.interval.ms", 60_000)), nanos::get);
        budget.restart();

        advance(Duration.ofSeconds(30).minusNanos(1));
        assertThat(budget.hasTimeLeft()).isTrue();
        advance(Duration.ofNanos(1));
        assertThat(budget.hasTimeLeft()).isFalse();
    }

    @Test
    void kafkaDefaultMaxPollIntervalGivesTwoAndAHalfMinutes() {
        PollBudget budget = PollBudget.halfOfMaxPollInterval(kafka(Map.of("bootstrap.servers",
                "localhost:9092")), nanos::get);
        budget.restart();

        advance(Duration.ofMillis(149_999));
        assertThat(budget.hasTimeLeft()).isTrue();
        advance(Duration.ofMillis(1));
        assertThat(budget.hasTimeLeft()).isFalse();
    }

    private static Map<String, Object> kafka(Map<String, Object> user) {
        return KafkaConsumerProperties.resolve("billing", user);
    }

    private void advance(Duration d) {
        nanos.addAndGet(d.toNanos());
    }
}
