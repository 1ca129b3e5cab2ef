package dev.outboxbridge.db.internal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;
import java.util.function.LongSupplier;
import java.util.stream.Collectors;

/**
 * Named points in the relay and the inbox consumer where the fault suite halts the JVM, to cut a
 * process at a precise boundary (after a send but before its acknowledgement, between the database
 * commit and the offset commit, ...) instead of at a random time. Internal to the project's fault
 * tests: not a setting of the relay or the consumer, and not for production use.
 *
 * <p><b>Disabled unless the process is started with one of</b> the system properties
 * {@value #PROPERTY} / {@value #FILE_PROPERTY} or the environment variables {@value #ENV} /
 * {@value #FILE_ENV}. Disabled, {@link #reached} is a test of a {@code static final} flag that the
 * JIT removes. Enabled:
 * <ul>
 * <li>{@value #ENV} (or {@value #PROPERTY}) holds a spec armed from the start, e.g.
 * {@code relay.after-ack@3}: halt at the third time the point is reached;</li>
 * <li>{@value #FILE_ENV} (or {@value #FILE_PROPERTY}) names a file holding a spec, so a harness can
 * arm a point in a running process. The file is read again, when a point is reached, at most every
 * {@value #FILE_CHECK_INTERVAL_MS} ms; counting starts when a changed spec is read; a missing or
 * empty file disarms. The file is deleted just before the halt, so the restarted process is not
 * armed again.</li>
 * </ul>
 * A spec is one or more {@code point[@n]} separated by commas or white space ({@code n} defaults to
 * 1); the first point to reach its count fires. Firing prints one line to standard error and calls
 * {@link Runtime#halt} with {@value #HALT_STATUS}: no shutdown hook, no finally block, no flush runs,
 * as abrupt as {@code kill -9} but at a known place.
 *
 * <p>It lives in {@code outbox-db} because that is the one module both the relay and
 * {@code consumer-inbox} already depend on; it needs nothing beyond the JDK.
 */
public final class FaultPoints {

    /** The boundaries at which a process can be halted. */
    public enum Point {
        /** Relay: every record of a batch was handed to the producer; no acknowledgement waited for yet. Once per batch. */
        RELAY_AFTER_SEND("relay.after-send"),
        /** Relay: Kafka acknowledged a record; it is not yet marked processed. Once per acknowledged record. */
        RELAY_AFTER_ACK("relay.after-ack"),
        /** Relay: records are marked processed; their position is about to be written to the position topic. Once per flush. */
        RELAY_BEFORE_POSITION_FLUSH("relay.before-position-flush"),
        /**
         * Relay: Kafka acknowledged the position write; the slot is not yet told the position
         * (Debezium confirms it to PostgreSQL after the flush). Once per flush.
         */
        RELAY_AFTER_POSITION_FLUSH("relay.after-position-flush"),
        /** Inbox: the inbox rows and the handlers' writes are done; the database transaction is about to commit. */
        INBOX_BEFORE_DB_COMMIT("inbox.before-db-commit"),
        /** Inbox: the database transaction committed; its offsets are not yet recorded, let alone committed. */
        INBOX_AFTER_DB_COMMIT("inbox.after-db-commit"),
        /** Inbox: the offsets of committed records are about to be sent to Kafka (commitSync). */
        INBOX_BEFORE_OFFSET_COMMIT("inbox.before-offset-commit"),
        /** Inbox: Kafka stored the offsets; the consumer halts inside its commit, before it records that. */
        INBOX_AFTER_OFFSET_COMMIT("inbox.after-offset-commit");

        private final String id;

        Point(String id) {
            this.id = id;
        }

        /** The name used in a spec, e.g. {@code relay.after-ack}. */
        public String id() {
            return id;
        }

        static Point of(String id, String source) {
            for (Point p : values()) {
                if (p.id.equals(id)) {
                    return p;
                }
            }
            throw new IllegalArgumentException("Unknown fault point '" + id + "' in " + source + "; known points: "
                    + Arrays.stream(values()).map(Point::id).collect(Collectors.joining(", ")));
        }
    }

    /** Exit status of a JVM halted at a fault point (distinct from a crash, an OOM kill (137) or SIGTERM (143)). */
    public static final int HALT_STATUS = 86;
    public static final String PROPERTY = "outbox.faultpoints";
    public static final String FILE_PROPERTY = "outbox.faultpoints.file";
    public static final String ENV = "OUTBOX_FAULTPOINTS";
    public static final String FILE_ENV = "OUTBOX_FAULTPOINTS_FILE";
    /** The longest time a change of the fault point file goes unnoticed by a process reaching points. */
    public static final long FILE_CHECK_INTERVAL_MS = 100;

    /** Null unless enabled at start-up. */
    private static final FaultPoints INSTANCE = fromStartup();
    private static final boolean ENABLED = INSTANCE != null;

    private final Path file; // null: armed only by the start-up spec
    private final IntConsumer halt;
    private final LongSupplier nanoTime;
    private final String source;
    private Map<Point, Long> remaining = new EnumMap<>(Point.class); // guarded by this
    private String lastFileSpec = ""; // guarded by this; a missing file reads as ""
    private long lastFileCheck; // guarded by this
    private boolean fileChecked; // guarded by this

