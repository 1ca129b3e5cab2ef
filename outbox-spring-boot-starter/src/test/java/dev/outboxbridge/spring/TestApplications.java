package dev.outboxbridge.spring;

import dev.outboxbridge.testkit.TestDatabase;
import java.util.LinkedHashMap;
import java.util.Map;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

/** Starts real Spring Boot applications (auto-configuration, Hikari pool, Boot's transaction manager) for the ITs. */
final class TestApplications {

    static final String JPA_AUTO_CONFIGURATION = "org.springframework.boot.hibernate.autoconfigure.HibernateJpaAutoConfiguration"
            + ",org.springframework.boot.data.jpa.autoconfigure.DataJpaRepositoriesAutoConfiguration";

    private TestApplications() {
    }

    static Map<String, Object> database(TestDatabase db) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("spring.datasource.url", db.jdbcUrl());
        p.put("spring.datasource.username", db.user());
        p.put("spring.datasource.password", db.password() == null ? "" : db.password());
        p.put("spring.datasource.hikari.maximum-pool-size", "4");
        p.put("spring.jooq.sql-dialect", "POSTGRES");
        p.put("spring.main.banner-mode", "off");
        // JPA (and Spring Data JPA) is on the test class path for the JPA tests only; elsewhere Boot's JdbcTransactionManager is used
        p.put("spring.autoconfigure.exclude", JPA_AUTO_CONFIGURATION);
        // Boot's Flyway is on the class path for OutboxMigrationsIT only; the testkit's databases hold the outbox
        // and inbox tables already (the starter's migrations find them applied and do nothing)
        p.put("spring.flyway.enabled", "false");
        return p;
    }

    static ConfigurableApplicationContext run(Class<?> application, Map<String, Object> properties) {
        return new SpringApplicationBuilder(application).web(WebApplicationType.NONE).properties(properties)
                .logStartupInfo(false).run();
    }
}
