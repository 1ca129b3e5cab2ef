package com.example.shop.billing;

import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.builder.SpringApplicationBuilder;

/**
 * The billing service: one invoice per {@code OrderPlaced} event, applied once through the inbox
 * ({@link BillingListener}); {@code GET /invoices} lists them.
 *
 * <p>Its settings are in {@code billing.yml} (not {@code application.yml}), so that the two services of this example
 * can also run in one JVM (the launcher and the end-to-end test). In a service of your own, name the file
 * {@code application.yml} and drop {@link #application()}.
 */
@SpringBootApplication
public class BillingApplication {

    /** The application, reading {@code billing.yml}; add properties and {@code run()} it. */
    public static SpringApplicationBuilder application() {
        return new SpringApplicationBuilder(BillingApplication.class).properties("spring.config.name=billing");
    }

    public static void main(String[] args) {
        application().run(args);
    }
}
