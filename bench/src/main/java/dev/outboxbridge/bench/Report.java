package dev.outboxbridge.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The outputs: results.json, results.md, the PNG charts, and the console table. */
final class Report {

    /** A table: for the console and for Markdown. */
    record Table(String title, List<String> header, List<List<String>> rows, List<String> charts) {
    }

    private final Map<String, Object> results;
    private final List<Table> tables = new ArrayList<>();
    private final List<List<String>> targets = new ArrayList<>();
    private final List<List<String>> issue12 = new ArrayList<>();
    private final List<Map<String, Object>> issue12Json = new ArrayList<>();

    static final List<String> LATENCY_KINDS = List.of("relay", "relay_exactly_once", "debezium", "polling", "relay-tuned");
    static final Map<String, String> LATENCY_NAMES = Map.of("relay", RelayContender.NAME, "debezium", DebeziumRouterPeer.NAME, "polling",
            PollingPeer.NAME, "relay-tuned", RelayContender.NAME + ", poll.interval.ms=1, linger.ms=0", "relay_exactly_once",
            RelayContender.NAME_EXACTLY_ONCE);

    Report(Map<String, Object> results) {
        this.results = results;
        drain();
        latency();
        exactlyOnceCost();
        write();
        inbox();
        memory();
        retention();
        latencyDatabaseCpu();
        order();
        steadyDrain();
        fairness();
        issue12Targets();
        results.put("targets", targets.stream().map(t -> {
            Map<String, String> m = new LinkedHashMap<>();
            m.put("target", t.get(0));
            m.put("measured", t.get(1));
            m.put("verdict", t.get(2));
            return m;
        }).toList());
    }

    // ---------------------------------------------------------------- scenarios

    private void drain() {
        Map<String, Object> d = section("drain");
        if (d == null) {
            return;
        }
        double deb = num(d, "debezium", "events_per_s");
        double poll = num(d, "polling", "events_per_s");
        double jdbcDecoding = num(d, "limit_decoding", "events_per_s");
        double recvDecoding = num(d, "limit_decoding_pg_recvlogical", "events_per_s");
        double lim = Double.isNaN(recvDecoding) ? jdbcDecoding : Math.max(jdbcDecoding, recvDecoding);
        Map<String, Double> values = new LinkedHashMap<>();
        values.put("limit: raw pgoutput decoding, JDBC stream", jdbcDecoding);
        if (!Double.isNaN(recvDecoding)) {
            values.put("limit: raw pgoutput decoding, pg_recvlogical", recvDecoding);
        }
        values.put("limit: raw producer, pipelined", num(d, "limit_producer", "events_per_s"));
        values.put("limit: producer, batches of 2048 waited", num(d, "limit_producer_batched", "events_per_s"));
        values.put(RelayContender.NAME, num(d, "relay", "events_per_s"));
        if (d.get("relay_exactly_once") != null) {
            values.put(RelayContender.NAME_EXACTLY_ONCE, num(d, "relay_exactly_once", "events_per_s"));
        }
        values.put(DebeziumRouterPeer.NAME + " (peer 1)", deb);
        values.put(PollingPeer.NAME + ", batch " + d.get("polling_best_batch") + " (peer 2)", poll);
        List<List<String>> rows = new ArrayList<>();
        values.forEach((k, v) -> rows.add(List.of(k, fmt(v), steady(d, k), ratio(v, deb), ratio(v, poll), pct(v, lim), rounds(d, k))));
        if (d.get("polling") instanceof Map<?, ?> p && p.get("trials") instanceof Map<?, ?> trials) {
            trials.forEach((batch, f) -> rows.add(List.of("  polling trial, batch " + batch + " (" + fmt(num(p, "trials_on_rows")) + " rows)",
                    fmt(num(f, "events_per_s")), "", "", "", "", "")));
        }
        long n = (long) num(d, "backlog", "events");
        tables.add(new Table(String.format("Relay drain: backlog of %,d events, events/s from start to the last Kafka ack", n),
                List.of("figure", "events/s", "steady events/s", "÷ Debezium", "÷ polling", "÷ decoding limit (best of the two)", "rounds (events/s, in run order)"), rows,
                List.of("drain.png")));
        List<List<String>> cpuRows = new ArrayList<>();
        Map<String, String> cpuOf = new LinkedHashMap<>();
        cpuOf.put("limit_decoding", "raw decoding, JDBC stream");
        cpuOf.put("limit_decoding_pg_recvlogical", "raw decoding, pg_recvlogical");
        cpuOf.put("relay", RelayContender.NAME);
        cpuOf.put("relay_exactly_once", RelayContender.NAME_EXACTLY_ONCE);
        cpuOf.put("debezium", DebeziumRouterPeer.NAME);
        cpuOf.put("polling", PollingPeer.NAME);
        cpuOf.forEach((key, label) -> {
            Object c = get(d, key, "cpu");
            if (c == null) {
                return;
            }
            double jvm = num(c, "jvm_cpu_s");
            double pg = num(c, "postgres_cpu_s");
            double events = num(d, key, "events");
            Object pgProcs = get(c, "postgres_processes_cpu_s");
            cpuRows.add(List.of(label, fmt(num(c, "wall_s")), fmt(jvm), fmt(num(c, "jvm_jit_compile_ms") / 1000), fmt(num(c, "jvm_gc_ms") / 1000),
                    fmt(pg), pgProcs instanceof Map<?, ?> pm ? String.join(", ", pm.entrySet().stream()
                            .map(e -> e.getKey().toString().replace(" (logical decoding)", "").replace(" (SQL sessions)", "") + " " + e.getValue())
                            .toList()) : "", fmt((jvm + pg) * 1e6 / events),
                    get(d, key, "round_cpu_us_per_event") instanceof List<?> l ? String.join(" / ", l.stream().map(String::valueOf).toList()) : ""));
        });
        tables.add(new Table("Relay drain: where the CPU went (the median round; JVM = relay or peer + in-process Kafka broker)",
                List.of("contender", "wall s", "JVM CPU s", "JIT compiling s", "GC pause s", "PostgreSQL CPU s", "PostgreSQL by process",
                        "CPU µs per event", "CPU µs per event, each round"), cpuRows, List.of()));
        Object after = get(d, "polling", "table_after_run");
        if (after != null) {
            tables.add(new Table("Polling peer: what it leaves in the outbox table after draining the backlog (before autovacuum;"
                    + " the log-based relays read the WAL and leave the table as it was)",
                    List.of("live tuples", "dead tuples", "table + indexes before, MiB", "after, MiB", "statistics complete"),
                    List.of(List.of(fmt(num(after, "live_tuples")), fmt(num(after, "dead_tuples")),
                            String.format("%.1f", num(after, "table_bytes_before") / 1048576.0),
                            String.format("%.1f", num(after, "table_bytes_after") / 1048576.0), String.valueOf(get(after, "stats_complete")))),
                    List.of()));
        }
        List<List<String>> profileRows = new ArrayList<>();
        for (String key : List.of("relay", "debezium")) {
            Object prof = get(d, key, "profile");
            if (!(prof instanceof Map<?, ?>)) {
                continue;
            }
            String who = key.equals("relay") ? RelayContender.NAME : DebeziumRouterPeer.NAME;
            if (get(prof, "samples_by_thread_group") instanceof Map<?, ?> threads) {
                threads.entrySet().stream().limit(5).forEach(e -> profileRows.add(List.of(who, "thread", shorten(String.valueOf(e.getKey())),
                        String.valueOf(e.getValue()))));
            }
            if (get(prof, "pipeline_by_first_debezium_or_app_frame") instanceof Map<?, ?> frames) {
                frames.entrySet().stream().limit(10).forEach(e -> profileRows.add(List.of(who, "code", shorten(String.valueOf(e.getKey())),
                        String.valueOf(e.getValue()))));
            }
        }
        if (!profileRows.isEmpty()) {
            tables.add(new Table("Relay drain: JFR method profile of the last round (share of Java samples; \"code\" = first Debezium,"
                    + " PgJDBC, Connect or own frame on the stack, pipeline threads only, broker threads excluded)",
                    List.of("contender", "by", "where", "samples"), profileRows, List.of()));
        }
        Map<String, Number> chart = new LinkedHashMap<>();
        values.forEach(chart::put);
        Map<String, Integer> colors = new LinkedHashMap<>();
        values.keySet().forEach(k -> colors.put(k, k.startsWith("limit") ? 6 : k.startsWith("outbox") ? 0 : k.startsWith("Debezium") ? 1 : 2));
        charts.add(() -> Charts.bars(dir.resolve("drain.png"), String.format("Relay drain, %,d events (higher is better)", n), "events/s",
                chart, colors));
        double relay = num(d, "relay", "events_per_s");
        targets.add(List.of("Relay drain ≥ 1.5× Debezium EventRouter (stretch 2×)",
                String.format("%s events/s vs %s = %.2f×; %.1f%% of raw decoding", fmt(relay), fmt(deb), relay / deb, 100 * relay / lim),
                relay / deb >= 2 ? "met (stretch too)" : relay / deb >= 1.5 ? "met" : String.format("missed by %.0f%% (needs %s events/s)",
                        100 * (1 - relay / deb / 1.5), fmt(1.5 * deb))));
    }

