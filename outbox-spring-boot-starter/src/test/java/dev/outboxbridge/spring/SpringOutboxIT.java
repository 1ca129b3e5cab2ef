package dev.outboxbridge.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.outbox.NotInTransactionException;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import java.sql.Connection;
import java.sql.Statement;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.transaction.annotation.Transactional;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * {@link SpringOutbox} in a real Spring Boot application on a real PostgreSQL: the outbox row commits
 * and rolls back with the business row written by {@code JdbcTemplate} or by Boot's jOOQ
 * {@code DSLContext} in a {@code @Transactional} method, and an append outside a transaction writes nothing.
 */
@ExtendWith(OutboxBridgeExtension.class)
class SpringOutboxIT {

    @BeforeEach
    void ordersTable(TestDatabase db) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE orders (id text PRIMARY KEY)");
        }
    }

    @Test
    void jdbcTemplateTransactionCommitsTheOrderAndItsEventTogether(TestDatabase db) throws Exception {
        try (ConfigurableApplicationContext app = TestApplications.run(OrdersApp.class, TestApplications.database(db))) {
            app.getBean(JdbcOrders.class).place("o-1", false);
            assertThatThrownBy(() -> app.getBean(JdbcOrders.class).place("o-2", true)).hasMessageContaining("rejected");
        }
        assertThat(db.count("SELECT count(*) FROM orders WHERE id = 'o-1'")).isEqualTo(1);
        assertThat(db.count("SELECT count(*) FROM outbox_event WHERE aggregateid = 'o-1'")).isEqualTo(1);
        assertThat(db.count("SELECT count(*) FROM orders WHERE id = 'o-2'")).isZero();
        assertThat(db.count("SELECT count(*) FROM outbox_event WHERE aggregateid = 'o-2'")).isZero();
    }

    @Test
    void jooqTransactionCommitsTheOrderAndItsEventTogether(TestDatabase db) throws Exception {
        try (ConfigurableApplicationContext app = TestApplications.run(OrdersApp.class, TestApplications.database(db))) {
            app.getBean(JooqOrders.class).place("j-1", false);
            assertThatThrownBy(() -> app.getBean(JooqOrders.class).place("j-2", true)).hasMessageContaining("rejected");
        }
        assertThat(db.count("SELECT count(*) FROM orders WHERE id = 'j-1'")).isEqualTo(1);
        assertThat(db.count("SELECT count(*) FROM outbox_event WHERE aggregateid = 'j-1'")).isEqualTo(1);
        assertThat(db.count("SELECT count(*) FROM orders WHERE id = 'j-2'")).isZero();
        assertThat(db.count("SELECT count(*) FROM outbox_event WHERE aggregateid = 'j-2'")).isZero();
    }

    @Test
    void transactionTemplateRollbackLeavesNoOutboxRow(TestDatabase db) throws Exception {
        try (ConfigurableApplicationContext app = TestApplications.run(OrdersApp.class, TestApplications.database(db))) {
            SpringOutbox outbox = app.getBean(SpringOutbox.class);
            JdbcTemplate jdbc = app.getBean(JdbcTemplate.class);
            app.getBean(TransactionTemplate.class).executeWithoutResult(status -> {
                jdbc.update("INSERT INTO orders (id) VALUES ('t-1')");
                outbox.append(OutboxEvent.of("order", "t-1", "OrderPlaced", "{}"));
                status.setRollbackOnly();
            });
        }
        assertThat(db.count("SELECT count(*) FROM orders")).isZero();
        assertThat(db.count("SELECT count(*) FROM outbox_event")).isZero();
    }

    @Test
    void appendOutsideATransactionWritesNothing(TestDatabase db) throws Exception {
        try (ConfigurableApplicationContext app = TestApplications.run(OrdersApp.class, TestApplications.database(db))) {
            SpringOutbox outbox = app.getBean(SpringOutbox.class);
            assertThatThrownBy(() -> outbox.append(OutboxEvent.of("order", "x", "OrderPlaced", "{}")))
                    .isInstanceOf(NotInTransactionException.class).hasMessageContaining("@Transactional");
        }
        assertThat(db.count("SELECT count(*) FROM outbox_event")).isZero();
    }

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class OrdersApp {
        @Bean
        JdbcOrders jdbcOrders(JdbcTemplate jdbc, SpringOutbox outbox) {
            return new JdbcOrders(jdbc, outbox);
        }

        @Bean
        JooqOrders jooqOrders(DSLContext dsl, SpringOutbox outbox) {
            return new JooqOrders(dsl, outbox);
        }
    }

    /** A service as a user writes it: JdbcTemplate and the outbox in one @Transactional method. */
    static class JdbcOrders {
        private final JdbcTemplate jdbc;
        private final SpringOutbox outbox;

        JdbcOrders(JdbcTemplate jdbc, SpringOutbox outbox) {
            this.jdbc = jdbc;
            this.outbox = outbox;
        }

        @Transactional
        public void place(String id, boolean rejectAfterAppend) {
            jdbc.update("INSERT INTO orders (id) VALUES (?)", id);
            outbox.append(OutboxEvent.of("order", id, "OrderPlaced", "{\"id\":\"" + id + "\"}"));
            if (rejectAfterAppend) {
                throw new IllegalStateException("order " + id + " rejected");
            }
        }
    }

    /** The same with Boot's jOOQ DSLContext (Spring transaction provider). */
    static class JooqOrders {
        private final DSLContext dsl;
        private final SpringOutbox outbox;

        JooqOrders(DSLContext dsl, SpringOutbox outbox) {
            this.dsl = dsl;
            this.outbox = outbox;
        }

        @Transactional
        public void place(String id, boolean rejectAfterAppend) {
            dsl.insertInto(DSL.table("orders"), DSL.field("id")).values(id).execute();
            outbox.append(OutboxEvent.of("order", id, "OrderPlaced", "{\"id\":\"" + id + "\"}"));
            if (rejectAfterAppend) {
                throw new IllegalStateException("order " + id + " rejected");
            }
        }
    }
}
