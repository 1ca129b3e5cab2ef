package dev.outboxbridge.relay.internal;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ReplicationCheckTest {

    @Test
    void replicationFactorThreeWithMinInsyncTwoIsSafe() {
        assertThat(ReplicationCheck.problems(3, 2, false)).isEmpty();
        assertThat(ReplicationCheck.problems(5, 3, false)).isEmpty();
    }

    @Test
    void singleBrokerDevelopmentTopicLosesAcknowledgedEventsWithItsBroker() {
        assertThat(ReplicationCheck.problems(1, 1, false)).hasSize(2).anyMatch(p -> p.contains("leader alone"))
                .anyMatch(p -> p.contains("loss of any one broker stops"));
        assertThat(ReplicationCheck.problems(3, 1, false)).singleElement().asString().contains("leader alone");
    }

    @Test
    void minInsyncEqualToReplicationFactorStopsPublishingWhenOneBrokerIsDown() {
        assertThat(ReplicationCheck.problems(2, 2, false)).singleElement().asString().contains("loss of any one broker stops");
        assertThat(ReplicationCheck.problems(3, 3, false)).singleElement().asString().contains("loss of any one broker stops");
    }

    @Test
    void fewerReplicasThanMinInsyncNeverAccepts() {
        assertThat(ReplicationCheck.problems(1, 2, false)).singleElement().asString().contains("never accepts");
    }

    @Test
    void uncleanLeaderElectionIsReported() {
        assertThat(ReplicationCheck.problems(3, 2, true)).singleElement().asString().contains("not in sync may become the leader");
    }

    @Test
    void roleNamesThePositionAndDeadLetterTopics() {
        ReplicationCheck check = new ReplicationCheck(ReplicationCheck.Mode.WARN, "positions", "dlq", null);
        assertThat(check.role("positions")).contains("offset.storage.topic");
        assertThat(check.role("dlq")).contains("dead.letter.topic");
        assertThat(check.role("outbox.event.order")).isEqualTo("target topic");
    }
}
