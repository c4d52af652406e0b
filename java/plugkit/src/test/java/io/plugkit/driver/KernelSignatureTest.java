package io.plugkit.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.cpu.HostLibrary;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.net.URISyntaxException;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Every kernel declared in Java (a static Kernel field anywhere in the library) matches a
 * PK_KERNEL in cuda-kernels/ by name and parameter kinds, takes int64_t n first, and is exported
 * by the host library; and every kernel in the sources is declared somewhere.
 */
class KernelSignatureTest {
  private static final Pattern KERNEL = Pattern.compile("PK_KERNEL\\s+void\\s+(\\w+)\\s*\\(([^)]*)\\)", Pattern.DOTALL);

  @Test
  void declarationsMatchSources() throws Exception {
    Map<String, List<ArgKind>> sources = parseSources();
    Map<String, Kernel> declared = declaredKernels();
    assertFalse(declared.isEmpty(), "found no Kernel declarations");
    for (Kernel k : declared.values()) {
      List<ArgKind> src = sources.get(k.name());
      assertTrue(src != null, "kernel " + k.name() + " is declared in Java but not in cuda-kernels/");
      assertEquals(src, k.params(), "parameters of " + k.name() + " (Java vs source, after int64_t n)");
      assertTrue(HostLibrary.hasSymbol(k.name()), "libplugkit_host does not export " + k.name());
    }
    for (String name : sources.keySet()) {
      assertTrue(declared.containsKey(name), "kernel " + name + " in cuda-kernels/ is not declared in Java");
    }
  }

  private static Map<String, List<ArgKind>> parseSources() throws IOException, URISyntaxException {
    Path dir = repoRoot().resolve("cuda-kernels");
    Map<String, List<ArgKind>> out = new HashMap<>();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".cu")).toList()) {
        String text = Files.readString(f).replaceAll("//[^\n]*", "");
        Matcher m = KERNEL.matcher(text);
        while (m.find()) {
          String[] params = m.group(2).split(",");
          String first = params[0].trim();
          assertTrue(first.matches("int64_t\\s+n"), m.group(1) + " in " + f.getFileName() + ": first parameter must be int64_t n but is " + first);
          List<ArgKind> kinds = new ArrayList<>();
          for (int i = 1; i < params.length; i++) {
            String p = params[i].trim();
            String type = p.substring(0, p.lastIndexOf(p.replaceAll(".*[\\s*]", "")));
            ArgKind kind = ArgKind.ofCType(type);
            assertTrue(kind != null, m.group(1) + ": unsupported parameter type '" + type + "'");
            kinds.add(kind);
          }
          // A block-cooperative kernel is defined twice, under #if PK_GPU and #else: same signature.
          List<ArgKind> prev = out.put(m.group(1), kinds);
          assertTrue(prev == null || prev.equals(kinds), "kernel " + m.group(1) + " defined twice with different parameters");
        }
      }
    }
    return out;
  }

  private static Map<String, Kernel> declaredKernels() throws Exception {
    Path location = Path.of(Kernel.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    Map<String, Kernel> out = new HashMap<>();
    // The library's classes: a folder under Maven, a jar in the GPU bundle.
    try (FileSystem jar = Files.isDirectory(location) ? null : FileSystems.newFileSystem(location)) {
      Path classes = jar == null ? location : jar.getPath("/");
      collect(classes, out);
    }
    return out;
  }

  private static void collect(Path classes, Map<String, Kernel> out) throws Exception {
    try (Stream<Path> files = Files.walk(classes)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".class")).toList()) {
        String name = classes.relativize(f).toString().replace('/', '.').replaceAll("\\.class$", "");
        if (name.endsWith("module-info") || name.startsWith("META-INF")) continue;
        Class<?> c = Class.forName(name, false, KernelSignatureTest.class.getClassLoader());
        for (Field field : c.getDeclaredFields()) {
          if (field.getType() == Kernel.class && Modifier.isStatic(field.getModifiers())) {
            field.setAccessible(true);
            Kernel k = (Kernel) field.get(null);
            Kernel prev = out.put(k.name(), k);
            assertTrue(prev == null || prev.equals(k), "kernel " + k.name() + " declared twice with different signatures");
          }
        }
      }
    }
  }

  private static Path repoRoot() throws URISyntaxException {
    Path p = Path.of(Kernel.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    while (p != null && !Files.isDirectory(p.resolve("cuda-kernels"))) p = p.getParent();
    Assumptions.assumeTrue(p != null, "kernel sources (cuda-kernels/) not found above " + Kernel.class.getProtectionDomain().getCodeSource().getLocation());
    return p;
  }
}
