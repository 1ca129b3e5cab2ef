package dev.outboxbridge.relay;

import java.util.List;
import org.apache.kafka.common.config.ConfigDef;

/** Renders a {@link ConfigDef} as a Markdown table: the configuration reference is generated, never hand-written. */
final class ConfigDocs {

    private ConfigDocs() {
    }

    /** The whole page {@code docs/relay-configuration.md}. */
    static String referencePage() {
        return "# Relay configuration reference\n\n"
                + "Generated from `RelayConfig.DEFINITION` by `java -jar relay-app/target/outbox-relay-app-<version>.jar --print-config-reference`;"
                + " `ConfigDocsTest` fails when this file and the code disagree. Settings come from the `--config` properties file and"
                + " from environment variables (the environment wins).\n\n"
                + markdown(RelayConfig.DEFINITION);
    }

    static String markdown(ConfigDef def) {
        StringBuilder sb = new StringBuilder();
        sb.append("| setting | environment variable | type | default | valid values | importance | description |\n");
        sb.append("| --- | --- | --- | --- | --- | --- | --- |\n");
        List<ConfigDef.ConfigKey> keys = new java.util.ArrayList<>(def.configKeys().values());
        keys.sort(java.util.Comparator.comparing((ConfigDef.ConfigKey k) -> k.importance).thenComparing(k -> k.name));
        for (ConfigDef.ConfigKey key : keys) {
            String dflt = !key.hasDefault() ? "(required)"
                    : key.defaultValue == null ? "null"
                    : key.type == ConfigDef.Type.PASSWORD ? ((org.apache.kafka.common.config.types.Password) key.defaultValue).value()
                    : ConfigDef.convertToString(key.defaultValue, key.type);
            if (dflt != null && dflt.isEmpty()) {
                dflt = "\"\"";
            }
            sb.append("| `").append(key.name).append("` | `").append(RelayConfig.environmentVariable(key.name)).append("` | ")
                    .append(key.type.toString().toLowerCase(java.util.Locale.ROOT)).append(" | ")
                    .append(dflt).append(" | ")
                    .append(key.validator == null ? "" : key.validator.toString().replace("|", "\\|")).append(" | ")
                    .append(key.importance.toString().toLowerCase(java.util.Locale.ROOT)).append(" | ")
                    .append(key.documentation.replace("|", "\\|")).append(" |\n");
        }
        sb.append("\nAny Kafka producer setting passes through as `").append(RelayConfig.PRODUCER_PREFIX)
                .append("<setting>` and any Debezium Postgres connector or engine setting as `").append(RelayConfig.DEBEZIUM_PREFIX)
                .append("<setting>`, except those the relay owns (they are refused with the reason).\n");
        return sb.toString();
    }
}
