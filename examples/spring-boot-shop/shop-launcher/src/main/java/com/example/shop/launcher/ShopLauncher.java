package com.example.shop.launcher;

import com.example.shop.launcher.ShopClient.Response;
import dev.outboxbridge.inbox.InboxStats;
import dev.outboxbridge.testkit.KafkaServer;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.TestServers;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.trace.data.SpanData;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;
import tools.jackson.databind.JsonNode;

/**
 * The shop on embedded servers, in one command: an embedded PostgreSQL ({@code wal_level=logical}) and Kafka broker
 * from the testkit, the orders and billing services on them ({@link Shop}), a few orders placed over HTTP (one of them
 * refused after its row was written, so it rolls back), then what happened: orders, invoices, events published, and
 * the trace of each order from its HTTP request in orders to the handler that invoiced it in billing.
 *
 * <p>Options (with Maven: {@code -Dshop.args="--keep-running --orders-port=0"}): {@code --keep-running} keeps both services up until Enter is pressed; {@code --orders-port=N} (8080)
 * and {@code --billing-port=N} (8081), 0 for any free port. Exit code 0 when every committed order was invoiced once
 * and the refused one left no trace, 1 otherwise, 2 for an invalid option.
 */
public final class ShopLauncher {

    private static final Duration WAIT = Duration.ofSeconds(60);

    /** customer, total in cents: alice's second order exceeds her credit limit (100,000 cents) and is refused. */
    private static final List<Object[]> ORDERS = List.of(new Object[] {"alice", 1_999L}, new Object[] {"bob", 4_500L},
            new Object[] {"carol", 12_000L}, new Object[] {"alice", 99_000L}, new Object[] {"dave", 2_500L});

    private ShopLauncher() {
    }

    public static void main(String[] args) throws Exception {
        boolean keepRunning = false;
        int ordersPort = 8080;
        int billingPort = 8081;
        // exec:exec passes -Dshop.args as one argument: split it
        for (String arg : String.join(" ", args).trim().split("\\s+")) {
            if (arg.isEmpty()) {
                continue;
            } else if (arg.equals("--keep-running")) {
                keepRunning = true;
            } else if (arg.startsWith("--orders-port=")) {
                ordersPort = Integer.parseInt(arg.substring("--orders-port=".length()));
            } else if (arg.startsWith("--billing-port=")) {
                billingPort = Integer.parseInt(arg.substring("--billing-port=".length()));
            } else {
                System.err.println("unknown option " + arg + "; options: --keep-running, --orders-port=N, --billing-port=N");
                System.exit(2);
            }
        }
        System.out.println("Spring Boot shop: starting an embedded PostgreSQL and Kafka...");
        PostgresServer postgres = quietly(TestServers::postgres);
        KafkaServer kafka = quietly(TestServers::kafka);
        System.out.printf("  PostgreSQL localhost:%d, Kafka %s%n", postgres.port(), kafka.bootstrapServers());
        System.out.println("Starting orders (with its embedded relay) and billing...");
        boolean ok;
        try (Shop shop = Shop.start(postgres, kafka.bootstrapServers(), new Shop.Topics(""), ordersPort, billingPort)) {
            System.out.printf("  orders  %s  (database %s, outbox -> %s)%n", shop.ordersUrl(), shop.ordersDb().name(),
                    shop.topics().orders());
            System.out.printf("  billing %s  (database %s, inbox consumer 'billing', dead letters -> %s)%n",
                    shop.billingUrl(), shop.billingDb().name(), shop.topics().billingDeadLetters());
            ok = placeOrdersAndReport(shop);
            if (keepRunning) {
                System.out.printf("%nBoth services keep running. Try:%n"
                        + "  curl -s -XPOST %s/orders -H 'Content-Type: application/json' -d '{\"customer\":\"erin\",\"totalCents\":750}'%n"
                        + "  curl -s %s/invoices%n  curl -s %s/actuator/health%n"
                        + "Press Enter to stop.%n", shop.ordersUrl(), shop.billingUrl(), shop.billingUrl());
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
            }
            System.out.println("Stopping billing, then orders and its relay...");
        }
        // the testkit's shutdown hook stops the embedded servers
        System.exit(ok ? 0 : 1);
    }

