package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The configuration reference in the docs is the one generated from the code, never a hand-written copy. */
class ConfigDocsTest {

    @Test
    void docsMatchTheDeclaration() throws Exception {
        Path doc = Path.of("..", "docs", "relay-configuration.md");
        assertThat(Files.readString(doc, StandardCharsets.UTF_8))
                .as("docs/relay-configuration.md is stale: regenerate it with"
                        + " java -jar relay-app/target/outbox-relay-app-*.jar --print-config-reference > docs/relay-configuration.md")
                .isEqualTo(ConfigDocs.referencePage());
    }
}
