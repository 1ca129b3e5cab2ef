package dev.outboxbridge.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InboxSettingsTest {

    @TempDir
    Path dir;

    @Test
    void theEnvironmentOverridesTheFileAndDeadLetterTopicsDefaultToTheInboxs() {
        Path file = Cli.write(dir.resolve("inbox.properties"), Map.of("database.url", "jdbc:postgresql://db:5432/billing",
                "consumers", "billing, shipping", "dead.letter.topics", "shipping=shipping-dead-letters", "kafka.security.protocol", "SSL"));
        InboxSettings s = InboxSettings.load(file, Map.of("OUTBOX_INBOX_DATABASE_USER", "ops", "OUTBOX_INBOX_TABLE", "inbox.events",
                "OUTBOX_RELAY_DATABASE_USER", "ignored"));
        assertThat(s.databaseUrl()).isEqualTo("jdbc:postgresql://db:5432/billing");
        assertThat(s.databaseUser()).isEqualTo("ops");
        assertThat(s.table().toString()).isEqualTo("inbox.events");
        assertThat(s.consumers()).containsExactly("billing", "shipping");
        assertThat(s.deadLetterTopic("billing")).isEqualTo("billing.dlt");
        assertThat(s.deadLetterTopic("shipping")).isEqualTo("shipping-dead-letters");
        assertThat(s.kafka()).containsEntry("security.protocol", "SSL");
    }

    @Test
    void badSettingsAreRefusedWithTheFix() {
        assertThatThrownBy(() -> InboxSettings.load(null, Map.of("OUTBOX_INBOX_CONSUMER", "billing")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("Unknown inbox setting 'consumer'").hasMessageContaining("consumers");
        assertThatThrownBy(() -> InboxSettings.load(null, Map.of("OUTBOX_INBOX_DEAD_LETTER_TOPICS", "billing")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("consumer=topic");
        assertThatThrownBy(() -> InboxSettings.load(null, Map.of("OUTBOX_INBOX_DATABASE_URL", "postgres://db/billing")).databaseUrl())
                .isInstanceOf(CliException.class).hasMessageContaining("jdbc:postgresql://host:5432/database");
        assertThatThrownBy(() -> InboxSettings.load(null, Map.of()).databaseUrl())
                .isInstanceOf(CliException.class).hasMessageContaining("--inbox-config");
        assertThatThrownBy(() -> InboxSettings.load(dir.resolve("missing.properties"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("--inbox-config");
    }
}
