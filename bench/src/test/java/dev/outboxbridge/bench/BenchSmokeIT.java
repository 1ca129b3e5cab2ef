package dev.outboxbridge.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the benchmark command end to end with tiny sizes and checks what it wrote: every
 * contender published every event, and the JSON, Markdown and PNG files exist. No timing is
 * asserted: benchmarks are not tests.
 */
class BenchSmokeIT {

    @TempDir
    Path out;

    @Test
    void theCommandRunsEveryDefaultScenarioAndWritesJsonMarkdownAndCharts() throws Exception {
        int code = BenchMain.run("--scenarios", "drain,latency,write,inbox,order,steady", "--events", "1500", "--warmup-events", "0", "--drain-rounds", "2",
                "--aggregates", "100", "--poll-batch-sizes", "100,500", "--rates", "200",
                "--latency-warmup-seconds", "0", "--latency-seconds", "2", "--latency-rounds", "2", "--idle-seconds", "1", "--write-seconds", "1", "--write-rounds", "1",
                "--inbox-events", "400", "--inbox-per-record-events", "100", "--order-events", "600", "--order-writers", "2", "--order-aggregates", "4",
                "--steady-events", "1500", "--steady-rounds", "2", "--timeout-seconds", "120", "--out", out.toString());

        assertThat(code).as("exit code").isZero();
        JsonNode r = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertThat(r.path("machine").path("cpus").asInt()).isPositive();
        assertThat(r.path("settings").path("events").asLong()).isEqualTo(1500);

        JsonNode drain = r.path("drain");
        assertThat(drain.has("error")).as("drain error: %s", drain.path("error")).isFalse();
        for (String c : new String[] {"relay", "relay_exactly_once", "debezium", "polling"}) {
            assertThat(drain.path(c).path("published").asLong()).as(c + " published").isEqualTo(1500);
            assertThat(drain.path(c).path("events_per_s").asLong()).as(c + " rate").isPositive();
        }
        assertThat(drain.path("relay").path("round_events_per_s").size()).as("ABBA rounds").isEqualTo(2);
        assertThat(drain.path("debezium").path("round_events_per_s").size()).as("ABBA rounds").isEqualTo(2);
        assertThat(drain.path("relay_exactly_once").path("round_events_per_s").size()).as("exactly-once rounds, interleaved").isEqualTo(2);
        assertThat(drain.path("relay").path("median_of_rounds").asInt()).isEqualTo(2);
        assertThat(drain.path("relay").path("min_events_per_s").asLong()).isLessThanOrEqualTo(drain.path("relay").path("max_events_per_s").asLong());
        assertThat(drain.path("relay").path("profile").path("samples").asLong()).as("JFR samples").isPositive();
        assertThat(drain.path("limit_decoding").path("events").asLong()).isEqualTo(1500);
        assertThat(drain.path("limit_producer").path("events").asLong()).isEqualTo(1500);
        assertThat(drain.path("polling").path("trials").size()).isEqualTo(2);

        JsonNode latency = r.path("latency");
        assertThat(latency.has("error")).as("latency error: %s", latency.path("error")).isFalse();
        for (String c : new String[] {"relay", "relay_exactly_once", "debezium", "polling"}) {
            JsonNode f = latency.path(c).path("200");
            assertThat(f.path("events").asLong()).as(c + " events written").isEqualTo(400);
            assertThat(f.path("missing_acks").asLong()).as(c + " events never acknowledged").isZero();
            assertThat(f.path("commit_to_ack").path("count").asLong()).as(c + " recorded").isEqualTo(400);
            assertThat(f.path("commit_to_visible").path("count").asLong()).as(c + " seen by the read_committed reader").isEqualTo(400);
            assertThat(f.path("round_p99_ms").size()).as(c + " latency rounds").isEqualTo(2);
        }

        // issue 12, fairness: the database CPU of each contender's own sessions at load and while idle (figures present and sane)
        for (String c : new String[] {"relay", "relay_exactly_once", "debezium", "polling"}) {
            JsonNode f = latency.path(c).path("200");
            assertThat(f.path("db_cpu").path("sessions").asInt()).as(c + ": its own database sessions found (walsender or poller)").isPositive();
            assertThat(f.path("db_cpu").path("cpu_us_per_event").isNumber()).as(c + " database CPU per event: %s", f.path("db_cpu")).isTrue();
            assertThat(f.path("db_cpu").path("cpu_us_per_event").asDouble()).isGreaterThanOrEqualTo(0);
            assertThat(f.path("idle_db_cpu").path("cpu_ms_per_s").asDouble(-1)).as(c + " idle database CPU: %s", f.path("idle_db_cpu"))
                    .isGreaterThanOrEqualTo(0);
            assertThat(f.path("idle_db_cpu").path("wall_s").asDouble()).as(c + " idle window").isGreaterThanOrEqualTo(1);
            assertThat(f.path("round_db_cpu_cpu_us_per_event").size()).as(c + " database CPU of each round").isEqualTo(2);
        }
        assertThat(latency.path("relay").path("200").path("db_cpu").path("walsender_cpu_s").isNumber()).as("the relay's walsender measured").isTrue();
        JsonNode after = drain.path("polling").path("table_after_run");
        assertThat(after.path("dead_tuples").isNumber()).as("dead tuples the poller left: %s", after).isTrue();
        assertThat(after.path("table_bytes_after").asLong()).isPositive();

        // issue 12, fairness: per-aggregate order with concurrent writers; a log-based relay follows commit order
        JsonNode order = r.path("order");
        assertThat(order.has("error")).as("order error: %s", order.path("error")).isFalse();
        assertThat(order.path("writing").path("events").asLong()).isEqualTo(600);
        assertThat(order.path("writing").path("start_order_inversions").isNumber()).isTrue();
        for (String c : new String[] {"relay", "debezium", "polling"}) {
            JsonNode f = order.path(c);
            assertThat(f.path("events_read").asLong()).as(c + " events read back").isEqualTo(600);
            assertThat(f.path("missing").asLong()).as(c + " missing").isZero();
            assertThat(f.path("aggregates").asInt()).as(c + " aggregates").isEqualTo(4);
            assertThat(f.path("order_violations").isNumber()).as(c + " order violations counted").isTrue();
        }
        assertThat(order.path("relay").path("order_violations").asLong()).as("the relay publishes each aggregate in commit order").isZero();
        assertThat(order.path("debezium").path("order_violations").asLong()).as("the log-based peer too").isZero();

        // issue 12: the steady-state drain of one backlog, relay and peer
        JsonNode steady = r.path("steady");
        assertThat(steady.has("error")).as("steady error: %s", steady.path("error")).isFalse();
        for (String c : new String[] {"relay", "debezium"}) {
            assertThat(steady.path(c).path("published").asLong()).as(c + " published (steady)").isEqualTo(1500);
            assertThat(steady.path(c).path("steady_events_per_s").asLong()).as(c + " steady rate").isPositive();
            assertThat(steady.path(c).path("cpu_us_per_event").asDouble()).as(c + " CPU per event").isPositive();
            assertThat(steady.path(c).path("round_steady_events_per_s").size()).as(c + " steady rounds").isEqualTo(2);
        }

        for (String fsync : r.path("write").path("server_fsync").asText().split(",")) {
            JsonNode write = r.path("write").path("fsync_" + fsync).path("modes");
            assertThat(write.size()).as("write modes, fsync=" + fsync).isEqualTo(3);
            write.forEach(m -> assertThat(m.path("tx_per_s").asLong()).isPositive());
        }
        if (System.getenv("OUTBOX_TEST_PG_HOST") == null && !"testcontainers".equalsIgnoreCase(System.getenv("OUTBOX_TEST_SERVERS"))) {
            assertThat(r.path("write").has("fsync_on")).as("the testkit's durable-commit server (fsync=on) measured too").isTrue();
        }

        JsonNode inbox = r.path("inbox");
        assertThat(inbox.has("error")).as("inbox error: %s", inbox.path("error")).isFalse();
        assertThat(inbox.path("inbox_fresh").path("processed").asLong()).isEqualTo(400);
        assertThat(inbox.path("inbox_all_duplicates").path("duplicates").asLong()).isEqualTo(400);
        assertThat(inbox.path("inbox_all_duplicates").path("processed").asLong()).isZero();
        assertThat(inbox.path("inbox_fresh_per_record").path("processed").asLong()).as("stops at 100, may apply a few more")
                .isGreaterThanOrEqualTo(100);
        assertThat(inbox.path("no_dedup_batched").path("events").asLong()).isEqualTo(400);

        JsonNode cost = r.path("exactly_once_cost");
        assertThat(cost.path("drain_ratio").asDouble()).as("exactly-once vs at-least-once drain").isPositive();
        assertThat(cost.path("rate").asInt()).as("the exactly-once latency rate").isEqualTo(200);
        assertThat(cost.path("rule_met").isBoolean()).as("issue 13's rule judged: %s", cost).isTrue();

        assertThat(cost.path("drain_ratio_steady").asDouble()).as("exactly-once vs at-least-once, steady drain").isPositive();

        // issue 12's targets, computed from this run: a measured figure and a verdict for each; 1,000 events/s was not run
        JsonNode targets = r.path("issue_12_targets");
        assertThat(targets.size()).isEqualTo(7);
        for (JsonNode t : targets) {
            String target = t.path("target").asText();
            String verdict = t.path("verdict").asText();
            assertThat(verdict).as("verdict of %s", t).matches("met|met \\(stretch too\\)|missed|reported|not measured in this run \\(.+\\)");
            assertThat(t.path("ratio").isNull()).as("a ratio exactly when measured: %s", t).isEqualTo(verdict.startsWith("not measured"));
            if (target.startsWith("Commit→ack p99 at 1,000 events/s")) {
                assertThat(verdict).as("only 200 events/s ran: %s", t).startsWith("not measured in this run");
            }
            if (target.startsWith("Relay drain") || target.startsWith("Relay CPU") || target.startsWith("Steady-state")) {
                assertThat(t.path("ratio").asDouble()).as("measured in every run with the drain and steady scenarios: %s", t).isPositive();
            }
        }
        String md = Files.readString(out.resolve("results.md"));
        assertThat(md).contains("### Targets of issue 12", "### Issue 13: could exactly-once be the default?", "Exactly-once could be the default: ",
                "Per-aggregate order", "Steady-state drain of one backlog", "Fairness of the polling peer", "Database CPU of each contender");

        assertThat(r.path("targets").size()).isGreaterThanOrEqualTo(6);
        for (String file : new String[] {"results.md", "drain.png", "latency-200.png", "write.png", "inbox.png", "drain-relay.jfr"}) {
            assertThat(out.resolve(file)).as(file).exists();
            assertThat(Files.size(out.resolve(file))).as(file + " size").isPositive();
        }
    }

