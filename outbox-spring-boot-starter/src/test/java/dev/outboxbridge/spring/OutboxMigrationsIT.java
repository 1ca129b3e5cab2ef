package dev.outboxbridge.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.outboxbridge.db.OutboxBridgeMigrations;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.TestDatabase;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.jdbc.core.JdbcTemplate;

/**
 * The shipped migrations run by the starter beside the application's own Boot Flyway, on a fresh, empty
 * PostgreSQL database: the application's V1 and the shipped V1/V2 all apply, each in its own history table;
 * the application's Flyway runs first (on the empty schema, no baseline) and the outbox tables exist before a
 * bean that uses {@code JdbcTemplate} at start-up; the inbox tables only once the application declares a
 * consumer; a later start applies nothing.
 */
@ExtendWith(OutboxBridgeExtension.class)
class OutboxMigrationsIT {

    @Test
    void theApplicationsFlywayAndTheShippedMigrationsBothApplyAndASecondStartIsANoOp(PostgresServer server)
            throws Exception {
        try (TestDatabase db = server.createDatabase("migrations")) {
            Map<String, Object> properties = TestApplications.database(db);
            properties.put("spring.flyway.enabled", "true");
            properties.put("spring.flyway.locations", "classpath:db/app-migration");

            // 1. no inbox consumer declared: the application's V1 and the outbox table
            try (ConfigurableApplicationContext app = TestApplications.run(MigratedApp.class, properties)) {
                assertThat(app.getBean(StartupReader.class).outboxRows).as("outbox table there before JdbcTemplate users")
                        .isZero();
                OutboxMigrations migrations = app.getBean(OutboxMigrations.class);
                assertThat(migrations.outbox()).isTrue();
                assertThat(migrations.inbox()).isFalse();
            }
            assertThat(db.count("SELECT count(*) FROM flyway_schema_history WHERE success")).isEqualTo(1);
            assertThat(db.count("SELECT count(*) FROM flyway_schema_history WHERE version = '1' AND script = "
                    + "'V1__create_orders.sql'")).as("the application's Flyway ran first, with no baseline").isEqualTo(1);
            assertThat(db.count("SELECT count(*) FROM " + OutboxBridgeMigrations.OUTBOX_HISTORY_TABLE
                    + " WHERE success AND version = '1'")).isEqualTo(1);
            assertThat(tableExists(db, "outbox_event")).isTrue();
            assertThat(tableExists(db, "inbox_event")).isFalse();
            assertThat(tableExists(db, OutboxBridgeMigrations.INBOX_HISTORY_TABLE)).isFalse();

            // 2. a declared inbox consumer (not started here): the inbox tables too, the rest unchanged
            properties.put("outbox.inbox.auto-startup", "false");
            properties.put("outbox.inbox.consumers.billing.topics", "outbox.event.order");
            long outboxHistory = db.count("SELECT count(*) FROM " + OutboxBridgeMigrations.OUTBOX_HISTORY_TABLE);
            try (ConfigurableApplicationContext app = TestApplications.run(MigratedApp.class, properties)) {
                assertThat(app.getBean(OutboxMigrations.class).inbox()).isTrue();
            }
            assertThat(tableExists(db, "inbox_event")).isTrue();
            assertThat(tableExists(db, "inbox_parked_key")).isTrue();
            long inboxHistory = db.count("SELECT count(*) FROM " + OutboxBridgeMigrations.INBOX_HISTORY_TABLE);
            assertThat(db.count("SELECT count(*) FROM " + OutboxBridgeMigrations.INBOX_HISTORY_TABLE
                    + " WHERE success AND version IN ('1', '2')")).isEqualTo(2);
            assertThat(db.count("SELECT count(*) FROM " + OutboxBridgeMigrations.OUTBOX_HISTORY_TABLE))
                    .isEqualTo(outboxHistory);

            // 3. a second start with the same settings: nothing to apply on either side
            try (ConfigurableApplicationContext app = TestApplications.run(MigratedApp.class, properties)) {
                assertThat(app.getBean(OutboxMigrations.class).migrate()).isZero();
            }
            assertThat(db.count("SELECT count(*) FROM flyway_schema_history")).isEqualTo(1);
            assertThat(db.count("SELECT count(*) FROM " + OutboxBridgeMigrations.OUTBOX_HISTORY_TABLE))
                    .isEqualTo(outboxHistory);
            assertThat(db.count("SELECT count(*) FROM " + OutboxBridgeMigrations.INBOX_HISTORY_TABLE))
                    .isEqualTo(inboxHistory);
        }
    }

    @Test
    void disabledMigrationsTouchNothing(PostgresServer server) throws Exception {
        try (TestDatabase db = server.createDatabase("nomigrations")) {
            Map<String, Object> properties = TestApplications.database(db);
            properties.put("outbox.migrations.enabled", "false");
            try (ConfigurableApplicationContext app = TestApplications.run(EmptyApp.class, properties)) {
                assertThat(app.getBeansOfType(OutboxMigrations.class)).isEmpty();
            }
            assertThat(tableExists(db, "outbox_event")).isFalse();
            assertThat(tableExists(db, OutboxBridgeMigrations.OUTBOX_HISTORY_TABLE)).isFalse();
        }
    }

    private static boolean tableExists(TestDatabase db, String table) throws Exception {
        return db.count("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = ?",
                table) == 1;
    }

    /** Reads the outbox and the application's table while the context starts, through JdbcTemplate. */
    static final class StartupReader {
        final long outboxRows;

        StartupReader(JdbcTemplate jdbc) {
            jdbc.queryForObject("SELECT count(*) FROM orders", Long.class);
            this.outboxRows = jdbc.queryForObject("SELECT count(*) FROM outbox_event", Long.class);
        }
    }

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class MigratedApp {

        @Bean
        StartupReader startupReader(JdbcTemplate jdbc) {
            return new StartupReader(jdbc);
        }

        @Bean
        dev.outboxbridge.inbox.InboxHandler billing() {
            return (event, tx) -> { };
        }
    }

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class EmptyApp {
    }
}
