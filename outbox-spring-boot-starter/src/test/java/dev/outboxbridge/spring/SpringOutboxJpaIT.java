package dev.outboxbridge.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.spring.jpa.OrderEntity;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import jakarta.persistence.EntityManager;
import jakarta.persistence.PersistenceContext;
import java.sql.Connection;
import java.sql.Statement;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.persistence.autoconfigure.EntityScan;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.transaction.PlatformTransactionManager;
import org.springframework.transaction.annotation.Transactional;

/**
 * {@link SpringOutbox} in a Spring Boot application with JPA (Hibernate, Boot's
 * {@code JpaTransactionManager}) on a real PostgreSQL: an entity persisted in a {@code @Transactional}
 * method and the outbox row commit and roll back together. Inbox handlers under JPA: {@link SpringInboxJpaIT}.
 */
@ExtendWith(OutboxBridgeExtension.class)
class SpringOutboxJpaIT {

    @Test
    void jpaTransactionCommitsTheEntityAndItsEventTogether(TestDatabase db) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE orders (id text PRIMARY KEY)");
        }
        Map<String, Object> properties = TestApplications.database(db);
        properties.put("spring.autoconfigure.exclude", "");
        properties.put("spring.jpa.hibernate.ddl-auto", "none");
        properties.put("spring.jpa.open-in-view", "false");
        try (ConfigurableApplicationContext app = TestApplications.run(JpaApp.class, properties)) {
            assertThat(app.getBean(PlatformTransactionManager.class)).isInstanceOf(JpaTransactionManager.class);
            JpaOrders orders = app.getBean(JpaOrders.class);
            orders.place("p-1", false);
            assertThatThrownBy(() -> orders.place("p-2", true)).hasMessageContaining("rejected");
        }
        assertThat(db.count("SELECT count(*) FROM orders WHERE id = 'p-1'")).isEqualTo(1);
        assertThat(db.count("SELECT count(*) FROM outbox_event WHERE aggregateid = 'p-1'")).isEqualTo(1);
        assertThat(db.count("SELECT count(*) FROM orders WHERE id = 'p-2'")).isZero();
        assertThat(db.count("SELECT count(*) FROM outbox_event WHERE aggregateid = 'p-2'")).isZero();
    }

    @SpringBootConfiguration
    @EnableAutoConfiguration
    @EntityScan(basePackageClasses = OrderEntity.class)
    static class JpaApp {
        @Bean
        JpaOrders jpaOrders(SpringOutbox outbox) {
            return new JpaOrders(outbox);
        }
    }

    /** A service as a user writes it with JPA: persist the entity and append, in one @Transactional method. */
    static class JpaOrders {
        @PersistenceContext
        private EntityManager entityManager;
        private final SpringOutbox outbox;

        JpaOrders(SpringOutbox outbox) {
            this.outbox = outbox;
        }

        @Transactional
        public void place(String id, boolean rejectAfterAppend) {
            entityManager.persist(new OrderEntity(id));
            entityManager.flush();
            outbox.append(OutboxEvent.of("order", id, "OrderPlaced", "{\"id\":\"" + id + "\"}"));
            if (rejectAfterAppend) {
                throw new IllegalStateException("order " + id + " rejected");
            }
        }
    }
}