    /**
     * Runs {@code start} with stdout and stderr captured: the in-process Kafka broker prints its storage formatting
     * there ("Formatting metadata directory ..."), which says nothing to a user. Shown only if it fails.
     */
    private static <T> T quietly(Supplier<T> start) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream capture = new PrintStream(captured, true, StandardCharsets.UTF_8);
        System.setOut(capture);
        System.setErr(capture);
        try {
            return start.get();
        } catch (RuntimeException | Error e) {
            err.print(captured.toString(StandardCharsets.UTF_8));
            throw e;
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    private static boolean placeOrdersAndReport(Shop shop) throws Exception {
        ShopClient client = new ShopClient(shop.ordersUrl(), shop.billingUrl());
        System.out.println();
        int committed = 0;
        int refused = 0;
        List<String> committedIds = new ArrayList<>();
        for (Object[] order : ORDERS) {
            String customer = (String) order[0];
            long total = (Long) order[1];
            Response response = client.placeOrder(customer, total);
            if (response.status() == 201) {
                committed++;
                System.out.printf("  POST /orders %-5s %,7d cents -> 201, order %s%n", customer, total,
                        response.body().get("id").asString());
                committedIds.add(response.body().get("id").asString());
            } else {
                refused++;
                System.out.printf("  POST /orders %-5s %,7d cents -> %d, %s%n", customer, total, response.status(),
                        response.body().get("error").asString());
            }
        }
        System.out.printf("%nWaiting for billing to invoice the %d committed orders...%n", committed);
        long deadline = System.nanoTime() + WAIT.toNanos();
        JsonNode invoices = client.invoices();
        while (invoices.size() < committed && System.nanoTime() < deadline) {
            Thread.sleep(100);
            invoices = client.invoices();
        }
        for (JsonNode invoice : invoices) {
            System.out.printf("  invoice for order %s: %-5s %,7d cents%n", invoice.get("orderId").asString(),
                    invoice.get("customer").asString(), invoice.get("amountCents").asLong());
        }

        // each order's trace, as the two services exported it (within 100 ms of each span's end)
        Map<String, Trace> traces = new LinkedHashMap<>();
        long traceDeadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        do {
            for (String id : committedIds) {
                if (!traces.containsKey(id)) {
                    trace(shop, id).ifPresent(t -> traces.put(id, t));
                }
            }
            if (traces.size() < committedIds.size()) {
                Thread.sleep(100);
            }
        } while (traces.size() < committedIds.size() && System.nanoTime() < traceDeadline);
        if (!committedIds.isEmpty()) {
            String first = committedIds.get(0);
            Trace t = traces.get(first);
            System.out.printf("%nThe trace of order %s (from each service's span exporter):%n", first);
            if (t == null) {
                System.out.println("  not found: see the verdict");
            } else {
                System.out.printf("  trace %s%n", t.server().getTraceId());
                System.out.printf("    orders   %-8s %-24s span %s%n", t.server().getKind(), t.server().getName(),
                        t.server().getSpanId());
                System.out.printf("    orders   %-8s %-24s span %s, parent %s%n", t.append().getKind(),
                        t.append().getName(), t.append().getSpanId(), t.append().getParentSpanId());
                String onRecord = shop.orderRecordHeader(first, "traceparent").orElse("none");
                System.out.printf("             its context: traceparent %s%n", t.traceparent());
                System.out.printf("             in the outbox row's headers, and on the Kafka record %s%n",
                        onRecord.equals(t.traceparent()) ? "(the same)" : "differs: " + onRecord);
                System.out.printf("    billing  %-8s %-24s span %s, parent %s%n", t.consumer().getKind(),
                        t.consumer().getName(), t.consumer().getSpanId(), t.consumer().getParentSpanId());
            }
        }

        JsonNode orders = client.orders();
        long outboxRows = shop.ordersDb().count("SELECT count(*) FROM outbox_event");
        long onTopic = shop.recordsOnOrderTopic();
        InboxStats stats = shop.billingConsumer().stats();
        long refusedTraces = shop.ordersDb().count("SELECT count(*) FROM orders WHERE total_cents = 99000");
        System.out.printf("%n================ Spring Boot shop: summary ================%n");
        System.out.printf("  orders placed over HTTP                %d (%d committed, %d refused and rolled back)%n",
                committed + refused, committed, refused);
        System.out.printf("  order rows in the orders database      %d%n", orders.size());
        System.out.printf("  outbox rows (same transactions)        %d%n", outboxRows);
        System.out.printf("  published by the relay                 %d (records on %s: %d)%n", shop.published(),
                shop.topics().orders(), onTopic);
        System.out.printf("  invoices in the billing database       %d%n", invoices.size());
        System.out.printf("  billing inbox                          processed %d, duplicates %d, dead-lettered %d%n",
                stats.processed(), stats.duplicates(), stats.deadLettered());
        System.out.printf("  traces (request -> append -> handler)  %d, each one trace across orders and billing%n",
                traces.size());
        JsonNode ordersHealth = client.ordersHealth();
        System.out.printf("  health                                 orders %s (relay %s), billing %s%n",
                ordersHealth.get("status").asString(),
                ordersHealth.at("/components/outboxRelay/details/state").asString(),
                client.billingHealth().get("status").asString());
        boolean ok = orders.size() == committed && outboxRows == committed && onTopic == committed
                && invoices.size() == committed && refusedTraces == 0 && traces.size() == committed;
        System.out.printf("  verdict: %s%n", ok
                ? "OK: every committed order invoiced once in one trace, the refused one neither stored nor published"
                : "FAILED: the counts above should all equal the committed orders");
        System.out.println("============================================================");
        return ok;
    }

    /**
     * One order's spans: the {@code POST /orders} server span and the {@code outbox.append} producer span under it in
     * orders, the inbox handler's consumer span in billing.
     */
    private record Trace(String traceparent, SpanData server, SpanData append, SpanData consumer) {
    }

    /**
     * The trace of an order, followed as the services link it: the {@code traceparent} of its outbox row names the
     * trace and the append span; the append span's parent is the server span; billing's consumer span is the child of
     * the append span. Empty while one of them is missing.
     */
    private static Optional<Trace> trace(Shop shop, String orderId) {
        Optional<String> traceparent = shop.traceparent(orderId);
        if (traceparent.isEmpty()) {
            return Optional.empty();
        }
        String[] parts = traceparent.get().split("-"); // version-traceid-spanid-flags
        String traceId = parts[1];
        String appendId = parts[2];
        Optional<SpanData> append = shop.ordersSpans().stream()
                .filter(s -> s.getTraceId().equals(traceId) && s.getSpanId().equals(appendId)).findFirst();
        Optional<SpanData> server = append.flatMap(a -> shop.ordersSpans().stream()
                .filter(s -> s.getKind() == SpanKind.SERVER && s.getSpanId().equals(a.getParentSpanId())).findFirst());
        Optional<SpanData> consumer = shop.billingSpans().stream().filter(s -> s.getKind() == SpanKind.CONSUMER
                && s.getTraceId().equals(traceId) && s.getParentSpanId().equals(appendId)).findFirst();
        if (append.isEmpty() || server.isEmpty() || consumer.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(new Trace(traceparent.get(), server.get(), append.get(), consumer.get()));
    }
}
