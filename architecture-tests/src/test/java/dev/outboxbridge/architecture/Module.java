package dev.outboxbridge.architecture;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The project's modules, each by its Java package, and which others its main code may use. Dependencies point one
 * way: the libraries (db, outbox-core, relay, consumer-inbox, the Spring Boot starter) never use the testkit, the
 * fault tooling, the demo or the benchmarks; outbox-core and consumer-inbox never use the relay.
 */
enum Module {
    DB("outbox-db", "db", true),
    CORE("outbox-core", "outbox", true, DB),
    RELAY("outbox-relay", "relay", true, DB),
    RELAY_APP("outbox-relay-app", "relay.app", false, RELAY, DB),
    INBOX("consumer-inbox", "inbox", true, DB),
    CLI("outbox-cli", "cli", false, RELAY, INBOX, DB),
    SPRING("outbox-spring-boot-starter", "spring", true, CORE, INBOX, RELAY, DB),
    TESTKIT("outbox-testkit", "testkit", false, DB),
    TEST_SUPPORT("outbox-test-support", "testsupport", false, TESTKIT, CORE, RELAY, INBOX, DB),
    DEMO("outbox-demo", "demo", false, TEST_SUPPORT, TESTKIT, CORE, RELAY, RELAY_APP, INBOX, DB),
    BENCH("outbox-bench", "bench", false, DEMO, TEST_SUPPORT, TESTKIT, CORE, RELAY, RELAY_APP, INBOX, DB);

    static final String ROOT = "dev.outboxbridge";

    final String artifact;
    final String pkg;
    final boolean library;
    private final List<Module> allowed;

    Module(String artifact, String relativePackage, boolean library, Module... allowed) {
        this.artifact = artifact;
        this.pkg = ROOT + "." + relativePackage;
        this.library = library;
        this.allowed = List.of(allowed);
    }

    boolean mayUse(Module other) {
        return allowed.contains(other);
    }

    String allowedArtifacts() {
        return allowed.stream().map(m -> m.artifact).collect(Collectors.toList()).toString();
    }

    /** The module a package belongs to: the one with the longest matching package (relay.app is not relay). */
    static Optional<Module> of(String packageName) {
        Module best = null;
        for (Module m : values()) {
            if ((packageName.equals(m.pkg) || packageName.startsWith(m.pkg + "."))
                    && (best == null || m.pkg.length() > best.pkg.length())) {
                best = m;
            }
        }
        return Optional.ofNullable(best);
    }

    /** Modules whose package is on the test classpath. */
    static Set<Module> onTheTestClasspath() {
        return EnumSet.copyOf(Arrays.stream(values()).filter(m -> m.presentOnClasspath()).collect(Collectors.toSet()));
    }

    private boolean presentOnClasspath() {
        return Thread.currentThread().getContextClassLoader().getResource(pkg.replace('.', '/')) != null;
    }

    /** Packages of the library modules, for ArchUnit's resideInAnyPackage (relay without relay.app). */
    static String[] libraryPackages() {
        return Arrays.stream(values()).filter(m -> m.library)
                .flatMap(m -> m == RELAY ? java.util.stream.Stream.of(m.pkg, m.pkg + ".internal..") : java.util.stream.Stream.of(m.pkg + ".."))
                .toArray(String[]::new);
    }
}