    /** "a / b / c (min–max)" of a list of per-round figures, or "" for a single round. */
    private static String roundsOf(Object list) {
        if (!(list instanceof List<?> l) || l.size() < 2) {
            return "";
        }
        double min = l.stream().mapToDouble(x -> ((Number) x).doubleValue()).min().orElse(Double.NaN);
        double max = l.stream().mapToDouble(x -> ((Number) x).doubleValue()).max().orElse(Double.NaN);
        return String.join(" / ", l.stream().map(x -> fmt(((Number) x).doubleValue())).toList()) + " (" + fmt(min) + "–" + fmt(max) + ")";
    }

    /** The JSON key of a drain figure's contender, or null for the limits. */
    private static String drainKey(String figure) {
        return figure.equals(RelayContender.NAME_EXACTLY_ONCE) ? "relay_exactly_once" : figure.startsWith("outbox") ? "relay"
                : figure.startsWith("Debezium") ? "debezium" : figure.startsWith("polling") ? "polling" : null;
    }

    private static String rounds(Map<String, Object> d, String figure) {
        String key = drainKey(figure);
        if (key == null || !(get(d, key, "round_events_per_s") instanceof List<?> l) || l.size() < 2) {
            return "";
        }
        double min = l.stream().mapToDouble(x -> ((Number) x).doubleValue()).min().orElse(Double.NaN);
        double max = l.stream().mapToDouble(x -> ((Number) x).doubleValue()).max().orElse(Double.NaN);
        return "median of " + l.size() + ", min–max " + fmt(min) + "–" + fmt(max) + " ("
                + String.join(" / ", l.stream().map(x -> fmt(((Number) x).doubleValue())).toList()) + ")";
    }

    /** Drops package names and the random database names in Debezium's thread names. */
    private static String shorten(String s) {
        String t = s.replaceAll("\\b([a-z][a-z0-9_]*\\.)+(?=[A-Z])", "").replaceAll("bench_[a-z_]+_[a-zA-Z0-9]+", "<db>");
        return t.length() > 90 ? t.substring(0, 90) : t;
    }

    private static String steady(Map<String, Object> d, String figure) {
        String key = drainKey(figure);
        return key == null ? "" : fmt(num(d, key, "steady_events_per_s"));
    }

    private void latency() {
        Map<String, Object> l = section("latency");
        if (l == null) {
            return;
        }
        Map<String, String> names = Map.of("relay", RelayContender.NAME, "debezium", DebeziumRouterPeer.NAME, "polling", PollingPeer.NAME,
                "relay-tuned", RelayContender.NAME + ", poll.interval.ms=1, linger.ms=0", "relay_exactly_once", RelayContender.NAME_EXACTLY_ONCE);
        List<String> kinds = List.of("relay", "relay_exactly_once", "debezium", "polling", "relay-tuned");
        List<String> rates = new ArrayList<>();
        if (l.get("relay") instanceof Map<?, ?> m) {
            m.keySet().forEach(k -> rates.add(String.valueOf(k)));
        }
        List<List<String>> rows = new ArrayList<>();
        List<String> chartFiles = new ArrayList<>();
        for (String rate : rates) {
            double debP99 = num(l, "debezium", rate, "commit_to_ack", "p99_ms");
            double pollP99 = num(l, "polling", rate, "commit_to_ack", "p99_ms");
            Map<String, List<double[]>> curves = new LinkedHashMap<>();
            for (String kind : kinds) {
                Object f = get(l, kind, rate);
                if (f == null) {
                    continue;
                }
                double p99 = num(f, "commit_to_ack", "p99_ms");
                rows.add(List.of(rate, names.get(kind), fmt(num(f, "commit_to_ack", "p50_ms")), fmt(p99), fmt(num(f, "commit_to_ack", "p99_9_ms")),
                        fmt(num(f, "commit_to_ack", "max_ms")), fmt(num(f, "intended_to_ack", "p99_ms")), fmt(num(f, "commit_to_visible", "p99_ms")),
                        ratio(p99, debP99), ratio(p99, pollP99),
                        fmt(num(f, "events")) + (num(f, "missing_acks") > 0 ? " (" + fmt(num(f, "missing_acks")) + " missing)" : ""),
                        roundsOf(get(f, "round_p99_ms"))));
                curves.put(names.get(kind), curve(get(f, "commit_to_ack", "percentile_curve")));
            }
            String file = "latency-" + rate + ".png";
            chartFiles.add(file);
            charts.add(() -> Charts.percentiles(dir.resolve(file), "commit → Kafka ack at " + rate + " events/s (lower is better)", curves));
        }
        tables.add(new Table("Latency at steady load (open loop): commit → Kafka ack, ms", List.of("events/s", "contender", "p50", "p99",
                "p99.9", "max", "intended→ack p99", "commit→visible p99 (read_committed reader)", "p99 ÷ Debezium's", "p99 ÷ polling's", "events", "p99 of each round (median shown; min–max)"),
                rows, chartFiles));
        List<List<String>> consumerRows = new ArrayList<>();
        for (String rate : rates) {
            for (String kind : kinds) {
                Object h = get(l, kind, rate, "commit_to_consumer");
                if (h != null) {
                    consumerRows.add(List.of(rate, names.get(kind), fmt(num(h, "p50_ms")), fmt(num(h, "p99_ms")), fmt(num(h, "p99_9_ms")),
                            fmt(num(h, "max_ms")), fmt(num(h, "count"))));
                }
            }
        }
        if (!consumerRows.isEmpty()) {
            tables.add(new Table("Latency at steady load: commit → InboxConsumer handler (inside the inbox transaction), ms",
                    List.of("events/s", "contender", "p50", "p99", "p99.9", "max", "events"), consumerRows, List.of()));
        }
        String at = rates.contains("1000") ? "1000" : rates.isEmpty() ? null : rates.get(rates.size() / 2);
        if (at != null) {
            double p99 = num(l, "relay", at, "commit_to_ack", "p99_ms");
            double p999 = num(l, "relay", at, "commit_to_ack", "p99_9_ms");
            double pollP99 = num(l, "polling", at, "commit_to_ack", "p99_ms");
            targets.add(List.of("Commit→ack p99 ≤ 50 ms at " + at + " events/s", fmt(p99) + " ms",
                    p99 <= 50 ? "met" : String.format("missed by %s ms (%.1f×)", fmt(p99 - 50), p99 / 50)));
            targets.add(List.of("Commit→ack p99.9 ≤ 200 ms at " + at + " events/s", fmt(p999) + " ms",
                    p999 <= 200 ? "met" : String.format("missed by %s ms (%.1f×)", fmt(p999 - 200), p999 / 200)));
            targets.add(List.of("p99 ≤ 1/4 of the polling peer's at " + at + " events/s (default settings, medians of the rounds)",
                    String.format("%s ms vs %s ms = %.2f of it", fmt(p99), fmt(pollP99), p99 / pollP99),
                    p99 <= pollP99 / 4 ? "met" : String.format("missed: needs ≤ %s ms", fmt(pollP99 / 4))));
        }
    }

