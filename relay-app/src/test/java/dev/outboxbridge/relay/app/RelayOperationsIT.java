package dev.outboxbridge.relay.app;

import dev.outboxbridge.relay.RelaySettings;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** Health and Prometheus endpoints as an orchestrator and a scraper see them. */
@ExtendWith(OutboxBridgeExtension.class)
class RelayOperationsIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    private static HttpResponse<String> get(RelayApplication app, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.httpPort() + path)).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void healthAndMetricsFollowPublishingAndFailure(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 1);
        Map<String, String> m = RelaySettings.of(db, kafka, dir);
        m.put(RelayConfig.HTTP_PORT, "0");
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
        try (RelayApplication app = RelayApplication.create(RelayConfig.of(m))) {
            Relay relay = app.relay();
            app.start();
            assertThat(get(app, "/health/live").statusCode()).isEqualTo(200);
            assertThat(get(app, "/health/ready").statusCode()).isEqualTo(200);
            // streamed, not read by the first-start snapshot (which carries no commit time for the latency histogram):
            // write once the leader's engine has created the slot
            await().atMost(TIMEOUT).until(() -> db.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?",
                    m.get(RelayConfig.SLOT_NAME)) == 1);
            try (Connection c = db.connect()) {
                c.setAutoCommit(false);
                outbox.appendAll(c, List.of(OutboxEvent.of("order", "o-1", "A", "1"), OutboxEvent.of("order", "o-2", "A", "2"),
                        OutboxEvent.of("order", "o-3", "A", "3")));
                c.commit();
            }
            await().atMost(TIMEOUT).until(() -> get(app, "/metrics").body().contains("outbox_relay_events_published_total{relay=\"" + m.get(RelayConfig.NAME) + "\"} 3.0"));
            String metrics = get(app, "/metrics").body();
            assertThat(metrics).contains("outbox_relay_publish_latency_seconds_bucket").contains("outbox_relay_publish_latency_seconds_count{relay=\"" + m.get(RelayConfig.NAME) + "\"} 3")
                    .contains("outbox_relay_batch_size_count").contains("outbox_relay_leader{relay=\"" + m.get(RelayConfig.NAME) + "\"} 1.0")
                    .contains("outbox_relay_slot_retained_wal_bytes");
            // NaN until the slot monitor's first check after the engine created the slot (every 5 s)
            await().atMost(TIMEOUT).until(() -> !get(app, "/metrics").body()
                    .contains("outbox_relay_slot_retained_wal_bytes{relay=\"" + m.get(RelayConfig.NAME) + "\"} NaN"));

            try (Connection c = db.connect()) { // a topic that does not exist: the relay stops publishing
                c.setAutoCommit(false);
                outbox.append(c, OutboxEvent.of("invoice", "i-1", "Issued", "{}"));
                c.commit();
            }
            assertThat(relay.awaitTermination(TIMEOUT)).isTrue();
            HttpResponse<String> ready = get(app, "/health/ready");
            assertThat(ready.statusCode()).isEqualTo(503);
            assertThat(ready.body()).contains("FAILED").contains("does not exist");
            assertThat(get(app, "/health/live").statusCode()).isEqualTo(503);
            assertThat(get(app, "/metrics").body()).contains("outbox_relay_errors_total{kind=\"topic\"")
                    .contains("outbox_relay_leader{relay=\"" + m.get(RelayConfig.NAME) + "\"} 0.0");
        }
    }
}