    FaultPoints(String spec, Path file, IntConsumer halt, LongSupplier nanoTime, String source) {
        this.file = file;
        this.halt = halt;
        this.nanoTime = nanoTime;
        this.source = source;
        if (spec != null) {
            remaining = parse(spec, source);
        }
    }

    private static FaultPoints fromStartup() {
        String spec = firstSet(System.getProperty(PROPERTY), System.getenv(ENV));
        String file = firstSet(System.getProperty(FILE_PROPERTY), System.getenv(FILE_ENV));
        if (spec == null && file == null) {
            return null;
        }
        String source = spec != null ? PROPERTY + "/" + ENV + "='" + spec + "'" : FILE_PROPERTY + "/" + FILE_ENV + "=" + file;
        FaultPoints points = new FaultPoints(spec, file == null ? null : Path.of(file), Runtime.getRuntime()::halt,
                System::nanoTime, source);
        System.err.println("Fault points enabled (" + source + "): this process halts with exit status " + HALT_STATUS
                + " where armed. For fault tests only.");
        return points;
    }

    private static String firstSet(String a, String b) {
        if (a != null && !a.isBlank()) {
            return a.trim();
        }
        return b != null && !b.isBlank() ? b.trim() : null;
    }

    /** Marks that {@code point} was reached: halts the JVM there if armed; nothing (and no cost) unless enabled. */
    public static void reached(Point point) {
        if (ENABLED) {
            INSTANCE.hit(point);
        }
    }

    /** Whether this JVM was started with fault points enabled. */
    public static boolean enabled() {
        return ENABLED;
    }

    /**
     * Parses a spec ({@code point[@n]}, separated by commas or white space).
     *
     * @throws IllegalArgumentException naming the unknown point or the invalid count and {@code source}
     */
    public static Map<Point, Long> parse(String spec, String source) {
        Map<Point, Long> armed = new EnumMap<>(Point.class);
        for (String entry : spec.trim().split("[,\\s]+")) {
            if (entry.isEmpty()) {
                continue;
            }
            int at = entry.indexOf('@');
            Point point = Point.of(at < 0 ? entry : entry.substring(0, at), source);
            long n = 1;
            if (at >= 0) {
                try {
                    n = Long.parseLong(entry.substring(at + 1));
                } catch (NumberFormatException e) {
                    n = 0;
                }
                if (n < 1) {
                    throw new IllegalArgumentException("Invalid hit count in fault point spec '" + entry + "' in " + source
                            + ": write point@n with n >= 1, e.g. " + point.id() + "@3");
                }
            }
            armed.put(point, n);
        }
        return armed;
    }

    /**
     * Arms {@code point} to fire at its {@code n}th hit in the process that watches {@code file}
     * (started with {@value #FILE_ENV}); replaces what was armed there. Written atomically.
     */
    public static void arm(Path file, Point point, long n) {
        if (n < 1) {
            throw new IllegalArgumentException("Invalid hit count " + n + " for fault point " + point.id() + ": must be >= 1");
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            Files.writeString(tmp, point.id() + "@" + n + "\n", StandardCharsets.UTF_8);
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Could not arm fault point " + point.id() + " in " + file, e);
        }
    }

    /** Disarms whatever is armed through {@code file}. */
    public static void disarm(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            throw new UncheckedIOException("Could not disarm the fault points of " + file, e);
        }
    }

    synchronized void hit(Point point) {
        refreshFromFile();
        Long left = remaining.get(point);
        if (left == null) {
            return;
        }
        if (left > 1) {
            remaining.put(point, left - 1);
            return;
        }
        remaining = new EnumMap<>(Point.class);
        System.err.println("Fault point " + point.id() + " reached: halting the JVM with exit status " + HALT_STATUS
                + " (armed by " + source + ")");
        if (file != null) {
            try {
                Files.deleteIfExists(file); // the restarted process must not halt here again
                lastFileSpec = "";
            } catch (IOException e) {
                System.err.println("Could not delete fault point file " + file + " (" + e + "); the restarted process may halt"
                        + " at the same point again: delete the file");
            }
        }
        System.err.flush();
        halt.accept(HALT_STATUS);
    }

    private void refreshFromFile() {
        if (file == null) {
            return;
        }
        long now = nanoTime.getAsLong();
        if (fileChecked && now - lastFileCheck < TimeUnit.MILLISECONDS.toNanos(FILE_CHECK_INTERVAL_MS)) {
            return;
        }
        fileChecked = true;
        lastFileCheck = now;
        String spec;
        try {
            spec = Files.readString(file, StandardCharsets.UTF_8).trim();
        } catch (NoSuchFileException e) {
            spec = "";
        } catch (IOException e) {
            System.err.println("Could not read fault point file " + file + " (" + e + "); keeping what was armed");
            return;
        }
        if (spec.equals(lastFileSpec)) {
            return;
        }
        lastFileSpec = spec;
        try {
            remaining = spec.isEmpty() ? new EnumMap<>(Point.class) : parse(spec, file.toString());
            if (!spec.isEmpty()) {
                System.err.println("Fault points armed from " + file + ": " + spec);
            }
        } catch (IllegalArgumentException e) {
            remaining = new EnumMap<>(Point.class);
            System.err.println(e.getMessage() + "; nothing armed");
        }
    }
}
