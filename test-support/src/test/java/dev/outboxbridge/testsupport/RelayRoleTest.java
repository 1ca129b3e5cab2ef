package dev.outboxbridge.testsupport;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RelayRoleTest {

    @Test
    void substitutesPsqlVariablesAsQuotedIdentifiersAndLiterals() {
        List<String> statements = RelayRole.statements(Map.of("relay_role", "outbox_relay", "relay_password", "it's secret",
                "outbox_schema", "public", "outbox_table", "outbox_event", "publication", "outbox_pub"));
        assertThat(statements).hasSize(5);
        assertThat(statements.get(0)).startsWith("CREATE ROLE \"outbox_relay\" WITH LOGIN REPLICATION NOSUPERUSER")
                .endsWith("PASSWORD 'it''s secret'");
        assertThat(statements.get(1)).endsWith("\\gexec").contains("'outbox_relay'");
        assertThat(statements.get(3)).isEqualTo("GRANT SELECT ON TABLE \"public\".\"outbox_event\" TO \"outbox_relay\"");
        assertThat(statements.get(4)).isEqualTo(
                "CREATE PUBLICATION \"outbox_pub\" FOR TABLE \"public\".\"outbox_event\" WITH (publish = 'insert')");
    }
}
