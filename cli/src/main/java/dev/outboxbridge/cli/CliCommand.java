package dev.outboxbridge.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.outboxbridge.relay.RelayConfig;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.apache.kafka.common.config.ConfigException;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * A command that runs: the options every command shares (the two configurations and {@code --json}), and the
 * translation of failures into one line on stderr (and an {@code error} object on stdout with {@code --json}) and an
 * exit code.
 */
abstract class CliCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE",
            description = "The relay's properties file, as given to the relay (OUTBOX_RELAY_* variables override it).")
    Path relayConfigFile;

    @Option(names = "--inbox-config", paramLabel = "FILE",
            description = "The consumer side's properties file: database.url, database.user, database.password, table,"
                    + " consumers, dead.letter.topics, kafka.* (OUTBOX_INBOX_* variables override it).")
    Path inboxConfigFile;

    @Option(names = "--json", description = "Print JSON instead of text.")
    boolean json;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "" + KafkaAccess.DEFAULT_TIMEOUT_SECONDS,
            description = "The longest one Kafka call may wait before Kafka counts as unreachable (default ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    private RelayConfig relayConfig;
    private InboxSettings inboxSettings;

    java.time.Duration timeout() {
        if (timeoutSeconds < 1) {
            throw CliException.config("Invalid value " + timeoutSeconds + " for --timeout: at least 1 second");
        }
        return java.time.Duration.ofSeconds(timeoutSeconds);
    }

    OutboxCli root() {
        return (OutboxCli) spec.root().userObject();
    }

    @Override
    public final Integer call() {
        Output output = new Output(root().out(), json);
        try {
            return run(output);
        } catch (CliException e) {
            return fail(output, e.exitCode(), e.getMessage());
        } catch (ConfigException e) {
            return fail(output, OutboxCli.EXIT_USAGE, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return fail(output, OutboxCli.EXIT_UNREACHABLE, "interrupted");
        } catch (Exception e) {
            return fail(output, OutboxCli.EXIT_PROBLEM, "unexpected failure: " + e);
        }
    }

    private int fail(Output output, int code, String message) {
        root().err().println("outbox-cli " + spec.qualifiedName(" ").replaceFirst("^outbox-cli ?", "") + ": " + message);
        if (json) {
            ObjectNode error = output.object();
            error.put("error", message);
            error.put("exitCode", code);
            output.print(error);
        }
        return code;
    }

    abstract int run(Output out) throws Exception;

    /** The relay's configuration, parsed and validated by the relay's own {@link RelayConfig}. */
    RelayConfig relay() {
        if (relayConfig == null) {
            try {
                relayConfig = RelayConfig.load(relayConfigFile, root().environment());
            } catch (ConfigException e) {
                throw CliException.config("Invalid relay configuration (--config " + (relayConfigFile == null ? "not given" : relayConfigFile)
                        + ", OUTBOX_RELAY_* variables): " + Output.clause(e.getMessage()) + ". Fix: give the relay's own properties file with --config,"
                        + " or the same OUTBOX_RELAY_* variables the relay runs with.");
            }
        }
        return relayConfig;
    }

    /** True when a relay configuration was given (a file or any OUTBOX_RELAY_* variable). */
    boolean relayConfigured() {
        return relayConfigFile != null || root().environment().keySet().stream().anyMatch(k -> k.startsWith(RelayConfig.ENV_PREFIX));
    }

    InboxSettings inbox() {
        if (inboxSettings == null) {
            try {
                inboxSettings = InboxSettings.load(inboxConfigFile, root().environment());
            } catch (ConfigException e) {
                throw CliException.config("Invalid inbox configuration (--inbox-config, OUTBOX_INBOX_* variables): " + e.getMessage());
            }
        }
        return inboxSettings;
    }
}
