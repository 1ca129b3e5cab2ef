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
        int code = BenchMain.run("--events", "1500", "--warmup-events", "0", "--drain-rounds", "2", "--aggregates", "100", "--poll-batch-sizes", "100,500", "--rates", "200",
                "--latency-warmup-seconds", "0", "--latency-seconds", "2", "--latency-rounds", "2", "--write-seconds", "1", "--write-rounds", "1",
                "--inbox-events", "400", "--inbox-per-record-events", "100", "--timeout-seconds", "120", "--out", out.toString());

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
