package dev.outboxbridge.relay.app;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTP endpoints for operators on one named thread: {@code /health/live}, {@code /health/ready}
 * (200 or 503, the body says why) and {@code /metrics} (Prometheus text format).
 */
final class OperationsServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(OperationsServer.class);

    private static final long DEFAULT_CLOSE_WAIT_MS = 5_000;

    private final HttpServer server;
    private final ExecutorService executor;

    OperationsServer(String relayName, int port, BooleanSupplier live, BooleanSupplier ready, Supplier<String> status,
            Supplier<String> metrics) {
        try {
            server = HttpServer.create(new InetSocketAddress(port), 16);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot listen on HTTP port " + port + " (http.port): " + e.getMessage(), e);
        }
        executor = Executors.newSingleThreadExecutor(r -> new Thread(r, "outbox-relay-http-" + relayName));
        server.setExecutor(executor);
        server.createContext("/health/live", ex -> respond(ex, live.getAsBoolean() ? 200 : 503, status.get(), "text/plain"));
        server.createContext("/health/ready", ex -> respond(ex, ready.getAsBoolean() ? 200 : 503, status.get(), "text/plain"));
        server.createContext("/metrics", ex -> respond(ex, 200, metrics.get(), "text/plain; version=0.0.4; charset=utf-8"));
        server.start();
        LOG.info("Operations endpoints on port {}: /health/live, /health/ready, /metrics", port());
    }

    int port() {
        return server.getAddress().getPort();
    }

    private static void respond(HttpExchange exchange, int code, String body, String contentType) throws IOException {
        try (exchange) {
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", contentType);
            exchange.sendResponseHeaders(code, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    @Override
    public void close() {
        close(DEFAULT_CLOSE_WAIT_MS);
    }

    /**
     * Stops accepting requests and waits at most {@code waitMillis} for a request in progress before interrupting
     * the HTTP thread, so the whole shutdown stays within the caller's deadline.
     */
    void close(long waitMillis) {
        server.stop(0);
        executor.shutdown();
        try {
            if (!executor.awaitTermination(Math.max(0, waitMillis), TimeUnit.MILLISECONDS)) {
                LOG.warn("HTTP thread still running {} ms after stop; interrupting it", Math.max(0, waitMillis));
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
