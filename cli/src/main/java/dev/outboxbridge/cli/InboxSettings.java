package dev.outboxbridge.cli;

import dev.outboxbridge.db.TableName;
import dev.outboxbridge.inbox.InboxConsumer;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;

/**
 * The consumer side's settings the CLI needs (the inbox database, the consumer names, their dead-letter topics, the
 * Kafka cluster they read), declared once in {@link #DEFINITION}. Sources, later ones win: the file given with
 * {@code --inbox-config}, then environment variables {@code OUTBOX_INBOX_<KEY>} (upper case, dots as underscores).
 * Settings prefixed {@value #KAFKA_PREFIX} pass through to the Kafka clients that read the dead-letter topics; without
 * {@code kafka.bootstrap.servers} the relay's Kafka settings are used.
 */
final class InboxSettings extends AbstractConfig {

    static final String ENV_PREFIX = "OUTBOX_INBOX_";
    static final String KAFKA_PREFIX = "kafka.";

    static final String DATABASE_URL = "database.url";
    static final String DATABASE_USER = "database.user";
    static final String DATABASE_PASSWORD = "database.password";
    static final String TABLE = "table";
    static final String CONSUMERS = "consumers";
    static final String DEAD_LETTER_TOPICS = "dead.letter.topics";

    static final ConfigDef DEFINITION = new ConfigDef()
            .define(DATABASE_URL, Type.STRING, "", Importance.HIGH,
                    "JDBC URL of the consumers' database (the one holding the inbox table), e.g."
                            + " jdbc:postgresql://db:5432/billing. Needed by trace (inbox status), parked and dead-letters (state).")
            .define(DATABASE_USER, Type.STRING, "", Importance.HIGH, "User of database.url.")
            .define(DATABASE_PASSWORD, Type.PASSWORD, "", Importance.HIGH,
                    "Password of database.user; prefer the environment variable OUTBOX_INBOX_DATABASE_PASSWORD.")
            .define(TABLE, Type.STRING, InboxConsumer.Builder.DEFAULT_INBOX_TABLE, (name, value) -> {
                try {
                    TableName.parse((String) value);
                } catch (IllegalArgumentException e) {
                    throw new ConfigException(name, value, e.getMessage());
                }
            }, Importance.MEDIUM, "The inbox table ('table' or 'schema.table'), as given to InboxConsumer.Builder.inboxTable;"
                    + " the parked-key tables are in its schema.")
            .define(CONSUMERS, Type.LIST, "", Importance.MEDIUM,
                    "Consumer names (InboxConsumer.Builder.consumerName), comma-separated: trace reports each one's status;"
                            + " parked and dead-letters default to them. --consumer overrides it.")
            .define(DEAD_LETTER_TOPICS, Type.LIST, "", Importance.LOW,
                    "Dead-letter topics of consumers that set InboxConsumer.Builder.deadLetterTopic, as consumer=topic pairs,"
                            + " comma-separated. Others use the default: the consumer name followed by '"
                            + InboxConsumer.Builder.DEFAULT_DEAD_LETTER_TOPIC_SUFFIX + "'.");

    private final Map<String, String> kafka;
    private final Map<String, String> deadLetterTopics = new LinkedHashMap<>();

    private InboxSettings(Map<String, String> props) {
        super(DEFINITION, props, false);
        Map<String, String> k = new TreeMap<>();
        props.forEach((key, v) -> {
            if (key.startsWith(KAFKA_PREFIX) && key.length() > KAFKA_PREFIX.length()) {
                k.put(key.substring(KAFKA_PREFIX.length()), v);
            }
        });
        this.kafka = Map.copyOf(k);
        for (String pair : getList(DEAD_LETTER_TOPICS)) {
            int eq = pair.lastIndexOf('=');
            if (eq <= 0 || eq == pair.length() - 1) {
                throw new ConfigException(DEAD_LETTER_TOPICS, pair, "expected consumer=topic, e.g. billing=billing-dead-letters");
            }
            deadLetterTopics.put(pair.substring(0, eq).trim(), pair.substring(eq + 1).trim());
        }
    }

    /** Loads the optional file, then the environment over it. */
    static InboxSettings load(Path file, Map<String, String> environment) {
        Map<String, String> props = new HashMap<>();
        if (file != null) {
            Properties p = new Properties();
            try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
                p.load(r);
            } catch (IOException e) {
                throw new ConfigException("Cannot read the inbox configuration file " + file.toAbsolutePath() + ": " + e
                        + ". Fix the path given with --inbox-config, or set OUTBOX_INBOX_* environment variables.");
            }
            p.stringPropertyNames().forEach(k -> props.put(k.trim(), p.getProperty(k).trim()));
        }
        environment.forEach((name, value) -> {
            if (name.startsWith(ENV_PREFIX) && name.length() > ENV_PREFIX.length()) {
                props.put(name.substring(ENV_PREFIX.length()).toLowerCase(Locale.ROOT).replace('_', '.'), value);
            }
        });
        for (String key : props.keySet()) {
            if (!DEFINITION.names().contains(key) && !key.startsWith(KAFKA_PREFIX)) {
                throw new ConfigException("Unknown inbox setting '" + key + "'. Known settings: " + new TreeMap<>(DEFINITION.configKeys()).keySet()
                        + "; Kafka client settings take the prefix '" + KAFKA_PREFIX + "'.");
            }
        }
        return new InboxSettings(props);
    }

    boolean hasDatabase() {
        return !getString(DATABASE_URL).isBlank();
    }

    String databaseUrl() {
        String url = getString(DATABASE_URL).trim();
        if (url.isEmpty()) {
            throw CliException.config("The inbox database is not configured. Fix: set " + DATABASE_URL + " (and " + DATABASE_USER
                    + ", " + DATABASE_PASSWORD + ") in the file given with --inbox-config, or OUTBOX_INBOX_DATABASE_URL.");
        }
        if (!url.startsWith("jdbc:postgresql:")) {
            throw CliException.config("Invalid value " + url + " for inbox setting " + DATABASE_URL
                    + ": expected a PostgreSQL JDBC URL. Fix: jdbc:postgresql://host:5432/database");
        }
        return url;
    }

    String databaseUser() {
        return getString(DATABASE_USER);
    }

    String databasePassword() {
        return getPassword(DATABASE_PASSWORD).value();
    }

    TableName table() {
        return TableName.parse(getString(TABLE));
    }

    List<String> consumers() {
        return new ArrayList<>(getList(CONSUMERS));
    }

    /** The dead-letter topic of {@code consumer}: configured, or the inbox's default. */
    String deadLetterTopic(String consumer) {
        return deadLetterTopics.getOrDefault(consumer, consumer + InboxConsumer.Builder.DEFAULT_DEAD_LETTER_TOPIC_SUFFIX);
    }

    /** Settings given with {@value #KAFKA_PREFIX}, prefix removed (empty when the relay's Kafka settings apply). */
    Map<String, String> kafka() {
        return kafka;
    }
}