    /**
     * Issue 13: the cost of exactly-once, the relay with delivery.guarantee=exactly_once against the same relay at least
     * once, medians of the same interleaved rounds. Its rule: drain ≥ 0.9× and p99 within 5 ms at 1,000 events/s, the p99
     * taken commit → visible to a read_committed reader (for both), since a transaction's records are appended before it
     * commits. Also written to results.json as {@code exactly_once_cost}.
     */
    private void exactlyOnceCost() {
        Map<String, Object> d = section("drain");
        Map<String, Object> l = section("latency");
        boolean drained = d != null && d.get("relay_exactly_once") != null;
        String at = l == null || !(l.get("relay_exactly_once") instanceof Map<?, ?> m) || m.isEmpty() ? null : String.valueOf(m.keySet().iterator().next());
        if (!drained && at == null) {
            return;
        }
        Map<String, Object> cost = new LinkedHashMap<>();
        List<List<String>> rows = new ArrayList<>();
        Boolean drainMet = null;
        Boolean latencyMet = null;
        if (drained) {
            double eos = num(d, "relay_exactly_once", "events_per_s");
            double alo = num(d, "relay", "events_per_s");
            double r = eos / alo;
            // the rule uses the steady drain (first to last ack, medians of the rounds), as issue 12's targets do; from start shown too
            double eosSteady = medianOf(get(d, "relay_exactly_once", "round_steady_events_per_s"));
            double aloSteady = medianOf(get(d, "relay", "round_steady_events_per_s"));
            double rSteady = eosSteady / aloSteady;
            drainMet = Double.isNaN(rSteady) ? r >= 0.9 : rSteady >= 0.9;
            rows.add(List.of("drain, steady events/s (first to last ack; median of " + fmt(num(d, "relay", "median_of_rounds")) + ", each round) — the rule's figure",
                    fmt(eosSteady) + " (" + roundList(get(d, "relay_exactly_once", "round_steady_events_per_s")) + ")",
                    fmt(aloSteady) + " (" + roundList(get(d, "relay", "round_steady_events_per_s")) + ")",
                    String.format("%.2f×", rSteady), "≥ 0.90×", drainMet ? "met" : "missed"));
            rows.add(List.of("drain, events/s from start (incl. engine start-up; median of " + fmt(num(d, "relay", "median_of_rounds")) + ", min–max)",
                    fmt(eos) + " (" + fmt(num(d, "relay_exactly_once", "min_events_per_s")) + "–" + fmt(num(d, "relay_exactly_once", "max_events_per_s")) + ")",
                    fmt(alo) + " (" + fmt(num(d, "relay", "min_events_per_s")) + "–" + fmt(num(d, "relay", "max_events_per_s")) + ")",
                    String.format("%.2f×", r), "", ""));
            cost.put("drain_steady_events_per_s_exactly_once", eosSteady);
            cost.put("drain_steady_events_per_s_at_least_once", aloSteady);
            cost.put("drain_ratio_steady", Math.round(rSteady * 1000) / 1000.0);
            rows.add(List.of("drain, CPU µs per event, each round", roundList(get(d, "relay_exactly_once", "round_cpu_us_per_event")),
                    roundList(get(d, "relay", "round_cpu_us_per_event")), "", "", ""));
            cost.put("drain_events_per_s_exactly_once", eos);
            cost.put("drain_events_per_s_at_least_once", alo);
            cost.put("drain_rounds_exactly_once", get(d, "relay_exactly_once", "round_events_per_s"));
            cost.put("drain_rounds_at_least_once", get(d, "relay", "round_events_per_s"));
            cost.put("drain_ratio", Math.round(r * 1000) / 1000.0);
            cost.put("drain_rule", "exactly_once ≥ 0.9 × at_least_once (medians of the steady drain, first to last ack)");
            cost.put("drain_met", drainMet);
        }
        if (at != null) {
            double eos = num(l, "relay_exactly_once", at, "median_visible_p99_ms");
            double alo = num(l, "relay", at, "median_visible_p99_ms");
            latencyMet = eos - alo <= 5;
            rows.add(List.of("commit→visible p99 at " + at + " events/s, ms (read_committed reader; median of "
                    + fmt(num(l, "relay", at, "median_of_rounds")) + ", each round)",
                    fmt(eos) + " (" + roundList(get(l, "relay_exactly_once", at, "round_visible_p99_ms")) + ")",
                    fmt(alo) + " (" + roundList(get(l, "relay", at, "round_visible_p99_ms")) + ")",
                    String.format("%+.1f ms", eos - alo), "≤ +5 ms", latencyMet ? "met" : "missed"));
            rows.add(List.of("commit→visible p50 at " + at + " events/s, ms (median of the rounds)", fmt(num(l, "relay_exactly_once", at, "median_visible_p50_ms")),
                    fmt(num(l, "relay", at, "median_visible_p50_ms")),
                    String.format("%+.1f ms", num(l, "relay_exactly_once", at, "median_visible_p50_ms") - num(l, "relay", at, "median_visible_p50_ms")), "", ""));
            rows.add(List.of("commit→ack (broker append time) p99 at " + at + " events/s, ms (median of the rounds; before the commit for exactly_once)",
                    fmt(num(l, "relay_exactly_once", at, "commit_to_ack", "p99_ms")), fmt(num(l, "relay", at, "commit_to_ack", "p99_ms")), "", "", ""));
            cost.put("rate", Integer.parseInt(at));
            cost.put("visible_p99_ms_exactly_once", eos);
            cost.put("visible_p99_ms_at_least_once", alo);
            cost.put("visible_p99_rounds_exactly_once", get(l, "relay_exactly_once", at, "round_visible_p99_ms"));
            cost.put("visible_p99_rounds_at_least_once", get(l, "relay", at, "round_visible_p99_ms"));
            cost.put("visible_p99_difference_ms", Math.round((eos - alo) * 10) / 10.0);
            cost.put("latency_rule", "exactly_once p99 ≤ at_least_once p99 + 5 ms, commit → visible to a read_committed reader (medians)");
            cost.put("latency_met", latencyMet);
        }
        boolean both = drainMet != null && latencyMet != null;
        boolean met = both && drainMet && latencyMet;
        cost.put("rule", "issue 13: if drain ≥ 0.9× and p99 within 5 ms at 1,000 events/s, make exactly_once the default");
        cost.put("rule_met", both ? met : null);
        results.put("exactly_once_cost", cost);
        tables.add(new Table("Issue 13: the cost of exactly-once (delivery.guarantee=exactly_once vs at_least_once, the same relay, interleaved rounds)",
                List.of("figure", "exactly_once", "at_least_once", "exactly_once vs at_least_once", "rule", "verdict"), rows, List.of()));
        targets.add(List.of("Issue 13: exactly-once drain ≥ 0.9× and commit→visible p99 within 5 ms of at-least-once"
                + (at == null ? "" : " at " + at + " events/s") + " (then exactly_once becomes the default)",
                (drainMet == null ? "drain not measured" : "drain " + cost.get("drain_ratio_steady") + "× steady (" + cost.get("drain_ratio") + "× from start)")
                        + (latencyMet == null ? ", latency not measured" : String.format(", p99 %+.1f ms", (Double) cost.get("visible_p99_difference_ms"))),
                !both ? "not judged (both scenarios needed)" : met ? "met" : "missed (" + (drainMet ? "" : "drain") + (!drainMet && !latencyMet ? ", " : "")
                        + (latencyMet ? "" : "p99") + ")"));
    }

