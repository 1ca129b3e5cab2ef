package dev.outboxbridge.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The three-broker cluster's fault helpers do what they say, against real broker processes. */
class ReplicatedKafkaClusterIT {

    private static final Duration WAIT = Duration.ofSeconds(60);
    @TempDir
    static Path dir;
    private static ReplicatedKafkaCluster cluster;

    @BeforeAll
    static void startCluster() {
        cluster = ReplicatedKafkaCluster.start(dir.resolve("kafka"));
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void killedLeaderIsReplacedAndNoAcknowledgedRecordIsLost() throws Exception {
        try (TestKafka ns = cluster.newNamespace("cluster-kill")) {
            String topic = ns.topic("t");
            ns.createTopic(topic, 1);
            assertThat(cluster.replicas(topic, 0)).containsExactlyInAnyOrderElementsOf(cluster.brokerIds());
            Properties props = ns.producerProperties();
            props.put("delivery.timeout.ms", "60000");
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
                List<Future<RecordMetadata>> acks = new ArrayList<>();
                for (int i = 0; i < 50; i++) {
                    acks.add(producer.send(new ProducerRecord<>(topic, ("v" + i).getBytes())));
                }
                for (Future<RecordMetadata> a : acks) {
                    a.get();
                }
                int leader = cluster.leaderOf(topic, 0);
                cluster.kill(leader);
                int next = cluster.awaitLeaderOtherThan(topic, 0, leader, WAIT);
                assertThat(next).isNotEqualTo(leader);
                cluster.awaitIsrAtMost(topic, 0, 2, WAIT);
                acks.clear();
                for (int i = 50; i < 100; i++) {
                    acks.add(producer.send(new ProducerRecord<>(topic, ("v" + i).getBytes())));
                }
                for (Future<RecordMetadata> a : acks) {
                    a.get();
                }
                cluster.restart(leader);
                cluster.awaitFullIsr(topic, WAIT);
            }
            List<ConsumerRecord<byte[], byte[]>> records = ns.readAll(topic, 100, WAIT);
            assertThat(records).extracting(r -> new String(r.value()))
                    .containsExactlyElementsOf(java.util.stream.IntStream.range(0, 100).mapToObj(i -> "v" + i).toList());
        }
    }

    @Test
    void killedControllerIsRestartedAndTheMetadataCanChangeAgain() throws Exception {
        try (TestKafka ns = cluster.newNamespace("cluster-controller")) {
            String topic = ns.topic("t");
            ns.createTopic(topic, 1);
            Properties props = ns.producerProperties();
            props.put("delivery.timeout.ms", "60000");
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
                // the idempotent producer gets its id now: a broker allocates ids from blocks the controller hands out
                producer.send(new ProducerRecord<>(topic, "before".getBytes())).get();
                cluster.killController();
                assertThat(cluster.isControllerRunning()).isFalse();
                // the brokers serve the partitions they lead without a metadata quorum
                producer.send(new ProducerRecord<>(topic, "during".getBytes())).get();

                cluster.restartController();
            }

            assertThat(cluster.isControllerRunning()).isTrue();
            String after = ns.topic("created-after");
            ns.createTopic(after, 1); // a metadata change: needs the quorum back
            cluster.awaitFullIsr(after, WAIT);
            assertThat(ns.readAll(topic, 2, WAIT)).extracting(r -> new String(r.value())).containsExactly("before", "during");
        }
    }

    @Test
    void pausedFollowerLeavesTheIsrAndRejoinsWhenResumed() {
        try (TestKafka ns = cluster.newNamespace("cluster-pause")) {
            String topic = ns.topic("t");
            ns.createTopic(topic, 1);
            cluster.awaitFullIsr(topic, WAIT);
            int leader = cluster.leaderOf(topic, 0);
            int follower = cluster.brokerIds().stream().filter(id -> id != leader).findFirst().orElseThrow();
            cluster.pause(follower);
            try {
                cluster.awaitIsrAtMost(topic, 0, 2, WAIT);
                assertThat(cluster.inSyncReplicas(topic, 0)).doesNotContain(follower);
                assertThat(cluster.isRunning(follower)).isTrue();
            } finally {
                cluster.resume(follower);
            }
            cluster.awaitFullIsr(topic, WAIT);
            assertThat(cluster.inSyncReplicas(topic, 0)).contains(follower);
        }
    }
}
