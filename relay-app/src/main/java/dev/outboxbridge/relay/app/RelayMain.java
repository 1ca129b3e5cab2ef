package dev.outboxbridge.relay.app;

import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.config.ConfigException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Command line of the relay sidecar: {@code java -jar outbox-relay-app.jar --config relay.properties}. */
@Command(name = "outbox-relay", mixinStandardHelpOptions = true, version = "outbox-relay 0.1.0",
        description = "Publishes committed outbox rows from the PostgreSQL WAL to Kafka."
                + " Settings come from the --config file and OUTBOX_RELAY_* environment variables (environment wins).")
public final class RelayMain implements Callable<Integer> {

    /** Exit code when the configuration is invalid. */
    public static final int EXIT_CONFIG = 2;
    /** Exit code when the relay failed while running. */
    public static final int EXIT_FAILED = 1;

    static {
        // Before the first logger: the application's jar is on other modules' classpaths too (the demo and the
        // benchmarks run RelayMain as a child JVM), so its logging configuration is not called logback.xml; the
        // process picks it explicitly.
        if (System.getProperty("logback.configurationFile") == null) {
            System.setProperty("logback.configurationFile", "outbox-relay-logback.xml");
        }
    }

    private static final Logger LOG = LoggerFactory.getLogger(RelayMain.class);

    @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "Relay properties file (optional when the environment configures everything).")
    Path configFile;

    @Option(names = "--print-config-reference", description = "Print the configuration reference (Markdown) and exit.")
    boolean printReference;

    public static void main(String[] args) {
        System.exit(new CommandLine(new RelayMain()).execute(args));
    }

    @Override
    public Integer call() throws InterruptedException {
        if (printReference) {
            System.out.print(RelayConfig.configurationReference());
            return 0;
        }
        RelayConfig config;
        try {
            config = RelayConfig.load(configFile, System.getenv());
        } catch (ConfigException e) {
            LOG.error("Invalid relay configuration: {}", e.getMessage());
            return EXIT_CONFIG;
        }
        RelayApplication application = RelayApplication.create(config);
        Relay relay = application.relay();
        CountDownLatch stopRequested = new CountDownLatch(1);
        installStopSignals(stopRequested, application);
        try {
            application.start();
        } catch (RuntimeException e) {
            LOG.error("Relay could not start: {}", e.getMessage());
            application.close();
            return EXIT_FAILED;
        }
        // the engine runs on its own thread; SIGTERM/SIGINT only count the latch down, the stop itself runs here
        while (stopRequested.getCount() > 0 && !relay.awaitTermination(Duration.ofMillis(200))) {
            // waits in awaitTermination; a signal ends the loop within 200 ms
        }
        application.close(); // drains the batch in flight and stores the position, within shutdown.timeout.ms
        if (relay.state() == Relay.State.FAILED) {
            LOG.error("Relay failed: {}", relay.failure().map(Throwable::getMessage).orElse("unknown cause"));
            return EXIT_FAILED;
        }
        return 0;
    }

    /**
     * SIGTERM and SIGINT request a clean stop, after which the process exits with 0 (a JVM ended by a
     * signal through its shutdown hooks would exit with 143). Where signal handlers cannot be installed,
     * a shutdown hook closes the relay instead.
     */
    private static void installStopSignals(CountDownLatch stopRequested, RelayApplication application) {
        try {
            for (String name : new String[] {"TERM", "INT"}) {
                sun.misc.Signal.handle(new sun.misc.Signal(name), signal -> {
                    if (stopRequested.getCount() > 0) {
                        LOG.info("Received SIG{}: stopping the relay", signal.getName());
                    }
                    stopRequested.countDown();
                });
            }
        } catch (IllegalArgumentException | UnsupportedOperationException | LinkageError e) {
            LOG.warn("Cannot handle SIGTERM ({}); a shutdown hook will stop the relay instead", e.toString());
            Runtime.getRuntime().addShutdownHook(new Thread(application::close, "outbox-relay-shutdown"));
        }
    }
}
