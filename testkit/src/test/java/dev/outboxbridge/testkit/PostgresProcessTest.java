package dev.outboxbridge.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class PostgresProcessTest {

    @Test
    void postmasterOptsAreSplitIntoTheBinaryAndItsQuotedArguments() {
        assertThat(PostgresProcess.parseOptions("/tmp/embedded-pg/PG-1/bin/postgres \"-D\" \"/tmp/epg 1\" \"-p\" \"5433\" \"-F\""
                + " \"-c\" \"wal_level=logical\""))
                .containsExactly("/tmp/embedded-pg/PG-1/bin/postgres", "-D", "/tmp/epg 1", "-p", "5433", "-F", "-c", "wal_level=logical");
        assertThat(PostgresProcess.parseOptions("/usr/bin/postgres")).containsExactly("/usr/bin/postgres");
    }

    @Test
    void startOptionsRepeatEverythingButTheBinaryAndTheDataDirectory() {
        assertThat(PostgresProcess.startOptions(List.of("/bin/postgres", "-D", "/data", "-p", "5433", "-c", "timezone=UTC", "-D/data")))
                .containsExactly("\"-p\"", "\"5433\"", "\"-c\"", "\"timezone=UTC\"");
    }

    @Test
    void argumentsTheShellWouldExpandAreRefused() {
        assertThatThrownBy(() -> PostgresProcess.startOptions(List.of("/bin/postgres", "-c", "search_path=$user")))
                .hasMessageContaining("search_path=$user");
        assertThatThrownBy(() -> PostgresProcess.parseOptions("/bin/postgres \"-p\" \"5433"))
                .hasMessageContaining("unterminated");
    }
}
