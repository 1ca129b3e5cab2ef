package dev.outboxbridge.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.function.Consumer;

/**
 * What a command prints: it builds one JSON object, printed as is with {@code --json} (Jackson, already on the
 * relay's class path), or rendered for humans from the same object, so both outputs always say the same.
 */
final class Output {

    private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final PrintWriter out;
    private final boolean json;

    Output(PrintWriter out, boolean json) {
        this.out = out;
        this.json = json;
    }

    ObjectNode object() {
        return MAPPER.createObjectNode();
    }

    ArrayNode array() {
        return MAPPER.createArrayNode();
    }

    boolean json() {
        return json;
    }

    /** Prints {@code data} as JSON, or calls {@code human} to print it as text. */
    void emit(ObjectNode data, Consumer<PrintWriter> human) {
        if (json) {
            print(data);
        } else {
            human.accept(out);
            out.flush();
        }
    }

    void print(JsonNode node) {
        try {
            out.println(MAPPER.writeValueAsString(node));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        out.flush();
    }

    // ---- formats shared by the commands ----

    /** PostgreSQL's text form of an LSN ({@code 16/B374D848}) from its 64-bit value. */
    static String lsn(long value) {
        return Long.toHexString(value >>> 32).toUpperCase() + "/" + Long.toHexString(value & 0xFFFFFFFFL).toUpperCase();
    }

    static String bytes(long n) {
        if (n < 1024) {
            return n + " B";
        }
        if (n < 1024 * 1024) {
            return String.format("%.1f KiB", n / 1024.0);
        }
        if (n < 1024L * 1024 * 1024) {
            return String.format("%.1f MiB", n / (1024.0 * 1024));
        }
        return String.format("%.2f GiB", n / (1024.0 * 1024 * 1024));
    }

    static String duration(Duration d) {
        long ms = d.toMillis();
        if (ms < 1000) {
            return ms + " ms";
        }
        if (ms < 120_000) {
            return String.format("%.1f s", ms / 1000.0);
        }
        if (ms < 7_200_000) {
            return String.format("%.1f min", ms / 60_000.0);
        }
        return String.format("%.1f h", ms / 3_600_000.0);
    }

    static String instant(Instant t) {
        return t == null ? "-" : t.toString();
    }

    /** A payload or header as text when it is UTF-8, else base64 with a marker. */
    static String text(byte[] value) {
        if (value == null) {
            return null;
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(value)).toString();
        } catch (CharacterCodingException e) {
            return "base64:" + Base64.getEncoder().encodeToString(value);
        }
    }

    /** {@code message} without its final period, to be followed by ". Fix: ...". */
    static String clause(String message) {
        if (message == null) {
            return "";
        }
        String m = message.strip();
        while (m.endsWith(".")) {
            m = m.substring(0, m.length() - 1);
        }
        return m;
    }

    /** At most {@code max} characters of {@code s}, marked when cut. */
    static String shorten(String s, int max) {
        if (s == null || s.length() <= max) {
            return s;
        }
        return s.substring(0, max) + "…";
    }

    /** Prints rows under headers, each column as wide as its widest cell (the last column unpadded). */
    static void table(PrintWriter w, java.util.List<String> headers, java.util.List<java.util.List<String>> rows) {
        int[] widths = new int[headers.size()];
        for (int i = 0; i < widths.length; i++) {
            widths[i] = headers.get(i).length();
            for (java.util.List<String> row : rows) {
                widths[i] = Math.max(widths[i], row.get(i) == null ? 1 : row.get(i).length());
            }
        }
        java.util.List<java.util.List<String>> all = new java.util.ArrayList<>();
        all.add(headers);
        all.addAll(rows);
        for (java.util.List<String> row : all) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < widths.length; i++) {
                String cell = row.get(i) == null ? "-" : row.get(i);
                line.append(i == widths.length - 1 ? cell : String.format("%-" + widths[i] + "s  ", cell));
            }
            w.println(line.toString().stripTrailing());
        }
    }

    static String str(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v == null || v.isNull() ? "-" : v.asText();
    }
}
