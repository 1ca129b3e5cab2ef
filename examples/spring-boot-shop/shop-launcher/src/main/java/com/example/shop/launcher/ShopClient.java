package com.example.shop.launcher;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The shop's HTTP API, as a client sees it: real requests to the two services' web servers. */
public final class ShopClient {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(TIMEOUT).build();
    private final String ordersUrl;
    private final String billingUrl;

    public ShopClient(String ordersUrl, String billingUrl) {
        this.ordersUrl = ordersUrl;
        this.billingUrl = billingUrl;
    }

    /** A response: its status and its JSON body. */
    public record Response(int status, JsonNode body) {
    }

    /** {@code POST /orders}. */
    public Response placeOrder(String customer, long totalCents) throws IOException, InterruptedException {
        String body = JSON.writeValueAsString(Map.of("customer", customer, "totalCents", totalCents));
        return send(HttpRequest.newBuilder(URI.create(ordersUrl + "/orders")).timeout(TIMEOUT)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }

    /** {@code GET /orders} of orders. */
    public JsonNode orders() throws IOException, InterruptedException {
        return get(ordersUrl + "/orders");
    }

    /** {@code GET /invoices} of billing. */
    public JsonNode invoices() throws IOException, InterruptedException {
        return get(billingUrl + "/invoices");
    }

    /** {@code GET /actuator/health} of orders. */
    public JsonNode ordersHealth() throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(URI.create(ordersUrl + "/actuator/health")).timeout(TIMEOUT).GET().build())
                .body();
    }

    /** {@code GET /actuator/health} of billing. */
    public JsonNode billingHealth() throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(URI.create(billingUrl + "/actuator/health")).timeout(TIMEOUT).GET().build())
                .body();
    }

    private JsonNode get(String url) throws IOException, InterruptedException {
        Response response = send(HttpRequest.newBuilder(URI.create(url)).timeout(TIMEOUT).GET().build());
        if (response.status() != 200) {
            throw new IOException("GET " + url + " answered " + response.status() + ": " + response.body());
        }
        return response.body();
    }

    private Response send(HttpRequest request) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
        String body = response.body();
        return new Response(response.statusCode(), body == null || body.isEmpty() ? JSON.readTree("null") : JSON.readTree(body));
    }
}