    private static String roundList(Object o) {
        return o instanceof List<?> l ? String.join(" / ", l.stream().map(x -> x instanceof Number n ? fmt(n.doubleValue()) : "n/a").toList()) : "";
    }

    private void write() {
        Map<String, Object> w = section("write");
        if (w == null) {
            return;
        }
        List<List<String>> rows = new ArrayList<>();
        Map<String, Number> chart = new LinkedHashMap<>();
        Map<String, Integer> colors = new LinkedHashMap<>();
        for (String fsync : List.of("off", "on")) {
            Object modes = get(w, "fsync_" + fsync, "modes");
            if (!(modes instanceof Map<?, ?> mm)) {
                continue;
            }
            double base = num(mm, WriteScenario.MODES.get(0), "tx_per_s");
            int i = 0;
            for (Map.Entry<?, ?> e : mm.entrySet()) {
                double v = num(e.getValue(), "tx_per_s");
                rows.add(List.of("fsync=" + fsync, String.valueOf(e.getKey()), fmt(v), ratio(v, base), String.valueOf(get(e.getValue(), "rounds"))));
                String label = e.getKey() + " (fsync=" + fsync + ")";
                chart.put(label, v);
                colors.put(label, i++ == 0 ? 6 : fsync.equals("on") ? 1 : 0);
            }
            double with = num(mm, WriteScenario.MODES.get(1), "tx_per_s");
            targets.add(List.of("Business tx throughput with the outbox ≥ 0.90× without (fsync=" + fsync + ")",
                    String.format("%.2f× (%s vs %s tx/s)", with / base, fmt(with), fmt(base)),
                    with / base >= 0.9 ? "met" : String.format("missed by %.2f", 0.9 - with / base)));
        }
        tables.add(new Table("Write overhead: business transactions per second", List.of("server", "mode", "tx/s", "÷ business only",
                "per round"), rows, List.of("write.png")));
        charts.add(() -> Charts.bars(dir.resolve("write.png"), "Business transactions/s with and without the outbox (higher is better)",
                "transactions/s", chart, colors));
    }

    private void inbox() {
        Map<String, Object> b = section("inbox");
        if (b == null) {
            return;
        }
        double plainBatched = num(b, "no_dedup_batched", "events_per_s");
        double plainPerRecord = num(b, "no_dedup_per_record", "events_per_s");
        Map<String, String> labels = new LinkedHashMap<>();
        labels.put("no_dedup_batched", "same handler, no dedup, 1 tx per poll batch");
        labels.put("inbox_fresh", "InboxConsumer (default batching), fresh events");
        labels.put("inbox_all_duplicates", "InboxConsumer (default batching), all-duplicate replay");
        labels.put("no_dedup_per_record", "same handler, no dedup, 1 tx per record");
        labels.put("inbox_fresh_per_record", "InboxConsumer maxBatchSize(1), fresh events");
        List<List<String>> rows = new ArrayList<>();
        Map<String, Number> chart = new LinkedHashMap<>();
        Map<String, Integer> colors = new LinkedHashMap<>();
        labels.forEach((k, label) -> {
            if (b.get(k) != null) {
                double v = num(b, k, "events_per_s");
                double twin = k.endsWith("per_record") ? plainPerRecord : plainBatched;
                rows.add(List.of(label, fmt(v), ratio(v, twin), fmt(num(b, k, "events"))));
                chart.put(label, Double.isNaN(v) ? 0 : v);
                colors.put(label, k.startsWith("no_dedup") ? 6 : 0);
            }
        });
        tables.add(new Table("Inbox: consumer events/s", List.of("variant", "events/s", "÷ its no-dedup twin", "events"), rows,
                List.of("inbox.png")));
        charts.add(() -> Charts.bars(dir.resolve("inbox.png"), "Consumer events/s (higher is better)", "events/s", chart, colors));
        double fresh = num(b, "inbox_fresh", "events_per_s");
        double freshOne = num(b, "inbox_fresh_per_record", "events_per_s");
        targets.add(List.of("Inbox ≥ 0.75× the no-dedup handler", String.format("batched: %.2f× (%s vs %s events/s); per record: %.2f× (%s vs %s)",
                fresh / plainBatched, fmt(fresh), fmt(plainBatched), freshOne / plainPerRecord, fmt(freshOne), fmt(plainPerRecord)),
                fresh / plainBatched >= 0.75 ? "met" : String.format("missed by %.2f", 0.75 - fresh / plainBatched)));
        targets.add(List.of("Inbox ≥ 5,000 events/s batched", fmt(fresh) + " events/s (default maxBatchSize)",
                fresh >= 5000 ? "met" : String.format("missed by %s events/s", fmt(5000 - fresh))));
    }

    private void memory() {
        Map<String, Object> m = section("memory");
        if (m == null) {
            return;
        }
        double heap = num(m, "peak_heap_used_mib");
        tables.add(new Table(String.format("Memory: relay child JVM (-Xmx%s) draining %,d events", m.get("xmx"), (long) num(m, "events")),
                List.of("figure", "value"), List.of(
                        List.of("events/s", fmt(num(m, "events_per_s"))),
                        List.of("peak heap used (before GC, from -Xlog:gc)", fmt(heap) + " MiB"),
                        List.of("heap after GC, max", fmt(num(m, "max_heap_after_gc_mib")) + " MiB"),
                        List.of("peak RSS (VmHWM)", fmt(num(m, "vm_hwm_mib")) + " MiB"),
                        List.of("GC pauses", fmt(num(m, "gc_pauses")) + ", total " + fmt(num(m, "gc_pause_ms_total")) + " ms")),
                List.of("memory.png")));
        if (m.get("timeline") instanceof Map<?, ?> timeline) {
            Map<String, List<double[]>> series = new LinkedHashMap<>();
            timeline.forEach((k, v) -> series.put(String.valueOf(k), curve(v)));
            charts.add(() -> Charts.lines(dir.resolve("memory.png"), "Relay child JVM while draining (MiB)", "MiB", series));
        }
        targets.add(List.of("Relay heap ≤ 512 MiB with a " + String.format("%,d", (long) num(m, "events")) + "-row backlog",
                fmt(heap) + " MiB peak used (VmHWM " + fmt(num(m, "vm_hwm_mib")) + " MiB)", heap <= 512 ? "met" : "missed by " + fmt(heap - 512) + " MiB"));
    }

