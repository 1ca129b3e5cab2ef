package dev.outboxbridge.testsupport;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Checks, from the harness broker's own log files, that no two relays ever published at the same
 * time: each relay process has its own idempotent producer, whose id Kafka stores in every record
 * batch. In each partition's log, one producer's batches must form one contiguous run; a producer
 * that writes again after another one started (a fenced or paused leader waking up and sending)
 * shows up as a second run of the same id.
 *
 * <p>Reads the record batch headers of the documented on-disk format (magic 2: base offset,
 * length, leader epoch, magic, crc, attributes, last offset delta, two timestamps, then the
 * producer id), not Kafka's internal classes.
 */
public final class PublisherLog {

    private static final int PRODUCER_ID_POSITION = 4 + 1 + 4 + 2 + 4 + 8 + 8; // after leader epoch .. max timestamp
    private static final int MAGIC_POSITION = 4;

    private PublisherLog() {
    }

    /** Violations (empty when each producer wrote one contiguous run in every partition of the topic). */
    public static List<String> interleavedProducers(Path logDirs, String topic) throws IOException {
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
            long current = Long.MIN_VALUE;
            Set<Long> finished = new HashSet<>();
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
                        long producerId = java.nio.ByteBuffer.wrap(batch, PRODUCER_ID_POSITION, 8).getLong();
                        if (producerId != current) {
                            if (finished.contains(producerId)) {
                                violations.add(partition.getFileName() + " offset " + baseOffset + ": producer " + producerId
                                        + " wrote again after producer " + current + " had started: two relays published at once");
                            }
                            if (current != Long.MIN_VALUE) {
                                finished.add(current);
                            }
                            current = producerId;
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
