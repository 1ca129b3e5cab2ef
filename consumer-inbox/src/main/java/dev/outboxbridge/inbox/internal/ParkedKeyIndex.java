package dev.outboxbridge.inbox.internal;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The parked keys of the partitions this consumer owns, held in memory so that the polling thread tells at once
 * whether a record must wait behind its key. The parked-key table is the truth; this index is loaded from it for
 * each newly assigned partition (a partition not loaded yet must not be read: {@link InboxRebalanceListener} keeps
 * it paused) and forgotten when the partition goes. Used by the polling thread only.
 */
final class ParkedKeyIndex {

    private static final Logger LOG = LoggerFactory.getLogger(ParkedKeyIndex.class);

    /** Reads the parked keys of one partition from the database. */
    @FunctionalInterface
    interface Loader {
        Set<String> keysOf(TopicPartition tp) throws Exception;
    }

    private final String consumerName;
    private final Loader loader;
    private final InboxCounters counters;
    /** Per owned partition, its parked keys; a partition missing here has not been loaded yet. */
    private final Map<TopicPartition, Set<String>> parkedKeys = new HashMap<>();
    /** Owned partitions whose parked keys could not be loaded yet; they stay paused until loaded. */
    private final Set<TopicPartition> unloaded = new HashSet<>();

    ParkedKeyIndex(String consumerName, Loader loader, InboxCounters counters) {
        this.consumerName = consumerName;
        this.loader = loader;
        this.counters = counters;
    }

    /** Whether {@code key} of {@code tp} is parked: its records wait behind the failed one. */
    boolean isParked(TopicPartition tp, String key) {
        Set<String> keys = parkedKeys.get(tp);
        return keys != null && keys.contains(key);
    }

    /** {@code key} of {@code tp} was parked. */
    void park(TopicPartition tp, String key) {
        parkedKeys.computeIfAbsent(tp, p -> new HashSet<>()).add(key);
    }

    /** {@code key} of {@code tp} was unparked, here or by another member of the group. */
    void unpark(TopicPartition tp, String key) {
        Set<String> keys = parkedKeys.get(tp);
        if (keys != null) {
            keys.remove(key);
        }
    }

    /** Whether the parked keys of {@code tp} are known. */
    boolean isLoaded(TopicPartition tp) {
        return parkedKeys.containsKey(tp);
    }

    /** Whether {@code tp} was assigned and its parked keys are not loaded yet. */
    boolean isUnloaded(TopicPartition tp) {
        return unloaded.contains(tp);
    }

    /** The partitions were assigned: their parked keys are to be loaded. */
    void assigned(Collection<TopicPartition> partitions) {
        unloaded.addAll(partitions);
    }

    /** The partitions were revoked or lost. */
    void forget(Collection<TopicPartition> partitions) {
        partitions.forEach(tp -> {
            parkedKeys.remove(tp);
            unloaded.remove(tp);
        });
    }

    /**
     * Loads the parked keys of the assigned partitions not loaded yet, until the database fails (the rest are tried
     * at the next call).
     *
     * @return the partitions loaded by this call
     */
    List<TopicPartition> loadUnloaded() {
        if (unloaded.isEmpty()) {
            return List.of();
        }
        List<TopicPartition> loaded = new ArrayList<>();
        for (TopicPartition tp : unloaded) {
            try {
                parkedKeys.put(tp, new HashSet<>(loader.keysOf(tp)));
                loaded.add(tp);
            } catch (Exception e) {
                counters.failure();
                LOG.warn("Inbox consumer '{}' could not load the parked keys of {}; the partition waits", consumerName,
                        tp, e);
                break;
            }
        }
        loaded.forEach(unloaded::remove);
        return loaded;
    }
}
