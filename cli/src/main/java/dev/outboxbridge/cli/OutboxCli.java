package dev.outboxbridge.cli;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The operator's command line: {@code java -jar outbox-cli.jar <command> --config relay.properties [--inbox-config
 * inbox.properties] [--json]}. It reads the relay's configuration as the relay does ({@code RelayConfig}: the file,
 * then {@code OUTBOX_RELAY_*} variables) and the consumer side's from its own file and {@code OUTBOX_INBOX_*}
 * variables. Exit codes: {@value #EXIT_OK} fine, {@value #EXIT_PROBLEM} a problem found (lag or parked keys over a
 * threshold given, a slot missing or lost, an event not delivered), {@value #EXIT_USAGE} usage or configuration
 * error, {@value #EXIT_UNREACHABLE} PostgreSQL or Kafka unreachable, {@value #EXIT_REFUSED} an operation refused (not
 * confirmed, or unsafe as asked).
 */
@Command(name = "outbox-cli", mixinStandardHelpOptions = true, version = "outbox-cli 0.1.0",
        description = "Operate Outbox Bridge: the relay's slot, lag and leader, where an event went, parked keys, dead letters.",
        subcommands = {StatusCommand.class, TraceCommand.class, ParkedCommand.class, DeadLettersCommand.class, SlotCommand.class},
        footerHeading = "%nExit codes:%n",
        footer = {"  0  fine", "  1  a problem found: slot missing or lost, threshold exceeded, event not delivered",
                "  2  usage or configuration error", "  3  PostgreSQL or Kafka unreachable",
                "  4  refused (not confirmed, or unsafe as asked)"})
public final class OutboxCli implements Runnable {

    /** Everything fine. */
    public static final int EXIT_OK = 0;
    /** A problem found: a slot missing or lost, lag or parked keys over a threshold given, an event not delivered. */
    public static final int EXIT_PROBLEM = 1;
    /** Usage or configuration error. */
    public static final int EXIT_USAGE = 2;
    /** PostgreSQL or Kafka unreachable. */
    public static final int EXIT_UNREACHABLE = 3;
    /** An operation refused: not confirmed, or unsafe as asked (e.g. dropping a slot a relay is reading). */
    public static final int EXIT_REFUSED = 4;

    static {
        // before the first logger: the clients' warnings go to stderr, stdout holds only the command's output
        if (System.getProperty("logback.configurationFile") == null) {
            System.setProperty("logback.configurationFile", "outbox-cli-logback.xml");
        }
    }

    private final Map<String, String> environment;
    private final PrintWriter out;
    private final PrintWriter err;
    private final BufferedReader in;

    OutboxCli(Map<String, String> environment, PrintWriter out, PrintWriter err, InputStream in) {
        this.environment = environment;
        this.out = out;
        this.err = err;
        this.in = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(new PrintStream(System.out, true, StandardCharsets.UTF_8), true);
        PrintWriter err = new PrintWriter(new PrintStream(System.err, true, StandardCharsets.UTF_8), true);
        System.exit(run(args, System.getenv(), out, err, System.in));
    }

    /** Runs one command line with the given environment and streams; returns the exit code. */
    public static int run(String[] args, Map<String, String> environment, PrintWriter out, PrintWriter err, InputStream in) {
        CommandLine cli = new CommandLine(new OutboxCli(environment, out, err, in));
        cli.setOut(out);
        cli.setErr(err);
        cli.setExitCodeExceptionMapper(e -> e instanceof CliException c ? c.exitCode() : EXIT_USAGE);
        cli.setParameterExceptionHandler((e, a) -> {
            e.getCommandLine().getErr().println("outbox-cli: " + e.getMessage());
            e.getCommandLine().usage(e.getCommandLine().getErr());
            return EXIT_USAGE;
        });
        int code = cli.execute(args);
        out.flush();
        err.flush();
        return code;
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(new CommandLine(this), "a command is required: status, trace, parked, dead-letters or slot");
    }

    Map<String, String> environment() {
        return environment;
    }

    PrintWriter out() {
        return out;
    }

    PrintWriter err() {
        return err;
    }

    BufferedReader in() {
        return in;
    }
}