    private void retention() {
        Map<String, Object> r = section("retention");
        if (r == null || !(r.get("modes") instanceof Map<?, ?> modes)) {
            return;
        }
        double base = num(modes, RetentionScenario.MODES.get(0), "events_per_s");
        List<List<String>> rows = new ArrayList<>();
        Map<String, Number> chart = new LinkedHashMap<>();
        Map<String, Integer> colors = new LinkedHashMap<>();
        int i = 0;
        for (Map.Entry<?, ?> e : modes.entrySet()) {
            Object m = e.getValue();
            double v = num(m, "events_per_s");
            rows.add(List.of(String.valueOf(e.getKey()), fmt(v), ratio(v, base), fmt(num(m, "wal_bytes_per_event")),
                    fmt(num(m, "after_writing", "size_mib")), fmt(num(m, "after_writing", "rows")),
                    fmt(num(m, "after_writing", "dead_tuples")), fmt(num(m, "after_cleanup_and_vacuum", "size_mib")),
                    fmt(num(m, "after_cleanup_and_vacuum", "rows"))));
            chart.put(String.valueOf(e.getKey()), Double.isNaN(v) ? 0 : v);
            colors.put(String.valueOf(e.getKey()), i++ == 0 ? 6 : 0);
        }
        tables.add(new Table(String.format("Retention: %,d events per mode", (long) num(modes, RetentionScenario.MODES.get(0), "events")),
                List.of("mode", "events/s", "÷ keep rows", "WAL bytes/event", "MiB after writing", "rows", "dead tuples",
                        "MiB after cleanup + VACUUM", "rows"), rows, List.of("retention.png")));
        charts.add(() -> Charts.bars(dir.resolve("retention.png"), "Outbox appends/s per retention mode (higher is better)",
                "events/s", chart, colors));
    }

    // ---------------------------------------------------------------- issue 12: fairness figures, order, steady drain, targets

    /** The database CPU of each contender's own sessions in the latency scenario (DatabaseCpu), at load and while idle. */
    private void latencyDatabaseCpu() {
        Map<String, Object> l = section("latency");
        if (l == null) {
            return;
        }
        List<List<String>> rows = new ArrayList<>();
        for (String kind : LATENCY_KINDS) {
            if (!(l.get(kind) instanceof Map<?, ?> byRate)) {
                continue;
            }
            byRate.forEach((rate, f) -> {
                if (get(f, "median_db_cpu_cpu_us_per_event") == null) {
                    return;
                }
                rows.add(List.of(String.valueOf(rate), LATENCY_NAMES.get(kind), fmt(num(f, "median_db_cpu_cpu_us_per_event")),
                        roundList(get(f, "round_db_cpu_cpu_us_per_event")),
                        fmt(num(f, "median_db_cpu_walsender_cpu_s")) + " / " + fmt(num(f, "median_db_cpu_backends_cpu_s")),
                        get(f, "median_idle_db_cpu_cpu_ms_per_s") == null ? "" : fmt(num(f, "median_idle_db_cpu_cpu_ms_per_s")),
                        roundList(get(f, "round_idle_db_cpu_cpu_ms_per_s"))));
            });
        }
        if (!rows.isEmpty()) {
            tables.add(new Table("Database CPU of each contender's own sessions (walsender and SQL sessions; the writers' sessions and"
                    + " PostgreSQL's background processes left out), medians of the latency rounds",
                    List.of("events/s", "contender", "CPU µs per event at this load", "each round", "walsender / SQL sessions CPU s (median)",
                            "idle: CPU ms per s, no writes (" + fmt(num(results, "settings", "idle_s")) + " s)", "idle, each round"),
                    rows, List.of()));
        }
    }

    private void order() {
        Map<String, Object> o = section("order");
        if (o == null) {
            return;
        }
        List<List<String>> rows = new ArrayList<>();
        Map<String, String> names = Map.of("relay", RelayContender.NAME, "debezium", DebeziumRouterPeer.NAME, "polling", PollingPeer.NAME);
        for (String kind : List.of("relay", "debezium", "polling")) {
            Object c = o.get(kind);
            if (c == null) {
                continue;
            }
            rows.add(List.of(names.get(kind), fmt(num(c, "events_read")), fmt(num(c, "order_violations")),
                    fmt(num(c, "aggregates_with_violations")) + " of " + fmt(num(c, "aggregates")), fmt(num(c, "largest_version_regression")),
                    fmt(num(c, "duplicates")), fmt(num(c, "missing"))));
        }
        Object w = o.get("writing");
        tables.add(new Table(String.format("Per-aggregate order: %s writers, %s transactions bumping %s shared aggregates (%s events, %s events/s);"
                        + " %s events had a transaction that started before the one of an earlier version (created_at order ≠ commit order)",
                fmt(num(results, "settings", "order_writers")), fmt(num(w, "transactions")), fmt(num(results, "settings", "order_aggregates")),
                fmt(num(w, "events")), fmt(num(w, "events_per_s")), fmt(num(w, "start_order_inversions"))),
                List.of("contender", "events read", "order violations (version lower than one published before it)", "aggregates affected",
                        "largest version regression", "duplicates", "missing"), rows, List.of()));
    }

    private void steadyDrain() {
        Map<String, Object> s = section("steady");
        if (s == null) {
            return;
        }
        double debSteady = steadyMedian(s, "debezium", "steady_events_per_s");
        double debCpu = steadyMedian(s, "debezium", "cpu_us_per_event");
        List<List<String>> rows = new ArrayList<>();
        for (String kind : List.of("relay", "debezium")) {
            Object f = s.get(kind);
            if (f == null) {
                continue;
            }
            double steady = steadyMedian(s, kind, "steady_events_per_s");
            double cpu = steadyMedian(s, kind, "cpu_us_per_event");
            rows.add(List.of(kind.equals("relay") ? RelayContender.NAME : DebeziumRouterPeer.NAME, fmt(num(f, "events_per_s")), fmt(steady)
                    + (get(f, "round_steady_events_per_s") instanceof List<?> l && l.size() > 1 ? " (" + roundList(l) + ")" : ""),
                    fmt(num(f, "late_events_per_s")), fmt(num(f, "first_ack_s")), fmt(cpu), ratio(steady, debSteady), ratio(cpu, debCpu)));
        }
        tables.add(new Table(String.format("Steady-state drain of one backlog of %,d events after the warm-up (%s; medians of the rounds,"
                        + " the other columns from the median round)", (long) num(s, "events"),
                num(s, "rounds") > 1 ? fmt(num(s, "rounds")) + " rounds, ABBA" : "one round each, relay first"),
                List.of("contender", "events/s from start", "steady events/s (first to last ack)",
                        "events/s of the last 90%", "first ack, s", "CPU µs per event (JVM incl. broker + PostgreSQL)", "steady ÷ Debezium's",
                        "CPU ÷ Debezium's"), rows, List.of()));
    }

