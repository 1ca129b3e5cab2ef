package com.example.shop.orders;

import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.builder.SpringApplicationBuilder;

/**
 * The orders service: {@code POST /orders} writes an order row and its {@code OrderPlaced} event in one transaction
 * ({@link OrderService}); the relay embedded in this service (the starter's, {@code outbox.relay.*} in
 * {@code orders.yml}) publishes the event to Kafka.
 *
 * <p>Its settings are in {@code orders.yml} (not {@code application.yml}), so that the two services of this example can
 * also run in one JVM (the launcher and the end-to-end test) without reading each other's settings. In a service of
 * your own, name the file {@code application.yml} and drop {@link #application()}.
 */
@SpringBootApplication
public class OrdersApplication {

    /** The application, reading {@code orders.yml}; add properties and {@code run()} it. */
    public static SpringApplicationBuilder application() {
        return new SpringApplicationBuilder(OrdersApplication.class).properties("spring.config.name=orders");
    }

    public static void main(String[] args) {
        application().run(args);
    }
}
