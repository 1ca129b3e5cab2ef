package dev.outboxbridge.testsupport;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Java program run as a separate OS process, so that faults are real: {@link #kill()} sends
 * SIGKILL ({@code kill -9}), {@link #terminate(Duration)} SIGTERM. It runs with this JVM's classpath
 * (the fault run jar or the test classpath), so every class there is available to it: with this jar
 * on it, the child halts at fault points when started with {@link FaultPoints#FILE_ENV}.
 */
public final class ChildJvm {

    private static final Logger LOG = LoggerFactory.getLogger(ChildJvm.class);

    private final String name;
    private final Process process;
    private final Path gcLog;

    private ChildJvm(String name, Process process, Path gcLog) {
        this.name = name;
        this.process = process;
        this.gcLog = gcLog;
    }

    /**
     * Starts {@code mainClass} with {@code args} and {@code environment}; stdout and stderr go to
     * {@code log} (appended), its garbage collections to {@link #gcLog()}, {@code <name>.gc.log}
     * next to it.
     */
    public static ChildJvm start(String name, String mainClass, List<String> args, Map<String, String> environment, Path log,
            String maxHeap) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("-Xmx" + maxHeap);
        command.add("-XX:+UseSerialGC");
        Path gcLog = log.resolveSibling(name + ".gc.log");
        command.add("-Xlog:gc:file=" + gcLog + ":uptime"); // heap used before and after each GC, read by MemorySampler
        command.add("-XX:TieredStopAtLevel=1"); // fast start-up matters more than peak speed for restarted processes
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(mainClass);
        command.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().putAll(environment);
        pb.redirectErrorStream(true);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        Process p = pb.start();
        LOG.debug("Started {} (pid {}), log {}", name, p.pid(), log);
        return new ChildJvm(name, p, gcLog);
    }

    /** {@code kill -9}: no shutdown hook runs, nothing is flushed. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** SIGTERM, then waits for the exit; kills it if it is still running after {@code timeout}. */
    public int terminate(Duration timeout) throws InterruptedException {
        process.destroy();
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            LOG.warn("{} (pid {}) did not stop within {} after SIGTERM; killing it", name, process.pid(), timeout);
            kill();
            return -9;
        }
        return process.exitValue();
    }

    /** Waits for the process to exit on its own. */
    public boolean waitFor(Duration timeout) throws InterruptedException {
        return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public int exitValue() {
        return process.exitValue();
    }

    public long pid() {
        return process.pid();
    }

    public String name() {
        return name;
    }

    /** This process's GC log ({@code -Xlog:gc}): one line per collection with the heap before and after it. */
    public Path gcLog() {
        return gcLog;
    }
}