    /** One row of issue 12's targets: figure, relay, reference, ratio, rule, verdict, and the same in results.json. */
    private void issue12Target(String target, String figure, String relay, String reference, double ratio, String ratioText, String rule,
            String verdict) {
        issue12.add(List.of(target, figure, relay, reference, ratioText, rule, verdict));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("target", target);
        m.put("figure", figure);
        m.put("relay", relay);
        m.put("reference", reference);
        m.put("ratio", Double.isNaN(ratio) ? null : Math.round(ratio * 1000) / 1000.0);
        m.put("rule", rule);
        m.put("verdict", verdict);
        issue12Json.add(m);
    }

    private String verdict(double ratio, boolean met, String missingHint) {
        return Double.isNaN(ratio) ? "not measured in this run (" + missingHint + ")" : met ? "met" : "missed";
    }

    /** Why a figure is missing: the scenario did not run (how to run it), failed, or ran and gave no figure. */
    private String why(String scenario, String howToRun) {
        Object v = results.get(scenario);
        return v == null ? howToRun : v instanceof Map<?, ?> m && m.containsKey("error") ? "the " + scenario + " scenario failed"
                : "the " + scenario + " scenario gave no figure for it, see its table";
    }

    /**
     * Issue 12's targets, each computed from this run's results (medians of the interleaved rounds), never written by hand:
     * "met", "missed" or "not measured in this run". The drain targets use the steady drain (first to last ack, no
     * engine start-up); the drain from start is shown beside it.
     */
    private void issue12Targets() {
        Map<String, Object> d = section("drain");
        double relayStart = num(d, "relay", "events_per_s");
        double debStart = num(d, "debezium", "events_per_s");
        double relaySteady = medianOf(get(d, "relay", "round_steady_events_per_s"));
        double debSteady = medianOf(get(d, "debezium", "round_steady_events_per_s"));
        String rounds = d == null ? "" : ", median of " + fmt(num(d, "relay", "median_of_rounds")) + " rounds";
        double r = relaySteady / debSteady;
        issue12Target("Relay drain vs the Debezium EventRouter peer", "steady events/s (first to last Kafka ack)" + rounds
                        + "; from start (incl. engine start-up) in brackets",
                fmt(relaySteady) + " (from start " + fmt(relayStart) + ")", fmt(debSteady) + " (from start " + fmt(debStart) + ")", r,
                ratioNear(r, 1.5) + (Double.isNaN(r) ? "" : " (from start " + ratio(relayStart, debStart) + ")"),
                "≥ 1.5× (stretch 2×)", Double.isNaN(r) ? verdict(r, false, why("drain", "--scenarios drain")) : r >= 2 ? "met (stretch too)" : verdict(r, r >= 1.5, ""));
        double relayCpu = medianOf(get(d, "relay", "round_cpu_us_per_event"));
        double debCpu = medianOf(get(d, "debezium", "round_cpu_us_per_event"));
        double c = relayCpu / debCpu;
        issue12Target("Relay CPU per event vs the peer's", "CPU µs per event (JVM incl. in-process broker + PostgreSQL), drain, median of the rounds",
                fmt(relayCpu) + " µs", fmt(debCpu) + " µs", c, ratioNear(c, 0.75), "≤ 0.75×", verdict(c, c <= 0.75, why("drain", "--scenarios drain")));
        double jdbc = num(d, "limit_decoding", "events_per_s");
        double recv = num(d, "limit_decoding_pg_recvlogical", "events_per_s");
        double lim = Double.isNaN(recv) ? jdbc : Math.max(jdbc, recv);
        double share = relaySteady / lim;
        issue12Target("Relay drain vs the raw decoding limit", "relay steady events/s ÷ raw pgoutput decoding of the same backlog (the faster of"
                        + " JDBC stream and pg_recvlogical); from start in brackets",
                fmt(relaySteady) + " (from start " + fmt(relayStart) + ")", fmt(lim), share,
                pct(relaySteady, lim) + (Double.isNaN(share) ? "" : " (from start " + pct(relayStart, lim) + ")"), "≥ 50%",
                verdict(share, share >= 0.5, why("drain", "--scenarios drain")));
        Map<String, Object> l = section("latency");
        double relayP99 = num(l, "relay", "1000", "commit_to_ack", "p99_ms");
        double pollP99 = num(l, "polling", "1000", "commit_to_ack", "p99_ms");
        double p = relayP99 / pollP99;
        double pollInterval = num(results, "settings", "poll_interval_ms");
        issue12Target("Commit→ack p99 at 1,000 events/s, relay with its default settings, vs the 10 ms polling relay",
                "commit→ack p99, ms" + (Double.isNaN(p) ? "" : ", median of " + fmt(num(l, "relay", "1000", "median_of_rounds")) + " rounds (each round: relay "
                        + roundList(get(l, "relay", "1000", "round_p99_ms")) + "; polling " + roundList(get(l, "polling", "1000", "round_p99_ms")) + ")")
                        + "; polling relay with a " + fmt(pollInterval) + " ms poll interval" + (pollInterval == 10 ? "" : " (the target assumes 10 ms)"),
                fmt(relayP99) + " ms", fmt(pollP99) + " ms", p, ratioNear(p, 0.25), "≤ 0.25×",
                verdict(p, p <= 0.25, l != null && !(get(l, "relay", "1000") instanceof Map)
                        ? "1000 not in --rates" : why("latency", "--scenarios latency with 1000 in --rates")));
        Map<String, Object> b = section("inbox");
        double fresh = num(b, "inbox_fresh", "events_per_s");
        double twin = num(b, "no_dedup_batched", "events_per_s");
        double in = fresh / twin;
        issue12Target("Inbox, batched, vs the same handler without dedup", "consumer events/s, default batching vs one transaction per poll batch",
                fmt(fresh), fmt(twin), in, ratioNear(in, 0.75), "≥ 0.75× (stretch 0.9×)",
                Double.isNaN(in) ? verdict(in, false, why("inbox", "--scenarios inbox")) : in >= 0.9 ? "met (stretch too)" : verdict(in, in >= 0.75, ""));
        Object durable = get(results, "write", "fsync_on", "modes");
        double with = num(durable, WriteScenario.MODES.get(1), "tx_per_s");
        double without = num(durable, WriteScenario.MODES.get(0), "tx_per_s");
        double wr = with / without;
        double offRatio = num(results, "write", "fsync_off", "modes", WriteScenario.MODES.get(1), "tx_per_s")
                / num(results, "write", "fsync_off", "modes", WriteScenario.MODES.get(0), "tx_per_s");
        issue12Target("Business transaction with one append vs without, durable commits", "tx/s on the fsync=on, synchronous_commit=on server,"
                        + " modes interleaved" + (Double.isNaN(offRatio) ? "" : String.format(" (fsync=off: %.2f×, not the target's figure)", offRatio)),
                fmt(with) + " tx/s", fmt(without) + " tx/s", wr, ratioNear(wr, 0.9), "≥ 0.90×",
                verdict(wr, wr >= 0.9, results.get("write") instanceof Map<?, ?> wm && !wm.containsKey("error") && get(wm, "fsync_on") == null
                        ? "no durable-commit server: an external server ran once" : why("write", "--scenarios write on the testkit's embedded servers")));
        Map<String, Object> s = section("steady");
        double sr = steadyMedian(s, "relay", "steady_events_per_s");
        double sd = steadyMedian(s, "debezium", "steady_events_per_s");
        double srCpu = steadyMedian(s, "relay", "cpu_us_per_event");
        double sdCpu = steadyMedian(s, "debezium", "cpu_us_per_event");
        double ss = sr / sd;
        issue12Target("Steady-state drain of a large backlog (after warm-up)", s == null ? "steady events/s and CPU µs per event"
                        : String.format("steady events/s (first to last ack) and CPU µs per event, backlog of %,d, median of %s round(s)", (long) num(s, "events"),
                        Double.isNaN(num(s, "rounds")) ? "1" : fmt(num(s, "rounds"))),
                fmt(sr) + " events/s, " + fmt(srCpu) + " µs/event", fmt(sd) + " events/s, " + fmt(sdCpu) + " µs/event", ss,
                ratio(sr, sd) + (Double.isNaN(ss) ? "" : " (CPU per event " + ratio(srCpu, sdCpu) + ")"),
                "reported for the relay and the peer", Double.isNaN(ss) ? verdict(ss, false, why("steady", "--scenarios steady")) : "reported");
        results.put("issue_12_targets", issue12Json);
    }

