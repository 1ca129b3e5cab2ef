package dev.outboxbridge.spring;

import java.util.LinkedHashMap;
import java.util.Map;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * The relay embedded in the application, prefix {@code outbox.relay} (needs {@code outbox-relay} on the class path).
 * The relay's own settings ({@code RelayConfig}, docs/relay-configuration.md) are given under {@code properties} with
 * their own names; the typed ones here are the common ones. Unset values are taken from the application: the
 * database from its {@code DataSource} ({@code spring.datasource.*}), Kafka from {@code spring.kafka.*}, the outbox
 * table, topic prefix and record limit from {@code outbox.*}; everything else keeps the relay's default.
 */
@ConfigurationProperties("outbox.relay")
public class RelayProperties {

    /**
     * Whether to run the relay inside this application (a {@code SmartLifecycle} bean): for small deployments.
     * Several instances on the same slot elect one publisher through the relay's lease; the others stand by.
     */
    private boolean enabled = false;

    /** Whether the relay starts with the application context; false: start it with {@code SpringRelay.start()}. */
    private boolean autoStartup = true;

    /** Name of the relay in logs, thread names, Kafka client ids and the {@code relay} tag of its metrics (relay.name). */
    private String name;

    /** The logical replication slot the relay reads (slot.name); the same slot as a sidecar's continues from it. */
    private String slotName;

    /** The publication of the outbox table the slot decodes (publication.name). */
    private String publicationName;

    private final Database database = new Database();

    private final Restart restart = new Restart();

    /**
     * Further relay settings by their own names ({@code ha.lease.ms}, {@code offset.storage.topic},
     * {@code kafka.producer.linger.ms}, {@code debezium.<setting>} ...), passed through verbatim; the relay refuses
     * unknown keys and keys it owns at start-up. Settings given here win over those taken from the application,
     * except the outbox table, topic prefix and record limit, which must agree with {@code outbox.*}.
     */
    private Map<String, String> properties = new LinkedHashMap<>();

    public boolean isEnabled() {
        return enabled;
    }

    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    public boolean isAutoStartup() {
        return autoStartup;
    }

    public void setAutoStartup(boolean autoStartup) {
        this.autoStartup = autoStartup;
    }

    public String getName() {
        return name;
    }

    public void setName(String name) {
        this.name = name;
    }

    public String getSlotName() {
        return slotName;
    }

    public void setSlotName(String slotName) {
        this.slotName = slotName;
    }

    public String getPublicationName() {
        return publicationName;
    }

    public void setPublicationName(String publicationName) {
        this.publicationName = publicationName;
    }

    public Database getDatabase() {
        return database;
    }

    public Restart getRestart() {
        return restart;
    }

    public Map<String, String> getProperties() {
        return properties;
    }

    public void setProperties(Map<String, String> properties) {
        this.properties = properties;
    }

    /**
     * The PostgreSQL server and role the relay replicates from; unset: those of the application's {@code DataSource}
     * (its Hikari pool, else {@code spring.datasource.url/username/password}). The role needs the REPLICATION
     * attribute and SELECT on the outbox table (see the README, "Embedded relay").
     */
    public static class Database {

        /** Host of the PostgreSQL server (database.hostname). */
        private String host;

        /** Port of the PostgreSQL server (database.port). */
        private Integer port;

        /** The database holding the outbox table (database.dbname). */
        private String name;

        /**
         * The relay's PostgreSQL role (database.user); when set, the password is {@code password} below, never the
         * application's.
         */
        private String username;

        /** Password of {@code username} (database.password). */
        private String password;

        public String getHost() {
            return host;
        }

        public void setHost(String host) {
            this.host = host;
        }

        public Integer getPort() {
            return port;
        }

        public void setPort(Integer port) {
            this.port = port;
        }

        public String getName() {
            return name;
        }

        public void setName(String name) {
            this.name = name;
        }

        public String getUsername() {
            return username;
        }

        public void setUsername(String username) {
            this.username = username;
        }

        public String getPassword() {
            return password;
        }

        public void setPassword(String password) {
            this.password = password;
        }
    }

    /**
     * The embedded relay restarts itself in the application's process after a failure (the relay's
     * {@code restart.enabled}): a PostgreSQL failover, a lost lease, a broker outage past the delivery timeout. No
     * supervisor restarts an embedded relay the way systemd or Kubernetes restart the sidecar's process.
     */
    public static class Restart {

        /**
         * Whether the relay restarts in the process after a failure, with a backoff ({@code restart.backoff.*} under
         * {@code outbox.relay.properties}); unset: true (the relay library's own default is false). While a restart is
         * pending the health contributor reports {@code restarting}. false: a failed relay stays failed (health DOWN)
         * until the application restarts.
         */
        private Boolean enabled;

        public Boolean getEnabled() {
            return enabled;
        }

        public void setEnabled(Boolean enabled) {
            this.enabled = enabled;
        }
    }
}
