package dev.outboxbridge.spring;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import java.util.Map;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.assertj.AssertableApplicationContext;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.SmartLifecycle;

/**
 * When the embedded relay is defined, what it is configured with (taken from the application's DataSource,
 * {@code spring.kafka.*} and {@code outbox.*} under {@code outbox.relay.*}), and the start-up refusals, each
 * naming the setting and the fix. {@code outbox.relay.auto-startup=false}: nothing connects here (the addresses
 * point nowhere); the relay running in an application: {@code EmbeddedRelayIT}.
 */
class RelayAutoConfigurationTest {

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(OutboxAutoConfiguration.class, RelayAutoConfiguration.class,
                    RelayHealthAutoConfiguration.class))
            .withPropertyValues("spring.datasource.url=jdbc:postgresql://db.example:6543/shop",
                    "spring.datasource.username=shop", "spring.datasource.password=shop-secret",
                    "spring.kafka.bootstrap-servers=k1.example:9092,k2.example:9092");

    private final ApplicationContextRunner enabled = runner.withPropertyValues("outbox.relay.enabled=true",
            "outbox.relay.auto-startup=false");

    @Test
    void nothingIsDefinedUnlessEnabled() {
        runner.run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context).doesNotHaveBean(SpringRelay.class);
            assertThat(context).doesNotHaveBean(RelayHealthAutoConfiguration.BEAN_NAME);
        });
    }

    @Test
    void withoutTheRelayOnTheClassPathNothingIsDefinedEvenWhenEnabled() {
        enabled.withClassLoader(new FilteredClassLoader(Relay.class)).run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context).doesNotHaveBean(SpringRelay.class);
        });
    }

    @Test
    void theRelayTakesTheApplicationsDatabaseKafkaAndOutboxSettings() {
        enabled.withPropertyValues("outbox.topic-prefix=shop.events.", "outbox.max-record-bytes=500000",
                "spring.kafka.security.protocol=SASL_SSL", "spring.kafka.properties.sasl.mechanism=PLAIN",
                // the application's KafkaTemplate settings are not the relay's (which refuses acks other than all)
                "spring.kafka.producer.acks=1", "spring.kafka.producer.properties.linger.ms=50",
                "outbox.relay.name=shop-relay", "outbox.relay.slot-name=shop_slot",
                "outbox.relay.properties.ha.lease.ms=2000", "outbox.relay.properties.kafka.producer.compression.type=zstd")
                .run(context -> {
                    assertThat(context).hasNotFailed();
                    SpringRelay relay = context.getBean(SpringRelay.class);
                    RelayConfig config = relay.config();
                    assertThat(config.databaseHost()).isEqualTo("db.example");
                    assertThat(config.databasePort()).isEqualTo(6543);
                    assertThat(config.databaseName()).isEqualTo("shop");
                    assertThat(config.databaseUser()).isEqualTo("shop");
                    assertThat(config.databasePassword().value()).isEqualTo("shop-secret");
                    assertThat(config.bootstrapServers()).isEqualTo("k1.example:9092,k2.example:9092");
                    assertThat(config.topicPrefix()).isEqualTo("shop.events.");
                    assertThat(config.getInt(RelayConfig.MAX_RECORD_BYTES)).isEqualTo(500_000);
                    assertThat(config.outboxTable().toString()).isEqualTo("public.outbox_event");
                    assertThat(config.name()).isEqualTo("shop-relay");
                    assertThat(config.slotName()).isEqualTo("shop_slot");
                    assertThat(config.getLong(RelayConfig.HA_LEASE_MS)).isEqualTo(2000L);
                    assertThat(config.producerOverrides()).containsEntry("security.protocol", "SASL_SSL")
                            .containsEntry("sasl.mechanism", "PLAIN").containsEntry("compression.type", "zstd")
                            .doesNotContainKeys("acks", "linger.ms", "key.serializer", "value.serializer");
                    assertThat(relay.getPhase()).isLessThan(SmartLifecycle.DEFAULT_PHASE - 2048);
                    assertThat(relay.isAutoStartup()).isFalse();
                    assertThat(relay.isRunning()).isFalse();
                    assertThat(relay.relay()).isEmpty();
                });
    }

    @Test
    void theDatabaseComesFromTheHikariPoolWhenTheApplicationBuildsItsOwn() {
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(OutboxAutoConfiguration.class, RelayAutoConfiguration.class))
                .withBean(DataSource.class, () -> {
                    HikariDataSource pool = new HikariDataSource(); // not started: the pool connects on first use
                    pool.setJdbcUrl("jdbc:postgresql://pool.example/orders?user=ignored&ApplicationName=shop");
                    pool.setUsername("pool-user");
                    pool.setPassword("pool-secret");
                    return pool;
                })
                .withPropertyValues("outbox.relay.enabled=true", "outbox.relay.auto-startup=false",
                        "spring.kafka.bootstrap-servers=k1.example:9092")
                .run(context -> {
                    RelayConfig config = context.getBean(SpringRelay.class).config();
                    assertThat(config.jdbcUrl()).isEqualTo("jdbc:postgresql://pool.example:5432/orders");
                    assertThat(config.databaseUser()).isEqualTo("pool-user");
                    assertThat(config.databasePassword().value()).isEqualTo("pool-secret");
                });
    }

    @Test
    void aReplicationRoleOfItsOwnNeverGetsTheApplicationsPassword() {
        enabled.withPropertyValues("outbox.relay.database.username=relay").run(context -> {
            RelayConfig config = context.getBean(SpringRelay.class).config();
            assertThat(config.databaseUser()).isEqualTo("relay");
            assertThat(config.databasePassword().value()).isEmpty();
            assertThat(config.databaseHost()).isEqualTo("db.example");
        });
        enabled.withPropertyValues("outbox.relay.database.username=relay", "outbox.relay.database.password=relay-secret",
                "outbox.relay.database.host=primary.example", "outbox.relay.database.port=5433").run(context -> {
                    RelayConfig config = context.getBean(SpringRelay.class).config();
                    assertThat(config.databasePassword().value()).isEqualTo("relay-secret");
                    assertThat(config.jdbcUrl()).isEqualTo("jdbc:postgresql://primary.example:5433/shop");
                });
    }

    @Test
    void anUnknownRelaySettingFailsTheStartWithTheRelaysMessage() {
        enabled.withPropertyValues("outbox.relay.properties.slot.nmae=x").run(context -> assertFailure(context,
                "Unknown relay setting 'slot.nmae'", "outbox.relay"));
    }

    @Test
    void aProducerSettingTheRelayOwnsIsRefused() {
        enabled.withPropertyValues("outbox.relay.properties.kafka.producer.acks=1").run(context -> assertFailure(context,
                "kafka.producer.acks", "must be all"));
    }

    @Test
    void aTopicPrefixOrTableOtherThanTheOutboxsIsRefused() {
        enabled.withPropertyValues("outbox.topic-prefix=shop.events.", "outbox.relay.properties.topic.prefix=other.")
                .run(context -> assertFailure(context, "outbox.relay.properties.topic.prefix=other. differs from the"
                        + " outbox's outbox.topic-prefix (shop.events.)", "Fix: remove outbox.relay.properties.topic.prefix"));
        enabled.withPropertyValues("outbox.relay.properties.outbox.table=app.events")
                .run(context -> assertFailure(context, "outbox.table (public.outbox_event, its default)",
                        "Fix: remove outbox.relay.properties.outbox.table"));
        // the same value given again is not a conflict
        enabled.withPropertyValues("outbox.relay.properties.outbox.table=outbox_event")
                .run(context -> assertThat(context).hasNotFailed());
    }

    @Test
    void theSidecarsHttpPortIsRefusedRatherThanIgnored() {
        enabled.withPropertyValues("outbox.relay.properties.http.port=8081").run(context -> assertFailure(context,
                "outbox.relay.properties.http.port is the port of the sidecar's operations endpoints", "Fix: remove it"));
    }

    @Test
    void severalClocksWithoutAPrimaryFailTheStartInsteadOfASilentDefault() {
        enabled.withBean("utc", java.time.Clock.class, java.time.Clock::systemUTC)
                .withBean("local", java.time.Clock.class, java.time.Clock::systemDefaultZone)
                .run(context -> assertFailure(context, "java.time.Clock", "utc", "local"));
        enabled.withBean("utc", java.time.Clock.class, java.time.Clock::systemUTC)
                .withBean("local", java.time.Clock.class, java.time.Clock::systemDefaultZone, d -> d.setPrimary(true))
                .run(context -> assertThat(context).hasNotFailed());
    }

    @Test
    void aDataSourceWithSeveralHostsGivesTheRelayTheHostListItReachesThePrimaryOf() {
        enabled.withPropertyValues("spring.datasource.url=jdbc:postgresql://a.example:5432,b.example:6432/shop?targetServerType=primary")
                .run(context -> {
                    assertThat(context).hasNotFailed();
                    RelayConfig config = context.getBean(SpringRelay.class).config();
                    assertThat(config.hasHostList()).isTrue();
                    assertThat(config.jdbcUrl()).isEqualTo("jdbc:postgresql://a.example:5432,b.example:6432/shop?targetServerType=primary");
                    assertThat(config.databaseUser()).isEqualTo("shop");
                });
    }

    @Test
    void theEmbeddedRelayRestartsItselfByDefaultAndAnExplicitValueIsKept() {
        enabled.run(context -> assertThat(context.getBean(SpringRelay.class).config().getBoolean(RelayConfig.RESTART_ENABLED))
                .as("no supervisor restarts an embedded relay: on by default").isTrue());
        enabled.withPropertyValues("outbox.relay.restart.enabled=false")
                .run(context -> assertThat(context.getBean(SpringRelay.class).config().getBoolean(RelayConfig.RESTART_ENABLED))
                        .as("the user's false is kept").isFalse());
        enabled.withPropertyValues("outbox.relay.properties.restart.enabled=false",
                "outbox.relay.properties.restart.backoff.max.ms=5000")
                .run(context -> {
                    RelayConfig config = context.getBean(SpringRelay.class).config();
                    assertThat(config.getBoolean(RelayConfig.RESTART_ENABLED)).as("given by its own name: kept").isFalse();
                    assertThat(config.getLong(RelayConfig.RESTART_BACKOFF_MAX_MS)).isEqualTo(5000L);
                });
        enabled.withPropertyValues("outbox.relay.restart.enabled=true", "outbox.relay.properties.restart.enabled=false")
                .run(context -> assertFailure(context, "restart.enabled is given twice", "Fix: keep one"));
        enabled.withPropertyValues("outbox.relay.properties.restart.backoff.initial.ms=9000",
                "outbox.relay.properties.restart.backoff.max.ms=5000")
                .run(context -> assertFailure(context, "restart.backoff.initial.ms", "Fix: "));
    }

    @Test
    void aSettingGivenTwiceIsRefused() {
        enabled.withPropertyValues("outbox.relay.slot-name=a", "outbox.relay.properties.slot.name=b")
                .run(context -> assertFailure(context, "slot.name is given twice: outbox.relay.slot-name and"
                        + " outbox.relay.properties.slot.name", "Fix: keep one"));
    }

    @Test
    void aDataSourceUrlTheRelayCannotUseIsRefusedNamingTheFix() {
        enabled.withPropertyValues("spring.datasource.url=jdbc:postgresql://a.example:5432,,b.example/shop")
                .run(context -> assertFailure(context, "empty entry in its host list", "Fix: "));
        enabled.withPropertyValues("spring.datasource.url=jdbc:postgresql://a.example,b.example/shop?targetServerType=preferSecondary")
                .run(context -> assertFailure(context, "targetServerType=preferSecondary", "outbox.relay.database.host"));
        enabled.withPropertyValues("spring.datasource.url=jdbc:postgresql://db.example/shop?sslmode=verify-full&password=x")
                .run(context -> assertFailure(context, "connection parameter 'sslmode'", "outbox.relay.database.host"));
        enabled.withPropertyValues("spring.datasource.url=jdbc:h2:mem:shop")
                .run(context -> assertFailure(context, "reads PostgreSQL only", "spring.datasource.url"));
        new ApplicationContextRunner().withConfiguration(AutoConfigurations.of(RelayAutoConfiguration.class))
                .withPropertyValues("outbox.relay.enabled=true", "spring.kafka.bootstrap-servers=k1.example:9092")
                .run(context -> assertFailure(context, "does not know which PostgreSQL to replicate from",
                        "spring.datasource.url=jdbc:postgresql://<host>:<port>/<database>"));
    }

    @Test
    void beforeItsFirstStartTheHealthIsUnknownNamingTheRelayAndSlot() {
        enabled.withPropertyValues("outbox.relay.name=shop-relay", "outbox.relay.slot-name=shop_slot").run(context -> {
            Health health = context.getBean(RelayHealthAutoConfiguration.BEAN_NAME, HealthIndicator.class).health();
            assertThat(health.getStatus()).isEqualTo(Status.UNKNOWN);
            assertThat(health.getDetails()).isEqualTo(Map.of("state", "not-started", "name", "shop-relay", "slot", "shop_slot"));
        });
        enabled.withPropertyValues("management.health.outbox-relay.enabled=false")
                .run(context -> assertThat(context).doesNotHaveBean(RelayHealthAutoConfiguration.BEAN_NAME));
    }

    @Test
    void theRelaysStatesAsHealthStates() {
        assertThat(RelayHealthIndicator.state(Relay.State.RUNNING)).isEqualTo("leader");
        assertThat(RelayHealthIndicator.state(Relay.State.STANDBY)).isEqualTo("standby");
        assertThat(RelayHealthIndicator.state(Relay.State.STARTING)).isEqualTo("starting");
        assertThat(RelayHealthIndicator.state(Relay.State.FAILED)).isEqualTo("failed");
        assertThat(RelayHealthIndicator.state(Relay.State.RESTARTING)).isEqualTo("restarting");
    }

    private static void assertFailure(AssertableApplicationContext context, String... parts) {
        assertThat(context).hasFailed();
        Throwable root = context.getStartupFailure();
        StringBuilder messages = new StringBuilder();
        for (Throwable t = root; t != null; t = t.getCause()) {
            messages.append(t.getMessage()).append('\n');
        }
        for (String part : parts) {
            assertThat(messages.toString()).contains(part);
        }
        assertThat(messages.toString()).doesNotContain("shop-secret");
    }
}