    /**
     * Fairness of the polling peer (issue 12): what it costs besides its speed, beside the log-based relays, in one table.
     */
    private void fairness() {
        Map<String, Object> l = section("latency");
        Map<String, Object> o = section("order");
        Map<String, Object> d = section("drain");
        String at = null;
        if (l != null && l.get("polling") instanceof Map<?, ?> byRate) {
            at = byRate.containsKey("1000") ? "1000" : byRate.keySet().stream().map(String::valueOf).findFirst().orElse(null);
        }
        List<List<String>> rows = new ArrayList<>();
        List<String> kinds = List.of("relay", "debezium", "polling");
        if (at != null) {
            String rate = at;
            List<String> row = new ArrayList<>(List.of("database CPU per event at " + rate + " events/s, µs (own sessions, median of rounds)"));
            kinds.forEach(k -> row.add(fmt(num(l, k, rate, "median_db_cpu_cpu_us_per_event"))));
            row.add("walsender (+ SQL sessions) of each relay vs the poller's session; /proc utime+stime");
            rows.add(row);
            List<String> idle = new ArrayList<>(List.of("database CPU while idle, ms per s (no writes, median of rounds)"));
            kinds.forEach(k -> idle.add(fmt(num(l, k, rate, "median_idle_db_cpu_cpu_ms_per_s"))));
            idle.add("poller: a query every " + fmt(num(results, "settings", "poll_interval_ms")) + " ms; relays: walsender + heartbeats");
            rows.add(idle);
        }
        if (o != null) {
            List<String> row = new ArrayList<>(List.of("per-aggregate order violations, " + fmt(num(results, "settings", "order_writers"))
                    + " concurrent writers"));
            kinds.forEach(k -> row.add(fmt(num(o, k, "order_violations")) + " of " + fmt(num(o, k, "events_read"))));
            row.add("an event whose version is lower than one published before it");
            rows.add(row);
        }
        Object after = get(d, "polling", "table_after_run");
        if (after != null) {
            rows.add(List.of("outbox table after draining the backlog", "rows kept (retention job, section 6)", "rows kept",
                    String.format("%s dead tuples, %.1f → %.1f MiB", fmt(num(after, "dead_tuples")), num(after, "table_bytes_before") / 1048576.0,
                            num(after, "table_bytes_after") / 1048576.0), "pg_stat_user_tables before autovacuum; pg_total_relation_size"));
        }
        if (!rows.isEmpty()) {
            tables.add(new Table("Fairness of the polling peer: what each contender costs besides its speed", List.of("figure", RelayContender.NAME,
                    DebeziumRouterPeer.NAME, PollingPeer.NAME, "how"), rows, List.of()));
        }
    }

    /** A ratio with two decimals, or three when two would round it onto the target's bound (so the text never contradicts the verdict). */
    private static String ratioNear(double r, double bound) {
        if (Double.isNaN(r) || Double.isInfinite(r)) {
            return "";
        }
        return Math.abs(r - bound) < 0.005 && r != bound ? String.format("%.3f×", r) : String.format("%.2f×", r);
    }

    /** A steady-drain figure: the median of the rounds when there were several, else the one round's. */
    private static double steadyMedian(Object steady, String kind, String figure) {
        double m = medianOf(get(steady, kind, "round_" + figure));
        return Double.isNaN(m) ? num(steady, kind, figure) : m;
    }

    /** The median (lower middle of an even number, as everywhere in the bench) of a list of numbers; NaN when none. */
    static double medianOf(Object list) {
        if (!(list instanceof List<?> l)) {
            return Double.NaN;
        }
        List<Double> v = l.stream().filter(x -> x instanceof Number).map(x -> ((Number) x).doubleValue()).filter(x -> !x.isNaN()).sorted().toList();
        return v.isEmpty() ? Double.NaN : v.get((v.size() - 1) / 2);
    }

    // ---------------------------------------------------------------- output

    private interface ChartJob {
        void draw() throws IOException;
    }

    private final List<ChartJob> charts = new ArrayList<>();
    private Path dir;

    void write(Path outDir) throws IOException {
        this.dir = outDir;
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(outDir.resolve("results.json").toFile(), results);
        for (ChartJob job : charts) {
            try {
                job.draw();
            } catch (IOException | RuntimeException e) {
                System.out.println("chart failed: " + e);
            }
        }
        Files.writeString(outDir.resolve("results.md"), markdown());
    }

    void printConsole(PrintStream out) {
        out.println();
        out.println("==================== Outbox Bridge benchmarks ====================");
        if (results.get("machine") instanceof Map<?, ?> m) {
            out.println("machine: " + m.get("cpus") + " CPUs (" + m.get("cpu_model") + "), " + m.get("memory") + ", " + m.get("java") + ", "
                    + m.get("postgresql") + ", " + m.get("kafka"));
        }
        for (Table t : tables) {
            out.println();
            out.println(t.title());
            int[] w = new int[t.header().size()];
            for (int i = 0; i < w.length; i++) {
                w[i] = t.header().get(i).length();
                for (List<String> r : t.rows()) {
                    w[i] = Math.max(w[i], r.get(i).length());
                }
            }
            out.println("  " + line(t.header(), w));
            StringBuilder sep = new StringBuilder("  ");
            for (int x : w) {
                sep.append("-".repeat(x)).append("  ");
            }
            out.println(sep.toString().stripTrailing());
            t.rows().forEach(r -> out.println("  " + line(r, w)));
        }
        errors().forEach(e -> out.println("\n" + e));
        if (!issue12.isEmpty()) {
            out.println();
            out.println("Targets of issue 12 (ratios between medians; drain: steady, first to last ack):");
            issue12.forEach(t -> out.println("  [" + (t.get(6).startsWith("met") ? "MET     " : t.get(6).startsWith("missed") ? "MISSED  "
                    : t.get(6).startsWith("reported") ? "REPORTED" : "N/A     ") + "] " + t.get(0) + ": " + t.get(2) + " vs " + t.get(3)
                    + (t.get(4).isEmpty() ? "" : " = " + t.get(4)) + " (rule " + t.get(5) + ")"));
        }
        if (!targets.isEmpty()) {
            out.println();
            out.println("Targets (issue 6, this machine):");
            targets.forEach(t -> out.println("  [" + (t.get(2).startsWith("met") ? "MET   " : "MISSED") + "] " + t.get(0) + ": " + t.get(1)
                    + (t.get(2).startsWith("met") ? "" : " -- " + t.get(2))));
        }
        out.println("===================================================================");
    }

