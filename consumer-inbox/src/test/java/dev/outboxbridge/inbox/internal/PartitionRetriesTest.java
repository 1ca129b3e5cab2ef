package dev.outboxbridge.inbox.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

class PartitionRetriesTest {

    private static final TopicPartition TP = new TopicPartition("t", 0);

    private final PartitionRetries retries =
            new PartitionRetries(new Backoff(Duration.ofMillis(100), Duration.ofSeconds(10), () -> 0.5));

    @Test
    void countsAttemptsOfTheSameOffsetAndResumesWhenDue() {
        assertThat(retries.failed(TP, 5, 1_000)).isEqualTo(new PartitionRetries.Failure(5, 1, 100));
        assertThat(retries.dueForResume(1_099)).isEmpty();
        assertThat(retries.dueForResume(1_100)).containsExactly(TP);
        assertThat(retries.dueForResume(1_100)).isEmpty();

        assertThat(retries.failed(TP, 5, 2_000)).isEqualTo(new PartitionRetries.Failure(5, 2, 200));
        assertThat(retries.failed(TP, 6, 3_000).attempt()).isEqualTo(1);
    }

    @Test
    void successAndRevocationResetTheCount() {
        retries.failed(TP, 5, 0);
        retries.succeeded(TP);
        assertThat(retries.failed(TP, 5, 0).attempt()).isEqualTo(1);

        retries.forget(List.of(TP));
        assertThat(retries.dueForResume(Long.MAX_VALUE)).isEmpty();
        assertThat(retries.failed(TP, 5, 0).attempt()).isEqualTo(1);
    }
}
