package dev.outboxbridge.relay.internal;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartitionInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches the in-sync replicas of the topics the relay writes (handed over by {@link ReplicationCheck}) while it runs.
 * A partition with fewer in-sync replicas than its {@code min.insync.replicas}, or without a leader, cannot accept an
 * {@code acks=all} send: the producer retries it (NotEnoughReplicas is retriable) and the relay's batch waits, losing
 * and reordering nothing, until the replicas are back or the producer's {@code delivery.timeout.ms} passes. Meanwhile
 * this monitor says so: the gauge {@code outbox.relay.kafka.partitions.under.min.isr}, {@link #waiting()} (the relay
 * is then not ready) and one log line when the wait begins and one when it ends.
 *
 * <p>One named daemon thread ({@code outbox-relay-isr-<relay>}) describes the watched topics every
 * {@link #INTERVAL}; {@link #close(Duration)} stops it within the given time. It uses the relay's admin client and never
 * touches the publishing path.
 */
final class KafkaReplicaMonitor {

    private static final Logger LOG = LoggerFactory.getLogger(KafkaReplicaMonitor.class);
    /** How often the watched topics are described. */
    static final Duration INTERVAL = Duration.ofSeconds(1);
    private static final long DESCRIBE_TIMEOUT_MS = 5_000;

    private final Admin admin;
    private final String relayName;
    private final Map<String, Integer> watched = new ConcurrentHashMap<>(); // topic to min.insync.replicas
    private final ScheduledExecutorService scheduler;
    private volatile int underMinIsr;
    private volatile String detail = "";

    KafkaReplicaMonitor(Admin admin, String relayName) {
        this.admin = admin;
        this.relayName = relayName;
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "outbox-relay-isr-" + relayName);
            t.setDaemon(true);
            return t;
        });
        scheduler.scheduleWithFixedDelay(this::checkQuietly, INTERVAL.toMillis(), INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Watches the topic from now on. */
    void watch(String topic, int minInsyncReplicas) {
        watched.put(topic, minInsyncReplicas);
    }

    /** Partitions of the watched topics that cannot accept an acks=all send now (as of the last check). */
    int partitionsUnderMinIsr() {
        return underMinIsr;
    }

    /** True while some partition the relay writes has fewer in-sync replicas than min.insync.replicas (or no leader). */
    boolean waiting() {
        return underMinIsr > 0;
    }

    /** Which partitions, for the status line; empty when none. */
    String detail() {
        return detail;
    }

    private void checkQuietly() {
        try {
            check();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            // Kafka unreachable or the metadata moving: keep the last result, try again at the next interval
            LOG.debug("Relay '{}': cannot describe the topics it writes: {}", relayName, e.toString());
        }
    }

    void check() throws ExecutionException, TimeoutException, InterruptedException {
        if (watched.isEmpty()) {
            return;
        }
        Map<String, TopicDescription> descriptions = admin.describeTopics(new ArrayList<>(watched.keySet())).allTopicNames()
                .get(DESCRIBE_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        int count = 0;
        List<String> parts = new ArrayList<>();
        for (Map.Entry<String, TopicDescription> e : new TreeMap<>(descriptions).entrySet()) {
            int minIsr = watched.getOrDefault(e.getKey(), 1);
            for (TopicPartitionInfo p : e.getValue().partitions()) {
                boolean noLeader = p.leader() == null || p.leader().isEmpty();
                if (noLeader || p.isr().size() < minIsr) {
                    count++;
                    if (parts.size() < 5) {
                        parts.add(e.getKey() + "-" + p.partition() + (noLeader ? " (no leader)" : " (" + p.isr().size() + " in sync)"));
                    }
                }
            }
        }
        int before = underMinIsr;
        String now = count == 0 ? "" : count + " partition(s) with fewer in-sync replicas than min.insync.replicas or no leader: "
                + String.join(", ", parts) + (count > parts.size() ? ", ..." : "");
        detail = now;
        underMinIsr = count;
        if (before == 0 && count > 0) {
            LOG.warn("Relay '{}' waits for Kafka: {}. Sends to them are retried (nothing is lost or reordered) until the replicas"
                    + " are back or the producer's delivery.timeout.ms passes; the relay reports not ready meanwhile", relayName, now);
        } else if (before > 0 && count == 0) {
            LOG.info("Relay '{}': every partition it writes has enough in-sync replicas again; publishing resumes", relayName);
        }
    }

    /** Stops the thread, waiting at most {@code timeout}. */
    void close(Duration timeout) {
        scheduler.shutdownNow();
        try {
            if (!scheduler.awaitTermination(Math.max(1, timeout.toMillis()), TimeUnit.MILLISECONDS)) {
                LOG.warn("Relay '{}': the Kafka replica monitor did not stop within {} ms", relayName, timeout.toMillis());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
