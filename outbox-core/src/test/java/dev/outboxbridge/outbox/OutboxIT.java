package dev.outboxbridge.outbox;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.db.SchemaCheck;
import dev.outboxbridge.db.SchemaMismatchException;
import dev.outboxbridge.db.TableName;
import dev.outboxbridge.outbox.jooq.JooqOutbox;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.jooq.DSLContext;
import org.jooq.SQLDialect;
import org.jooq.impl.DSL;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** outbox-core against a real PostgreSQL with the shipped migrations. */
@ExtendWith(OutboxBridgeExtension.class)
class OutboxIT {

    private final Outbox outbox = Outbox.create(OutboxConfig.defaults());

    @Test
    void appendsInTheCallersTransactionAndCommitsWithIt(TestDatabase db) throws Exception {
        UUID id;
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            id = outbox.append(c, OutboxEvent.builder().aggregateType("order").aggregateId("o-1").type("OrderPlaced")
                    .payload("{\"total\":10}").header("traceparent", "00-abc-def-01").build());
            assertThat(db.count("SELECT count(*) FROM outbox_event")).as("invisible before commit").isZero();
            c.commit();
        }
        assertThat(id.version()).isEqualTo(7);
        try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(
                "SELECT aggregatetype, aggregateid, type, payload, headers->>'traceparent' FROM outbox_event WHERE id = ?")) {
            ps.setObject(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("order");
                assertThat(rs.getString(2)).isEqualTo("o-1");
                assertThat(rs.getString(3)).isEqualTo("OrderPlaced");
                assertThat(new String(rs.getBytes(4), StandardCharsets.UTF_8)).isEqualTo("{\"total\":10}");
                assertThat(rs.getString(5)).isEqualTo("00-abc-def-01");
            }
        }
    }

    @Test
    void rollbackLeavesNoEvent(TestDatabase db) throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            outbox.append(c, OutboxEvent.of("order", "o-1", "OrderPlaced", "{}"));
            c.rollback();
        }
        assertThat(db.count("SELECT count(*) FROM outbox_event")).isZero();
    }

    @Test
    void refusesAutoCommitConnectionsAndWritesNothing(TestDatabase db) throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(true);
            assertThatThrownBy(() -> outbox.append(c, OutboxEvent.of("order", "o-1", "OrderPlaced", "{}")))
                    .isInstanceOf(NotInTransactionException.class)
                    .hasMessageContaining("auto-commit")
                    .hasMessageContaining("setAutoCommit(false)");
        }
        assertThat(db.count("SELECT count(*) FROM outbox_event")).isZero();
    }

    @Test
    void appendAllWritesInOrderWithSuppliedAndGeneratedIds(TestDatabase db) throws Exception {
        UUID supplied = UUID.randomUUID();
        List<OutboxEvent> events = new ArrayList<>();
        events.add(OutboxEvent.builder().id(supplied).aggregateType("order").aggregateId("o-1").type("A").payload("1").build());
        for (int i = 2; i <= 100; i++) {
            events.add(OutboxEvent.of("order", "o-1", "A", String.valueOf(i)));
        }
        List<UUID> ids;
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            ids = outbox.appendAll(c, events);
            c.commit();
        }
        assertThat(ids).hasSize(100).first().isEqualTo(supplied);
        assertThat(ids).doesNotHaveDuplicates();
        assertThat(db.count("SELECT count(*) FROM outbox_event")).isEqualTo(100);
    }

    @Test
    void oneInvalidEventInABatchWritesNothing(TestDatabase db) throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            List<OutboxEvent> events = List.of(OutboxEvent.of("order", "o-1", "A", "{}"), OutboxEvent.of("bad topic", "o-1", "A", "{}"));
            assertThatThrownBy(() -> outbox.appendAll(c, events)).isInstanceOf(InvalidOutboxEventException.class)
                    .hasMessageContaining("bad topic");
            c.commit();
        }
        assertThat(db.count("SELECT count(*) FROM outbox_event")).isZero();
    }

    @Test
    void aDuplicateSuppliedIdFailsTheAppendAndTheTransactionDecides(TestDatabase db) throws Exception {
        UUID id = UUID.randomUUID();
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            outbox.append(c, OutboxEvent.builder().id(id).aggregateType("order").aggregateId("o").type("A").payload("1").build());
            c.commit();
            assertThatThrownBy(() -> outbox.append(c, OutboxEvent.builder().id(id).aggregateType("order").aggregateId("o")
                    .type("A").payload("2").build()))
                    .isInstanceOf(OutboxException.class).hasMessageContaining("23505").hasMessageContaining("roll it back");
            c.rollback();
        }
        assertThat(db.count("SELECT count(*) FROM outbox_event")).isEqualTo(1);
    }

    @Test
    void jooqAppendJoinsTheJooqTransaction(TestDatabase db) throws Exception {
        DSLContext dsl = DSL.using(db.dataSource(), SQLDialect.POSTGRES);
        JooqOutbox jooqOutbox = new JooqOutbox(outbox);
        dsl.execute("CREATE TABLE orders (id text primary key)");
        dsl.transaction(cfg -> {
            DSLContext tx = cfg.dsl();
            tx.execute("INSERT INTO orders VALUES ('o-9')");
            jooqOutbox.append(tx, OutboxEvent.of("order", "o-9", "OrderPlaced", "{}"));
        });
        assertThat(db.count("SELECT count(*) FROM outbox_event WHERE aggregateid = 'o-9'")).isEqualTo(1);

        assertThatThrownBy(() -> dsl.transaction(cfg -> {
            cfg.dsl().execute("INSERT INTO orders VALUES ('o-10')");
            jooqOutbox.append(cfg.dsl(), OutboxEvent.of("order", "o-10", "OrderPlaced", "{}"));
            throw new IllegalStateException("business rule failed");
        })).hasMessageContaining("business rule failed");
        assertThat(db.count("SELECT count(*) FROM outbox_event WHERE aggregateid = 'o-10'")).isZero();
        assertThat(db.count("SELECT count(*) FROM orders WHERE id = 'o-10'")).isZero();
    }

    @Test
    void jooqOutsideATransactionIsRefused(TestDatabase db) {
        DSLContext dsl = DSL.using(db.dataSource(), SQLDialect.POSTGRES);
        assertThatThrownBy(() -> new JooqOutbox(outbox).append(dsl, OutboxEvent.of("order", "o", "A", "{}")))
                .isInstanceOf(NotInTransactionException.class);
    }

    @Test
    void schemaCheckSaysWhatIsMissing(TestDatabase db) throws Exception {
        try (Connection c = db.connect()) {
            SchemaCheck.requireOutboxTable(c, TableName.parse("public.outbox_event"));
            assertThatThrownBy(() -> SchemaCheck.requireOutboxTable(c, TableName.parse("public.no_such_table")))
                    .isInstanceOf(SchemaMismatchException.class).hasMessageContaining("does not exist").hasMessageContaining("migrations");
            try (Statement s = c.createStatement()) {
                s.execute("CREATE TABLE half_outbox (id uuid primary key, aggregatetype text, payload bytea)");
            }
            assertThatThrownBy(() -> SchemaCheck.requireOutboxTable(c, TableName.parse("half_outbox")))
                    .isInstanceOf(SchemaMismatchException.class)
                    .hasMessageContaining("'aggregateid' (varchar) is missing")
                    .hasMessageContaining("'aggregatetype' is text, expected varchar");
        }
    }
}