    @Test
    void theRetentionScenarioMeasuresEveryModeAndEachModeShrinksOrBoundsTheTable() throws Exception {
        int code = BenchMain.run("--scenarios", "retention", "--retention-events", "2000", "--retention-writers", "2",
                "--aggregates", "100", "--out", out.toString());

        assertThat(code).as("exit code").isZero();
        JsonNode r = new ObjectMapper().readTree(out.resolve("results.json").toFile()).path("retention");
        assertThat(r.has("error")).as("retention error: %s", r.path("error")).isFalse();
        JsonNode modes = r.path("modes");
        assertThat(modes.size()).isEqualTo(RetentionScenario.MODES.size());
        modes.forEach(m -> assertThat(m.path("events_per_s").asLong()).isPositive());
        assertThat(modes.path("keep rows (no retention)").path("after_cleanup_and_vacuum").path("rows").asLong()).isEqualTo(2000);
        assertThat(modes.path("delete in transaction").path("after_writing").path("rows").asLong()).isZero();
        for (String mode : new String[] {"cleanup job", "partitioned table"}) {
            assertThat(modes.path(mode).path("after_cleanup_and_vacuum").path("rows").asLong()).as(mode).isZero();
        }
        assertThat(modes.path("partitioned table").path("final_run").path("dropped_partitions").asInt()).isPositive();
        assertThat(out.resolve("retention.png")).exists();
    }
}
