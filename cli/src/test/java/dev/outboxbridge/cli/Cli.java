package dev.outboxbridge.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/** Runs the CLI in-process through picocli with captured output, an environment and standard input of the test's choosing. */
final class Cli {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final List<String> common;
    private final Map<String, String> environment;

    Cli(List<String> common, Map<String, String> environment) {
        this.common = common;
        this.environment = environment;
    }

    /** A CLI with the relay's settings in {@code dir/relay.properties} and the inbox's in {@code dir/inbox.properties}. */
    static Cli withFiles(Path dir, Map<String, String> relay, Map<String, String> inbox) {
        Path relayFile = write(dir.resolve("relay.properties"), relay);
        Path inboxFile = write(dir.resolve("inbox.properties"), inbox);
        return new Cli(List.of("--config", relayFile.toString(), "--inbox-config", inboxFile.toString()), Map.of());
    }

    static Path write(Path file, Map<String, String> settings) {
        Properties p = new Properties();
        p.putAll(settings);
        try (var w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            p.store(w, null);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    record Result(int code, String out, String err) {
        JsonNode json() {
            try {
                return MAPPER.readTree(out);
            } catch (IOException e) {
                throw new AssertionError("not JSON (exit " + code + ", stderr " + err + "): " + out, e);
            }
        }

        @Override
        public String toString() {
            return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    Result run(String... args) {
        return runWithInput("", args);
    }

    Result runWithInput(String stdin, String... args) {
        // the command first, then the configuration options (picocli takes them after the subcommand)
        List<String> all = new ArrayList<>(Arrays.asList(args));
        all.addAll(common);
        long started = System.nanoTime();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = OutboxCli.run(all.toArray(String[]::new), environment, new PrintWriter(out), new PrintWriter(err),
                new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
        Result r = new Result(code, out.toString(), err.toString());
        System.out.println("outbox-cli " + String.join(" ", args) + " -> " + r.code() + " in "
                + (System.nanoTime() - started) / 1_000_000 + " ms\n" + r);
        return r;
    }
}
