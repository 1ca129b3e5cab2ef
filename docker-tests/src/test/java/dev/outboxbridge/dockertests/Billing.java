package dev.outboxbridge.dockertests;

import dev.outboxbridge.demo.DemoRun;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;

/**
 * The consuming side of both tests: the demo's billing service (a running total per order, not
 * idempotent, so only the inbox keeps it right) consuming through consumer-inbox, with each applied
 * effect numbered so the order of application per order can be checked.
 */
final class Billing {

    private Billing() {
    }

    /** The demo's billing tables, plus {@code applied_seq}: the order in which effects were inserted. */
    static void createSchema(TestDatabase billing) throws SQLException {
        DemoRun.createBillingSchema(billing);
        try (Connection c = billing.connect(); Statement s = c.createStatement()) {
            s.execute("ALTER TABLE " + DemoRun.EFFECTS_TABLE + " ADD COLUMN applied_seq bigserial");
        }
    }

    /** An inbox consumer applying {@link DemoRun#applyToLedger} to the billing database; the caller starts and closes it. */
    static InboxConsumer consumer(DataSource billing, TestKafka ns, String topic) {
        Map<String, Object> kafka = new HashMap<>();
        kafka.put("bootstrap.servers", ns.bootstrapServers());
        kafka.put("group.id", ns.topic("billing"));
        kafka.put("auto.offset.reset", "earliest");
        return InboxConsumer.builder()
                .consumerName("billing")
                .kafkaProperties(kafka)
                .topics(List.of(topic))
                .dataSource(billing)
                .handler(DemoRun::applyToLedger)
                .deadLetterTopic(ns.topic(DemoRun.DEAD_LETTER_TOPIC))
                .build();
    }

    /**
     * Per order, the versions in the order their effects were applied must be 1, 2, 3, ...: the
     * workload bumps an order's version by one per committed event, so that is commit order. Returns
     * the orders where it is not (at most ten), empty when every order was applied in order.
     */
    static List<String> applyOrderViolations(DataSource billing) throws SQLException {
        List<String> violations = new ArrayList<>();
        try (Connection c = billing.getConnection(); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT order_id, array_agg(version ORDER BY applied_seq)::text FROM "
                        + DemoRun.EFFECTS_TABLE + " GROUP BY order_id ORDER BY order_id")) {
            while (rs.next()) {
                String applied = rs.getString(2);
                String[] versions = applied.substring(1, applied.length() - 1).split(",");
                for (int i = 0; i < versions.length; i++) {
                    if (Integer.parseInt(versions[i]) != i + 1) {
                        if (violations.size() < 10) {
                            violations.add(rs.getString(1) + " applied as " + applied);
                        }
                        break;
                    }
                }
            }
        }
        return violations;
    }
}
