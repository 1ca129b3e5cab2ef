package com.example.shop.billing;

import com.example.shop.billing.Invoices.Invoice;
import java.util.List;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/** {@code GET /invoices}. */
@RestController
public class InvoiceController {

    private final Invoices invoices;

    public InvoiceController(Invoices invoices) {
        this.invoices = invoices;
    }

    @GetMapping("/invoices")
    public List<Invoice> invoices() {
        return invoices.all();
    }
}
