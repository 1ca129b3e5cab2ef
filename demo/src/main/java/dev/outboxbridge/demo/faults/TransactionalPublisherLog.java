package dev.outboxbridge.demo.faults;

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
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Check F for relays with delivery.guarantee=exactly_once, from the harness broker's log files. Every relay of the slot
 * shares one transactional.id, so one producer id: the idempotent check ({@code PublisherLog}: one contiguous run per
 * producer id) cannot tell the relays apart. What tells them apart is the producer epoch, which a new leader's
 * {@code initTransactions()} bumps (and which Kafka's transaction protocol version 2 bumps again at every transaction
 * end): in each partition, the epochs of one producer id must never go down. A batch with a lower epoch after a higher
 * one would be a fenced relay (a zombie) that wrote after its successor, which Kafka refuses.
 *
 * <p>Reads the record batch headers of the documented on-disk format (magic 2), as {@code PublisherLog} does.
 */
final class TransactionalPublisherLog {

    private static final int MAGIC_POSITION = 4;
    private static final int PRODUCER_ID_POSITION = 4 + 1 + 4 + 2 + 4 + 8 + 8; // after leader epoch .. max timestamp
    private static final int PRODUCER_EPOCH_POSITION = PRODUCER_ID_POSITION + 8;

    private TransactionalPublisherLog() {
    }

    /** Violations: batches of a producer id written with a lower epoch than an earlier batch of the same partition. */
    static List<String> epochsGoingBack(Path logDirs, String topic) throws IOException {
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
            Map<Long, Short> highest = new HashMap<>();
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
                        Short before = highest.get(producerId);
                        if (before != null && epoch < before) {
                            violations.add(partition.getFileName() + " offset " + baseOffset + ": producer " + producerId
                                    + " wrote with epoch " + epoch + " after epoch " + before + ": a fenced relay wrote after its"
                                    + " successor");
                        } else {
                            highest.put(producerId, epoch);
                        }
                    }
                }
            }
        }
        return violations;
    }

    private static List<Path> segments(Path partition) throws IOException {
        try (Stream<Path> files = Files.list(partition)) {
            return files.filter(f -> f.getFileName().toString().endsWith(".log")).sorted().toList();
        }
    }
}
