package dev.outboxbridge.cli;

/** A failure the CLI reports as one line (what is wrong and the fix) with its exit code; never a stack trace. */
final class CliException extends RuntimeException {

    private final int exitCode;

    CliException(int exitCode, String message) {
        super(message);
        this.exitCode = exitCode;
    }

    CliException(int exitCode, String message, Throwable cause) {
        super(message, cause);
        this.exitCode = exitCode;
    }

    int exitCode() {
        return exitCode;
    }

    static CliException config(String message) {
        return new CliException(OutboxCli.EXIT_USAGE, message);
    }

    static CliException unreachable(String message, Throwable cause) {
        return new CliException(OutboxCli.EXIT_UNREACHABLE, message, cause);
    }
}
