package dev.outboxbridge.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import dev.outboxbridge.demo.RelayProcesses.RelayProcess;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The demo's external relays (the compose workload's): watched through real HTTP {@code /metrics} endpoints, never
 * started or killed from the demo.
 */
class RelayProcessesExternalTest {

    private final Map<String, HttpServer> servers = new LinkedHashMap<>();

    @AfterEach
    void stopServers() {
        servers.values().forEach(s -> s.stop(0));
    }

    @Test
    void theLeaderIsTheRelayWhoseMetricsSayItPublishesAndFollowsAFailover() throws Exception {
        AtomicReference<String> a = new AtomicReference<>(scrape(1, 0));
        AtomicReference<String> b = new AtomicReference<>(scrape(0, 1));
        Map<String, URI> endpoints = new LinkedHashMap<>();
        endpoints.put("relay-a", endpoint("relay-a", a));
        endpoints.put("relay-b", endpoint("relay-b", b));
        try (RelayProcesses relays = RelayProcesses.external(endpoints)) {
            assertThat(relays.isExternal()).isTrue();
            assertThat(relays.all()).extracting(RelayProcess::name).containsExactly("relay-a", "relay-b");
            assertThat(relays.leader()).map(RelayProcess::name).contains("relay-a");
            relays.await(relays.all().get(1), RelayProcesses.STANDBY_GAUGE, Duration.ofSeconds(10));

            servers.get("relay-a").stop(0); // the leader's container is killed: its endpoint no longer answers
            assertThat(relays.leader()).isEmpty();
            assertThat(relays.anyAlive()).isTrue();

            b.set(scrape(1, 0)); // the standby took the lease
            assertThat(relays.leader()).map(RelayProcess::name).contains("relay-b");
            assertThat(relays.all().get(1).where()).isEqualTo(endpoints.get("relay-b").toString());

            servers.get("relay-b").stop(0);
            assertThat(relays.anyAlive()).isFalse();
        }
    }

    @Test
    void externalRelaysAreNeitherStartedNorKilledFromTheDemo() throws Exception {
        try (RelayProcesses relays = RelayProcesses.external(Map.of("relay-a", endpoint("relay-a", new AtomicReference<>(scrape(1, 0)))))) {
            assertThatThrownBy(() -> relays.start("relay-c")).isInstanceOf(IllegalStateException.class).hasMessageContaining("external");
            assertThatThrownBy(() -> relays.kill(relays.all().get(0))).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("cannot be killed from here");
        }
        assertThatThrownBy(() -> RelayProcesses.external(Map.of())).isInstanceOf(IllegalArgumentException.class);
    }

    private URI endpoint(String name, AtomicReference<String> metrics) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/metrics", exchange -> {
            byte[] body = metrics.get().getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
        servers.put(name, server);
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    private static String scrape(int leader, int standby) {
        return "# TYPE outbox_relay_leader gauge\noutbox_relay_leader{relay=\"x\"} " + leader + ".0\n"
                + "# TYPE outbox_relay_standby gauge\noutbox_relay_standby{relay=\"x\"} " + standby + ".0\n";
    }
}
