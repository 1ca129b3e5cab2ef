package dev.outboxbridge.testsupport;

import dev.outboxbridge.db.FaultHook;
import dev.outboxbridge.db.FaultPoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;
import java.util.stream.Collectors;

/**
 * The {@link FaultHook} of the fault tests: halts the JVM at a {@link FaultPoint} of the relay or the
 * inbox consumer, to cut a process at a precise boundary (after a send but before its
 * acknowledgement, between the database commit and the offset commit, ...) instead of at a random
 * time. Registered in {@code META-INF/services/dev.outboxbridge.db.FaultHook} of this test-support
 * jar, so {@link FaultPoint#reached()} finds it only where this jar is on the classpath (the fault
 * run and the tests, and the child JVMs they start with their classpath); no production jar has it.
 *
 * <p><b>Does nothing unless the process is started with one of</b> the system properties
 * {@value #PROPERTY} / {@value #FILE_PROPERTY} or the environment variables {@value #ENV} /
 * {@value #FILE_ENV}:
 * <ul>
 * <li>{@value #ENV} (or {@value #PROPERTY}) holds a spec armed from the start, e.g.
 * {@code relay.after-ack@3}: halt at the third time the point is reached;</li>
 * <li>{@value #FILE_ENV} (or {@value #FILE_PROPERTY}) names a file holding a spec, so a harness can
 * arm a point in a running process. At every point reached the file's attributes are looked at (one
 * {@code stat}) and the file is read again when it changed ({@link #arm} replaces it atomically, so
 * the next point reached after {@code arm} returns sees the new spec); counting starts when a
 * changed spec is read; a missing or empty file disarms. The file is deleted just before the halt, so the restarted process is not
 * armed again.</li>
 * </ul>
 * A spec is one or more {@code point[@n]} separated by commas or white space ({@code n} defaults to
 * 1); the first point to reach its count fires. Firing prints one line to standard error and calls
 * {@link Runtime#halt} with {@value #HALT_STATUS}: no shutdown hook, no finally block, no flush runs,
 * as abrupt as {@code kill -9} but at a known place.
 */
public final class FaultPoints implements FaultHook {

    /** Exit status of a JVM halted at a fault point (distinct from a crash, an OOM kill (137) or SIGTERM (143)). */
    public static final int HALT_STATUS = 86;
    public static final String PROPERTY = "outbox.faultpoints";
    public static final String FILE_PROPERTY = "outbox.faultpoints.file";
    public static final String ENV = "OUTBOX_FAULTPOINTS";
    public static final String FILE_ENV = "OUTBOX_FAULTPOINTS_FILE";

    private final Path file; // null: armed only by the start-up spec
    private final IntConsumer halt;
    private final String source;
    private final boolean enabled; // false: reached() does nothing, not even take the lock
    private Map<FaultPoint, Long> remaining = new EnumMap<>(FaultPoint.class); // guarded by this
    private String lastFileSpec = ""; // guarded by this; a missing file reads as ""
    private List<Object> lastFileVersion = List.of(); // guarded by this; (file key, modified time, size), empty when missing

    FaultPoints(String spec, Path file, IntConsumer halt, String source) {
        this.file = file;
        this.halt = halt;
        this.source = source;
        this.enabled = spec != null || file != null;
        if (spec != null) {
            remaining = parse(spec, source);
        }
    }

    /**
     * The hook {@link java.util.ServiceLoader} creates: armed by the start-up settings above, or
     * doing nothing when none is set.
     */
    public FaultPoints() {
        this(Startup.read());
    }

    private FaultPoints(Startup startup) {
        this(startup.spec, startup.file, Runtime.getRuntime()::halt, startup.source);
        if (startup.enabled()) {
            System.err.println("Fault points enabled (" + startup.source + "): this process halts with exit status " + HALT_STATUS
                    + " where armed. For fault tests only.");
        }
    }

    /** The fault point settings this JVM was started with. */
    private record Startup(String spec, Path file, String source) {
        static Startup read() {
            String spec = firstSet(System.getProperty(PROPERTY), System.getenv(ENV));
            String file = firstSet(System.getProperty(FILE_PROPERTY), System.getenv(FILE_ENV));
            String source = spec != null ? PROPERTY + "/" + ENV + "='" + spec + "'"
                    : file != null ? FILE_PROPERTY + "/" + FILE_ENV + "=" + file : "nothing (disabled)";
            return new Startup(spec, file == null ? null : Path.of(file), source);
        }

        boolean enabled() {
            return spec != null || file != null;
        }
    }

    private static String firstSet(String a, String b) {
        if (a != null && !a.isBlank()) {
            return a.trim();
        }
        return b != null && !b.isBlank() ? b.trim() : null;
    }

    /** Halts the JVM if {@code point} is armed and reached its count; nothing unless enabled at start-up. */
    @Override
    public void reached(FaultPoint point) {
        if (enabled) {
            hit(point);
        }
    }

    /**
     * Parses a spec ({@code point[@n]}, separated by commas or white space).
     *
     * @throws IllegalArgumentException naming the unknown point or the invalid count and {@code source}
     */
    public static Map<FaultPoint, Long> parse(String spec, String source) {
        Map<FaultPoint, Long> armed = new EnumMap<>(FaultPoint.class);
        for (String entry : spec.trim().split("[,\\s]+")) {
            if (entry.isEmpty()) {
                continue;
            }
            int at = entry.indexOf('@');
            FaultPoint point = point(at < 0 ? entry : entry.substring(0, at), source);
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
    public static void arm(Path file, FaultPoint point, long n) {
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

    private static FaultPoint point(String id, String source) {
        for (FaultPoint p : FaultPoint.values()) {
            if (p.id().equals(id)) {
                return p;
            }
        }
        throw new IllegalArgumentException("Unknown fault point '" + id + "' in " + source + "; known points: "
                + Arrays.stream(FaultPoint.values()).map(FaultPoint::id).collect(Collectors.joining(", ")));
    }

    synchronized void hit(FaultPoint point) {
        refreshFromFile();
        Long left = remaining.get(point);
        if (left == null) {
            return;
        }
        if (left > 1) {
            remaining.put(point, left - 1);
            return;
        }
        remaining = new EnumMap<>(FaultPoint.class);
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
        List<Object> version;
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            version = Arrays.asList(a.fileKey(), a.lastModifiedTime(), a.size());
        } catch (NoSuchFileException e) {
            version = List.of();
        } catch (IOException e) {
            System.err.println("Could not read the attributes of fault point file " + file + " (" + e + "); keeping what was armed");
            return;
        }
        if (version.equals(lastFileVersion)) {
            return;
        }
        lastFileVersion = version;
        String spec;
        try {
            spec = version.isEmpty() ? "" : Files.readString(file, StandardCharsets.UTF_8).trim();
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
            remaining = spec.isEmpty() ? new EnumMap<>(FaultPoint.class) : parse(spec, file.toString());
            if (!spec.isEmpty()) {
                System.err.println("Fault points armed from " + file + ": " + spec);
            }
        } catch (IllegalArgumentException e) {
            remaining = new EnumMap<>(FaultPoint.class);
            System.err.println(e.getMessage() + "; nothing armed");
        }
    }
}
