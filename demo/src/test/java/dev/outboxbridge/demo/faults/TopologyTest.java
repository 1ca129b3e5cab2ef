package dev.outboxbridge.demo.faults;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class TopologyTest {

    @Test
    void readsTheLeaderGaugeOfARelaysScrape() {
        String scrape = """
                # HELP outbox_relay_leader 1 while this relay publishes (the leader), else 0
                # TYPE outbox_relay_leader gauge
                outbox_relay_leader{relay="fault-relay-1"} 1.0
                outbox_relay_leader_other{relay="fault-relay-1"} 0.0
                """;
        assertThat(Topology.leaderGauge(scrape)).isEqualTo(1.0);
        assertThat(Topology.leaderGauge(scrape.replace("} 1.0", "} 0.0"))).isEqualTo(0.0);
        assertThat(Topology.leaderGauge("outbox_relay_standby{relay=\"r\"} 1.0\n")).as("no gauge").isEqualTo(-1);
    }
}
