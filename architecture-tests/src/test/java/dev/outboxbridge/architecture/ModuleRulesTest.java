package dev.outboxbridge.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.Dependency;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.library.dependencies.SliceAssignment;
import com.tngtech.archunit.library.dependencies.SliceIdentifier;
import com.tngtech.archunit.library.dependencies.SlicesRuleDefinition;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The module boundaries of {@link Module}, checked on the main code of every module (tests may cross them).
 * Each failure names the class, the dependency and how to fix it.
 */
class ModuleRulesTest {

    private static JavaClasses classes;

    @BeforeAll
    static void importMainCode() {
        classes = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .withImportOption(location -> !location.contains("/.m2/repository/")) // only the reactor's own classes
                .importPackages(Module.ROOT);
    }

    @Test
    void theRulesSeeEveryModulesMainCode() {
        TreeSet<Module> seen = new TreeSet<>();
        for (JavaClass c : classes) {
            Module.of(c.getPackageName()).ifPresent(seen::add);
        }
        assertThat(seen).as("modules whose main classes the rules read: add a new module to this module's pom.xml"
                + " (test scope) and to Module").containsAll(Module.onTheTestClasspath());
        assertThat(seen).contains(Module.DB, Module.CORE, Module.RELAY, Module.INBOX, Module.TESTKIT, Module.DEMO);
    }

    @Test
    void noModuleUsesAnotherModulesInternalPackage() {
        List<String> violations = new ArrayList<>();
        for (JavaClass origin : classes) {
            Optional<Module> from = Module.of(origin.getPackageName());
            for (Dependency d : origin.getDirectDependenciesFromSelf()) {
                JavaClass target = d.getTargetClass();
                Optional<Module> to = Module.of(target.getPackageName());
                if (from.isPresent() && to.isPresent() && from.get() != to.get()
                        && (target.getPackageName() + ".").contains(".internal.")) {
                    violations.add(from.get().artifact + " uses " + to.get().artifact + "'s internal "
                            + target.getName() + " (" + d.getDescription() + "). Fix: use " + to.get().artifact
                            + "'s public API in " + to.get().pkg + ", or make what you need public API there");
                }
            }
        }
        assertThat(violations).as("'internal' packages are not API, not even for the project's other modules").isEmpty();
    }

    @Test
    void modulesDependOnlyOnWhatTheyAreAllowedTo() {
        List<String> violations = new ArrayList<>();
        for (JavaClass origin : classes) {
            Optional<Module> from = Module.of(origin.getPackageName());
            for (Dependency d : origin.getDirectDependenciesFromSelf()) {
                Optional<Module> to = Module.of(d.getTargetClass().getPackageName());
                if (from.isPresent() && to.isPresent() && from.get() != to.get() && !from.get().mayUse(to.get())) {
                    violations.add(from.get().artifact + " must not depend on " + to.get().artifact + ": "
                            + d.getDescription() + ". " + from.get().artifact + " may use only " + from.get().allowedArtifacts()
                            + ". Fix: move the shared code down into one of those (outbox-db holds what every side shares)");
                }
            }
        }
        assertThat(violations).isEmpty();
    }

    @Test
    void modulesAreFreeOfCycles() {
        SlicesRuleDefinition.slices().assignedFrom(new SliceAssignment() {
            @Override
            public SliceIdentifier getIdentifierOf(JavaClass javaClass) {
                return Module.of(javaClass.getPackageName()).map(m -> SliceIdentifier.of(m.artifact))
                        .orElse(SliceIdentifier.ignore());
            }

            @Override
            public String getDescription() {
                return "Outbox Bridge modules";
            }
        }).should().beFreeOfCycles().check(classes);
    }

    @Test
    void librariesPassOnNoLoggingBackendCliOrTestFramework() {
        noClasses().that().resideInAnyPackage(Module.libraryPackages())
                .should().dependOnClassesThat().resideInAnyPackage("ch.qos.logback..", "org.apache.log4j..",
                        "org.apache.logging.log4j.core..", "picocli..", "io.micrometer.prometheusmetrics..",
                        "io.prometheus..", "org.junit..", "org.assertj..", "org.awaitility..")
                .because("a library runs inside someone else's application: it logs through slf4j-api only, takes the"
                        + " host's MeterRegistry, and brings no CLI or test framework (those belong to relay-app, the"
                        + " testkit and test-support)")
                .check(classes);
    }
}
