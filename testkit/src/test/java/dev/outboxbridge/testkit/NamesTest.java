package dev.outboxbridge.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class NamesTest {

    @Test
    void databaseNamesAreLowerCaseIdentifiersWithARandomSuffix() {
        String name = Names.databaseName("Orders-IT.publishesEvent");
        assertThat(name).matches("orders_it_publishesevent_[a-z0-9]{8}");
        assertThat(Names.databaseName("x".repeat(200))).hasSizeLessThanOrEqualTo(39);
        assertThat(Names.databaseName("")).matches("test_[a-z0-9]{8}");
        assertThat(Names.databaseName("42things")).matches("test_42things_[a-z0-9]{8}");
        assertThat(Names.databaseName("__ÄÖ__")).matches("test_[a-z0-9]{8}");
    }

    @Test
    void databaseNamesAreUnique() {
        Set<String> names = new HashSet<>();
        for (int i = 0; i < 10_000; i++) {
            assertThat(names.add(Names.databaseName("t"))).isTrue();
        }
    }

    @Test
    void qualifiedIdentifiersKeepTheWholeBaseWithin63Characters() {
        String base = Names.databaseName("y".repeat(100));
        String id = Names.qualifiedIdentifier("Slot Name ".repeat(10), base);
        assertThat(id).hasSize(63).endsWith("_" + base).startsWith("slot_name_").matches("[a-z][a-z0-9_]*");
        assertThat(Names.qualifiedIdentifier("slot", "orders_abc")).isEqualTo("slot_orders_abc");
        assertThat(Names.qualifiedIdentifier("", "orders_abc")).isEqualTo("x_orders_abc");
    }

    @Test
    void topicPrefixesAreValidTopicNameStarts() {
        assertThat(Names.topicPrefix("publishesOrder_Created")).matches("publishesorder-created-[a-z0-9]{6}\\.");
        assertThat(Names.topicPrefix(null)).matches("t-[a-z0-9]{6}\\.");
        assertThat(Names.topicPrefix("z".repeat(300))).hasSize(40 + 8);
    }

    @Test
    void quotesIdentifiers() {
        assertThat(Names.quoteIdentifier("a\"b")).isEqualTo("\"a\"\"b\"");
    }
}