    private static String line(List<String> cells, int[] w) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < cells.size(); i++) {
            String c = cells.get(i);
            boolean numeric = !c.isEmpty() && (Character.isDigit(c.charAt(0)) || c.startsWith("n/a") || c.startsWith("-"));
            sb.append(i == 0 || !numeric ? pad(c, w[i]) : lpad(c, w[i])).append("  ");
        }
        return sb.toString().stripTrailing();
    }

    /** When, where and under what load the run was made: the first lines of results.md. */
    private String runHeader() {
        StringBuilder sb = new StringBuilder();
        Object m = results.get("machine");
        sb.append("- **When**: ").append(results.getOrDefault("started_at", "?")).append(" to ").append(results.getOrDefault("finished_at", "?"))
                .append(", load average (1, 5, 15 min) at start `").append(get(m, "load_average_at_start")).append("`, at end `")
                .append(results.get("load_average_at_end")).append("`\n");
        sb.append("- **Machine**: ").append(get(m, "cpus")).append(" CPUs (").append(get(m, "cpu_model")).append("), ").append(get(m, "memory"))
                .append(", ").append(get(m, "java")).append("; ").append(get(m, "postgresql")).append("; ").append(get(m, "kafka")).append("\n");
        if (results.get("code_under_test") instanceof Map<?, ?> code) {
            sb.append("- **Code measured**: ").append(String.join(", ", code.entrySet().stream().map(e -> e.getKey() + " `" + e.getValue() + "`").toList()))
                    .append("\n");
        }
        if (get(results, "settings", "scenarios") != null) {
            sb.append("- **Scenarios**: ").append(get(results, "settings", "scenarios")).append(" (every setting in `results.json`, `settings`)\n");
        }
        return sb.toString();
    }

    private List<String> errors() {
        List<String> e = new ArrayList<>();
        results.forEach((k, v) -> {
            if (v instanceof Map<?, ?> m && m.containsKey("error")) {
                e.add("scenario " + k + " FAILED: " + m.get("error"));
            }
        });
        return e;
    }

    String markdown() {
        StringBuilder sb = new StringBuilder();
        sb.append(runHeader()).append("\n");
        if (!issue12.isEmpty()) {
            sb.append("### Targets of issue 12\n\n");
            sb.append("Computed by the report from this run's `results.json` (`issue_12_targets`), never written by hand: ratios between the medians"
                    + " of interleaved rounds; the drain targets use the **steady** drain (first to last Kafka ack, engine start-up excluded), the"
                    + " drain from start is in brackets; \"not measured in this run\" names the scenario that would measure it.\n\n");
            sb.append("| target | figure | relay | reference | ratio of medians | rule | verdict |\n|").append(" --- |".repeat(7)).append("\n");
            issue12.forEach(t -> sb.append("| ").append(String.join(" | ", t)).append(" |\n"));
            sb.append("\n");
        }
        if (results.get("exactly_once_cost") instanceof Map<?, ?> cost) {
            sb.append("### Issue 13: could exactly-once be the default?\n\n");
            sb.append("The rule: exactly-once drains at ≥ 0.9× the at-least-once relay (steady drain, medians) and its commit→visible p99 at ")
                    .append(cost.get("rate") == null ? "1,000" : cost.get("rate")).append(" events/s is within 5 ms of it (medians), in the same run.\n\n");
            sb.append("| figure | exactly_once vs at_least_once | rule | verdict |\n| --- | --- | --- | --- |\n");
            sb.append("| drain, steady (from start in brackets) | ").append(cost.get("drain_ratio_steady") == null ? "not measured in this run"
                    : cost.get("drain_ratio_steady") + "× (" + cost.get("drain_ratio") + "×)").append(" | ≥ 0.90× | ")
                    .append(cost.get("drain_met") == null ? "not measured in this run" : Boolean.TRUE.equals(cost.get("drain_met")) ? "met" : "missed").append(" |\n");
            sb.append("| commit→visible p99 difference | ").append(cost.get("visible_p99_difference_ms") == null ? "not measured in this run"
                    : String.format("%+.1f ms", ((Number) cost.get("visible_p99_difference_ms")).doubleValue())).append(" | ≤ +5 ms | ")
                    .append(cost.get("latency_met") == null ? "not measured in this run" : Boolean.TRUE.equals(cost.get("latency_met")) ? "met" : "missed").append(" |\n");
            sb.append("\n**Exactly-once could be the default: ").append(cost.get("rule_met") == null ? "not judged (drain and latency both needed)"
                    : Boolean.TRUE.equals(cost.get("rule_met")) ? "yes" : "no").append("** (by this run's medians; the coordinator decides the default).\n\n");
        }
        for (Table t : tables) {
            sb.append("### ").append(t.title()).append("\n\n");
            sb.append("| ").append(String.join(" | ", t.header())).append(" |\n");
            sb.append("|").append(" --- |".repeat(t.header().size())).append("\n");
            t.rows().forEach(r -> sb.append("| ").append(String.join(" | ", r)).append(" |\n"));
            sb.append("\n");
            t.charts().forEach(c -> sb.append("![").append(c).append("](").append(c).append(")\n\n"));
        }
        errors().forEach(e -> sb.append("**").append(e).append("**\n\n"));
        if (!targets.isEmpty()) {
            sb.append("### Targets of issue 6 (the first benchmark's targets, kept for comparison)\n\n| target | measured | verdict |\n| --- | --- | --- |\n");
            targets.forEach(t -> sb.append("| ").append(String.join(" | ", t)).append(" |\n"));
            sb.append("\n");
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------- helpers

    @SuppressWarnings("unchecked")
    private Map<String, Object> section(String key) {
        Object v = results.get(key);
        return v instanceof Map<?, ?> m && !m.containsKey("error") ? (Map<String, Object>) m : null;
    }

    static Object get(Object root, String... path) {
        Object cur = root;
        for (String p : path) {
            if (!(cur instanceof Map<?, ?> m)) {
                return null;
            }
            cur = m.get(p);
        }
        return cur;
    }

    static double num(Object root, String... path) {
        return get(root, path) instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    private static List<double[]> curve(Object o) {
        List<double[]> out = new ArrayList<>();
        if (o instanceof List<?> list) {
            for (Object p : list) {
                if (p instanceof double[] d) {
                    out.add(d);
                } else if (p instanceof List<?> l && l.size() == 2) {
                    out.add(new double[] {((Number) l.get(0)).doubleValue(), ((Number) l.get(1)).doubleValue()});
                }
            }
        }
        return out;
    }

    static String fmt(double v) {
        if (Double.isNaN(v)) {
            return "n/a";
        }
        return Math.abs(v) >= 100 || v == Math.rint(v) ? String.format("%,.0f", v) : String.format("%.1f", v);
    }

    private static String ratio(double v, double of) {
        return Double.isNaN(v) || Double.isNaN(of) || of == 0 ? "" : String.format("%.2f×", v / of);
    }

    private static String pct(double v, double of) {
        return Double.isNaN(v) || Double.isNaN(of) || of == 0 ? "" : String.format("%.1f%%", 100 * v / of);
    }

    private static String pad(String s, int w) {
        return s + " ".repeat(Math.max(0, w - s.length()));
    }

    private static String lpad(String s, int w) {
        return " ".repeat(Math.max(0, w - s.length())) + s;
    }
}
