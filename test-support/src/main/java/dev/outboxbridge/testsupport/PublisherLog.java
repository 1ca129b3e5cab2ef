package dev.outboxbridge.testsupport;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * Checks, from the harness broker's own log files, that no two relays ever published at the same time (check F).
 *
 * <p>With idempotent producers ({@link #interleavedProducers}) each relay process has its own producer id, which Kafka
 * stores in every record batch: in each partition's log, one producer's batches must form one contiguous run; a
 * producer that writes again after another one started (a fenced or paused leader waking up and sending) shows up as a
 * second run of the same id. With transactional producers ({@link #epochsGoingBack}) every relay of a slot shares one
 * transactional.id, so one producer id; what tells them apart is the producer epoch, which a new leader's
 * {@code initTransactions()} bumps (and Kafka's transaction protocol version 2 bumps again at every transaction end):
 * the epochs of one producer id must never go down in a partition.
 *
 * <p>Reads the record batch headers of the documented on-disk format (magic 2: base offset, length, leader epoch,
 * magic, crc, attributes, last offset delta, two timestamps, then the producer id and epoch), not Kafka's internal
 * classes.
 */
public final class PublisherLog {

    private static final int PRODUCER_ID_POSITION = 4 + 1 + 4 + 2 + 4 + 8 + 8; // after leader epoch .. max timestamp
    private static final int PRODUCER_EPOCH_POSITION = PRODUCER_ID_POSITION + 8;
    private static final int MAGIC_POSITION = 4;

    private PublisherLog() {
    }

    /** Violations (empty when each producer wrote one contiguous run in every partition of the topic). */
    public static List<String> interleavedProducers(Path logDirs, String topic) throws IOException {
        return check(logDirs, topic, () -> new BatchCheck() {
            private long current = Long.MIN_VALUE;
            private final Set<Long> finished = new HashSet<>();

            @Override
            public String accept(long baseOffset, long producerId, short epoch) {
                String violation = null;
                if (producerId != current) {
                    if (finished.contains(producerId)) {
                        violation = "offset " + baseOffset + ": producer " + producerId + " wrote again after producer "
                                + current + " had started: two relays published at once";
                    }
                    if (current != Long.MIN_VALUE) {
                        finished.add(current);
                    }
                    current = producerId;
                }
                return violation;
            }
        });
    }

    /** Violations: batches of a producer id written with a lower epoch than an earlier batch of the same partition. */
    public static List<String> epochsGoingBack(Path logDirs, String topic) throws IOException {
        return check(logDirs, topic, () -> new BatchCheck() {
            private final Map<Long, Short> highest = new HashMap<>();

            @Override
            public String accept(long baseOffset, long producerId, short epoch) {
                Short before = highest.get(producerId);
                if (before != null && epoch < before) {
                    return "offset " + baseOffset + ": producer " + producerId + " wrote with epoch " + epoch + " after epoch "
                            + before + ": a fenced relay wrote after its successor";
                }
                highest.put(producerId, epoch);
                return null;
            }
        });
    }

    /** Looks at each record batch of one partition in log order; returns a violation or null. */
    private interface BatchCheck {
        String accept(long baseOffset, long producerId, short epoch);
    }

    private static List<String> check(Path logDirs, String topic, Supplier<BatchCheck> perPartition)
            throws IOException {
        List<String> violations = new ArrayList<>();
        List<Path> partitions = new ArrayList<>();
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(logDirs, topic + "-*")) {
            for (Path dir : dirs) {
                if (dir.getFileName().toString().substring(topic.length() + 1).matches("\\d+")) {
                    partitions.add(dir);
                }
            }
        }
        if (partitions.isEmpty()) {
            violations.add("no log directory for topic " + topic + " under " + logDirs);
        }
        for (Path partition : partitions) {
            BatchCheck check = perPartition.get();
            for (Path segment : segments(partition)) {
                try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(segment), 1 << 16))) {
                    while (true) {
                        long baseOffset;
                        int length;
                        try {
                            baseOffset = in.readLong();
                            length = in.readInt();
                        } catch (EOFException e) {
                            break;
                        }
                        byte[] batch = new byte[length];
                        try {
                            in.readFully(batch);
                        } catch (EOFException e) {
                            break; // a batch cut by a kill -9 of the broker: recovery truncates it
                        }
                        if (batch[MAGIC_POSITION] != 2) {
                            violations.add(partition.getFileName() + ": unexpected record format " + batch[MAGIC_POSITION]);
                            break;
                        }
                        long producerId = ByteBuffer.wrap(batch, PRODUCER_ID_POSITION, 8).getLong();
                        short epoch = ByteBuffer.wrap(batch, PRODUCER_EPOCH_POSITION, 2).getShort();
                        String violation = check.accept(baseOffset, producerId, epoch);
                        if (violation != null) {
                            violations.add(partition.getFileName() + " " + violation);
                        }
                    }
                }
            }
        }
        return violations;
    }

    private static List<Path> segments(Path partition) throws IOException {
        try (Stream<Path> files = Files.list(partition)) {
            return files.filter(f -> f.getFileName().toString().endsWith(".log")).sorted().toList(); // names are zero-padded offsets
        }
    }
}
