package com.example.shop.orders;

import com.example.shop.orders.OrderService.Order;
import com.example.shop.orders.OrderService.OrderRejectedException;
import java.net.URI;
import java.util.List;
import java.util.Map;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

/** {@code POST /orders {"customer": "...", "totalCents": 1234}} and {@code GET /orders}. */
@RestController
public class OrderController {

    private final OrderService orders;

    public OrderController(OrderService orders) {
        this.orders = orders;
    }

    /** The request body of {@code POST /orders}. */
    public record PlaceOrder(String customer, long totalCents) {
    }

    @PostMapping("/orders")
    public ResponseEntity<Order> place(@RequestBody PlaceOrder request) {
        Order order = orders.place(request.customer(), request.totalCents());
        return ResponseEntity.created(URI.create("/orders/" + order.id())).body(order);
    }

    @GetMapping("/orders")
    public List<Order> orders() {
        return orders.orders();
    }

    @ExceptionHandler(IllegalArgumentException.class)
    ResponseEntity<Map<String, String>> invalid(IllegalArgumentException e) {
        return ResponseEntity.badRequest().body(Map.of("error", e.getMessage()));
    }

    @ExceptionHandler(OrderRejectedException.class)
    ResponseEntity<Map<String, String>> rejected(OrderRejectedException e) {
        return ResponseEntity.status(422).body(Map.of("error", e.getMessage()));
    }
}
