package dev.outboxbridge.demo.faults;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.demo.DemoRun;
import dev.outboxbridge.inbox.InboxConsumer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * The billing service of the demo as a process of its own, so the fault harness can kill it:
 * an inbox consumer applying {@link DemoRun#applyToLedger} until SIGTERM. Configured by the
 * environment: {@code BILLING_JDBC_URL}, {@code BILLING_DB_USER}, {@code BILLING_DB_PASSWORD},
 * {@code BILLING_BOOTSTRAP_SERVERS}, {@code BILLING_TOPIC}, {@code BILLING_GROUP_ID}, {@code BILLING_DEAD_LETTER_TOPIC}.
 */
public final class ConsumerMain {

    /** PostgreSQL application_name of the consumer's connections (the harness terminates them as a fault). */
    static final String APPLICATION_NAME = "billing-consumer";

    private ConsumerMain() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> env = System.getenv();
        HikariConfig pool = new HikariConfig();
        pool.setJdbcUrl(required(env, "BILLING_JDBC_URL"));
        pool.setUsername(required(env, "BILLING_DB_USER"));
        pool.setPassword(env.getOrDefault("BILLING_DB_PASSWORD", ""));
        pool.setMaximumPoolSize(2);
        pool.setPoolName("billing");
        pool.addDataSourceProperty("ApplicationName", APPLICATION_NAME);
        CountDownLatch stopped = new CountDownLatch(1);
        try (HikariDataSource dataSource = new HikariDataSource(pool)) {
            InboxConsumer consumer = InboxConsumer.builder()
                    .consumerName("billing")
                    .kafkaProperties(Map.of("bootstrap.servers", required(env, "BILLING_BOOTSTRAP_SERVERS"),
                            "group.id", required(env, "BILLING_GROUP_ID"),
                            "session.timeout.ms", "6000", "heartbeat.interval.ms", "1000"))
                    .topics(List.of(required(env, "BILLING_TOPIC")))
                    .dataSource(dataSource)
                    .handler(DemoRun::applyToLedger)
                    .deadLetterTopic(required(env, "BILLING_DEAD_LETTER_TOPIC"))
                    .closeTimeout(Duration.ofSeconds(10))
                    .build();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                consumer.close();
                stopped.countDown();
            }, "billing-shutdown"));
            consumer.start();
            while (consumer.state() == InboxConsumer.State.RUNNING) {
                if (stopped.await(500, java.util.concurrent.TimeUnit.MILLISECONDS)) {
                    break;
                }
            }
            if (consumer.state() == InboxConsumer.State.FAILED) {
                System.err.println("billing consumer failed: " + consumer.failure().map(Throwable::toString).orElse("?"));
                System.exit(1);
            }
        }
    }

    private static String required(Map<String, String> env, String name) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            throw new IllegalArgumentException("Environment variable " + name + " is not set");
        }
        return v;
    }
}
