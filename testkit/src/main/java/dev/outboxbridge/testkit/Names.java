package dev.outboxbridge.testkit;

import java.security.SecureRandom;
import java.util.Locale;

/** Builds the database, identifier and topic names the testkit hands out. */
final class Names {

    /** PostgreSQL's NAMEDATALEN - 1: the longest identifier, replication slot or database name. */
    static final int MAX_IDENTIFIER_LENGTH = 63;
    /** Longest prefix kept in a database name; leaves room for {@link TestDatabase#uniqueName}. */
    static final int MAX_DATABASE_PREFIX_LENGTH = 30;
    /** Length of the random part of database names (36^8, about 2.8e12 values). */
    static final int DATABASE_SUFFIX_LENGTH = 8;
    /** Longest prefix kept in a topic namespace. */
    static final int MAX_TOPIC_PREFIX_LENGTH = 40;
    /** Length of the random part of topic namespaces. */
    static final int TOPIC_SUFFIX_LENGTH = 6;

    private static final String ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";
    // random rather than a counter: several JVMs may share one external server
    private static final SecureRandom RANDOM = new SecureRandom();

    private Names() {
    }

    /** A new database name: {@code <sanitized prefix>_<random>}, at most 39 characters. */
    static String databaseName(String prefix) {
        return sqlIdentifier(prefix, MAX_DATABASE_PREFIX_LENGTH, "test") + "_" + randomSuffix(DATABASE_SUFFIX_LENGTH);
    }

    /**
     * {@code <sanitized prefix>_<base>}, at most 63 characters; the prefix is shortened, never the
     * base, so the result stays as unique as the base.
     */
    static String qualifiedIdentifier(String prefix, String base) {
        int room = MAX_IDENTIFIER_LENGTH - 1 - base.length();
        if (room < 1) {
            throw new IllegalArgumentException("'" + base + "' leaves no room for a prefix within "
                    + MAX_IDENTIFIER_LENGTH + " characters");
        }
        return sqlIdentifier(prefix, room, "x") + "_" + base;
    }

    /**
     * Reduces text to a lower-case SQL identifier of {@code [a-z0-9_]} that starts with a letter:
     * other characters become {@code _}, runs of {@code _} collapse, and the result is cut to
     * {@code maxLength}. Gives {@code fallback} (or a prefix of it) when nothing is left.
     */
    static String sqlIdentifier(String text, int maxLength, String fallback) {
        return sanitize(text, maxLength, fallback, '_', "[^a-z0-9_]+", "_+");
    }

    /** A new topic namespace prefix: {@code <sanitized prefix>-<random>.}, for example {@code orders-k3x9a1.}. */
    static String topicPrefix(String prefix) {
        return sanitize(prefix, MAX_TOPIC_PREFIX_LENGTH, "t", '-', "[^a-z0-9-]+", "-+")
                + "-" + randomSuffix(TOPIC_SUFFIX_LENGTH) + ".";
    }

    static String randomSuffix(int length) {
        StringBuilder sb = new StringBuilder(length);
        for (int i = 0; i < length; i++) {
            sb.append(ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length())));
        }
        return sb.toString();
    }

    /** Double-quotes an SQL identifier. */
    static String quoteIdentifier(String identifier) {
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }

    private static String sanitize(String text, int maxLength, String fallback, char separator,
                                   String invalidRun, String separatorRun) {
        String s = text == null ? "" : text.toLowerCase(Locale.ROOT)
                .replaceAll(invalidRun, String.valueOf(separator))
                .replaceAll(separatorRun, String.valueOf(separator));
        s = strip(s, separator);
        if (s.isEmpty()) {
            s = fallback;
        } else if (!Character.isLetter(s.charAt(0))) {
            s = fallback + separator + s;
        }
        if (s.length() > maxLength) {
            s = strip(s.substring(0, maxLength), separator);
        }
        return s;
    }

    private static String strip(String s, char c) {
        int start = 0;
        int end = s.length();
        while (start < end && s.charAt(start) == c) {
            start++;
        }
        while (end > start && s.charAt(end - 1) == c) {
            end--;
        }
        return s.substring(start, end);
    }
}
