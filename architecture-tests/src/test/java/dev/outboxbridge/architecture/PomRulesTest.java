package dev.outboxbridge.architecture;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/** Build rules the enforcer has no rule for: dependency versions live only in the parent's dependencyManagement. */
class PomRulesTest {

    /** The repository root: this module's parent folder (the build reads nothing outside the repository). */
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    @Test
    void moduleDependenciesTakeTheirVersionFromTheParent() throws Exception {
        List<Path> poms = modulePoms();
        assertThat(poms).as("module poms under " + ROOT).isNotEmpty();
        List<String> violations = new ArrayList<>();
        for (Path pom : poms) {
            Document doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(pom.toFile());
            Element project = doc.getDocumentElement();
            Element parent = child(project, "parent");
            if (parent == null || !"outbox-bridge-parent".equals(text(parent, "artifactId"))) {
                continue; // a project outside the reactor (e.g. a user's project built against the BOM) keeps its own
            }
            Element dependencies = child(project, "dependencies");
            if (dependencies == null) {
                continue;
            }
            NodeList list = dependencies.getElementsByTagName("dependency");
            for (int i = 0; i < list.getLength(); i++) {
                Element d = (Element) list.item(i);
                if (child(d, "version") != null) {
                    violations.add(ROOT.relativize(pom) + ": " + text(d, "groupId") + ":" + text(d, "artifactId")
                            + " sets <version>. Fix: manage the version in the root pom.xml's dependencyManagement and"
                            + " remove it here");
                }
            }
        }
        assertThat(violations).isEmpty();
    }

    @Test
    void theBomListsEveryPublishedModuleAtTheProjectsVersion() throws Exception {
        Element root = parse(ROOT.resolve("pom.xml"));
        String version = text(root, "version");
        Element bom = parse(ROOT.resolve("bom/pom.xml"));
        assertThat(text(bom, "version")).as("bom/pom.xml's version (it has no parent): keep it the project's").isEqualTo(version);
        Element bomProperties = child(bom, "properties");
        Element rootProperties = child(root, "properties");
        assertThat(text(bomProperties, "outbox-bridge.version")).isEqualTo(version);
        for (String shared : List.of("kafka.version", "debezium.version")) {
            assertThat(text(bomProperties, shared)).as("bom/pom.xml's " + shared + ": keep it the parent's")
                    .isEqualTo(text(rootProperties, shared));
        }
        List<String> managed = new ArrayList<>();
        NodeList deps = child(bom, "dependencyManagement").getElementsByTagName("dependency");
        for (int i = 0; i < deps.getLength(); i++) {
            managed.add(text((Element) deps.item(i), "artifactId"));
        }
        List<String> published = new ArrayList<>();
        for (Path pom : modulePoms()) {
            Element project = parse(pom);
            Element parent = child(project, "parent");
            Element properties = child(project, "properties");
            boolean skipped = properties != null && "true".equals(text(properties, "maven.deploy.skip"));
            if (parent != null && "outbox-bridge-parent".equals(text(parent, "artifactId")) && !skipped
                    && !"pom".equals(text(project, "packaging"))) {
                published.add(text(project, "artifactId"));
            }
        }
        assertThat(published).as("published modules").isNotEmpty();
        assertThat(managed).as("bom/pom.xml must manage every published module (a module that is not published sets"
                + " maven.deploy.skip=true in its properties)").containsAll(published);
    }

    private static Element parse(Path pom) throws Exception {
        return DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(pom.toFile()).getDocumentElement();
    }

    private static List<Path> modulePoms() throws IOException {
        try (Stream<Path> s = Files.walk(ROOT, 3)) {
            return s.filter(p -> p.getFileName().toString().equals("pom.xml") && !p.getParent().equals(ROOT))
                    .filter(p -> !p.toString().contains("/target/") && !p.toString().contains("/.git/"))
                    .sorted().toList();
        }
    }

    private static Element child(Element parent, String name) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getTagName().equals(name)) {
                return e;
            }
        }
        return null;
    }

    private static String text(Element parent, String name) {
        Element e = child(parent, name);
        return e == null ? null : e.getTextContent().trim();
    }
}
