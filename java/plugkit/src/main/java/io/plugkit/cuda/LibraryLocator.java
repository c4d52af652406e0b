package io.plugkit.cuda;

import java.io.File;
import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Lists where the CUDA libraries may be, in the order they are tried:
 * <ol>
 *   <li>the folders of {@code PLUGKIT_CUDA_LIBS} (a {@code :}-separated list), so a user can
 *       always force a build;</li>
 *   <li>the system loader, by soname ({@code ldconfig} cache, {@code LD_LIBRARY_PATH});</li>
 *   <li>{@code $CUDA_HOME}, {@code $CUDA_PATH}, the folders of {@code LD_LIBRARY_PATH};</li>
 *   <li>Python's {@code nvidia-*} wheels ({@code site-packages/nvidia/<pkg>/lib}, and
 *       {@code torch/lib}) of every Python it can see: {@code $VIRTUAL_ENV}, {@code $CONDA_PREFIX},
 *       the Pythons on {@code PATH}, {@code PYTHONPATH}, {@code ~/.local}, pyenv, conda and
 *       miniforge installs, {@code /usr}, {@code /usr/local}, {@code /opt/conda};</li>
 *   <li>the usual system folders: {@code /usr/local/cuda*}, {@code /usr/lib/x86_64-linux-gnu},
 *       {@code /usr/lib64}, the CUDA forward-compatibility folders {@code /usr/local/cuda*}{@code /compat},
 *       and WSL's {@code /usr/lib/wsl/lib}.</li>
 * </ol>
 * Folders named {@code stubs} are never searched: the toolkit's link stubs load but do nothing.
 * The locator only checks that files exist; loading is {@link LoadedLibrary}'s job.
 */
public final class LibraryLocator {
  /** Environment variable: extra folders searched before anything else. */
  public static final String LIBS_VARIABLE = "PLUGKIT_CUDA_LIBS";

  private static final List<String> SITE_PATTERNS = List.of("lib/python3*/site-packages", "lib/python3*/dist-packages",
      "lib64/python3*/site-packages", "lib/python3/dist-packages");
  private static final List<String> WHEEL_PATTERNS = List.of("nvidia/*/lib", "nvidia/*/lib64", "torch/lib");

  /** One place to try: a file, or (path null) a soname for the system loader. */
  public record Candidate(String soname, Path path) {
    public boolean bySoname() { return path == null; }

    @Override public String toString() { return path == null ? soname + " (system loader)" : path.toString(); }
  }

  private final List<Path> overrideDirs;
  private final List<Path> dirs;

  /**
   * @param overrideDirs folders tried before the system loader
   * @param dirs folders tried after it
   */
  public LibraryLocator(List<Path> overrideDirs, List<Path> dirs) {
    this.overrideDirs = List.copyOf(overrideDirs);
    this.dirs = List.copyOf(dirs);
  }

  /** The locator of this process: its environment, the real file system, the user's home. */
  public static LibraryLocator system() {
    return forEnvironment(System.getenv(), Path.of("/"), Path.of(System.getProperty("user.home")));
  }

  /**
   * The locator for an environment; {@code root} replaces {@code /} for the fixed system
   * locations (tests point it at a fake tree). Only folders that exist are kept.
   */
  public static LibraryLocator forEnvironment(Map<String, String> env, Path root, Path home) {
    List<Path> overrides = existing(splitPath(env.get(LIBS_VARIABLE)));

    List<Path> found = new ArrayList<>();
    for (String var : List.of("CUDA_HOME", "CUDA_PATH")) {
      String v = env.get(var);
      if (v != null && !v.isBlank()) {
        found.add(Path.of(v, "lib64"));
        found.add(Path.of(v, "lib"));
      }
    }
    found.addAll(splitPath(env.get("LD_LIBRARY_PATH")));

    List<Path> sites = new ArrayList<>(splitPath(env.get("PYTHONPATH")));
    for (Path prefix : pythonPrefixes(env, root, home)) {
      for (String pattern : SITE_PATTERNS) sites.addAll(expand(prefix, pattern));
    }
    for (Path site : sites) {
      for (String pattern : WHEEL_PATTERNS) found.addAll(expand(site, pattern));
    }

    for (String pattern : List.of("usr/local/cuda/lib64", "usr/local/cuda-*/lib64",
        "usr/local/cuda/targets/x86_64-linux/lib", "usr/lib/x86_64-linux-gnu", "usr/lib64", "usr/local/cuda/compat",
        "usr/local/cuda-*/compat", "usr/lib/wsl/lib")) {
      found.addAll(expand(root, pattern));
    }
    List<Path> dirs = existing(found);
    dirs.removeAll(overrides);
    return new LibraryLocator(overrides, dirs);
  }

  /** Installation prefixes that may hold a Python: each has {@code lib/python3.X/site-packages}. */
  private static List<Path> pythonPrefixes(Map<String, String> env, Path root, Path home) {
    List<Path> prefixes = new ArrayList<>();
    for (String var : List.of("VIRTUAL_ENV", "CONDA_PREFIX")) {
      String v = env.get(var);
      if (v != null && !v.isBlank()) prefixes.add(Path.of(v));
    }
    // A python on PATH at <prefix>/bin/python3 keeps its packages under <prefix>/lib.
    for (Path bin : splitPath(env.get("PATH"))) {
      if (bin.getFileName() != null && bin.getFileName().toString().equals("bin") && bin.getParent() != null) {
        prefixes.add(bin.getParent());
      }
    }
    prefixes.add(home.resolve(".local"));
    for (String pattern : List.of(".pyenv/versions/*", "miniconda3", "anaconda3", "miniforge3", "mambaforge",
        "miniconda3/envs/*", "anaconda3/envs/*", "miniforge3/envs/*")) {
      prefixes.addAll(expand(home, pattern));
    }
    for (String pattern : List.of("usr", "usr/local", "opt/conda", "opt/conda/envs/*")) {
      prefixes.addAll(expand(root, pattern));
    }
    return prefixes;
  }

  /** The folders tried before the system loader ({@code PLUGKIT_CUDA_LIBS}). */
  public List<Path> overrideDirs() { return overrideDirs; }

  /** The folders tried after the system loader. */
  public List<Path> dirs() { return dirs; }

  /**
   * Every place to try for a library known by these file names (best first, e.g.
   * {@code libcublas.so.13} before {@code libcublas.so.12}): files in the override folders, the
   * sonames for the system loader, then files in the other folders.
   */
  public List<Candidate> candidates(List<String> fileNames) {
    Set<Candidate> out = new LinkedHashSet<>();
    addFiles(out, overrideDirs, fileNames);
    for (String name : fileNames) out.add(new Candidate(name, null));
    addFiles(out, dirs, fileNames);
    return List.copyOf(out);
  }

  /** The files (not sonames) found for these names, in the order {@link #candidates} tries them. */
  public List<Path> files(List<String> fileNames) {
    return candidates(fileNames).stream().filter(c -> !c.bySoname()).map(Candidate::path).toList();
  }

  private static void addFiles(Set<Candidate> out, List<Path> folders, List<String> fileNames) {
    for (Path dir : folders) {
      for (String name : fileNames) {
        Path file = dir.resolve(name);
        if (Files.exists(file)) out.add(new Candidate(name, file));
      }
    }
  }

  /** A description of the search, for error messages and the Doctor. */
  public String describeSearch() {
    StringBuilder sb = new StringBuilder();
    if (!overrideDirs.isEmpty()) sb.append(LIBS_VARIABLE).append(' ').append(overrideDirs).append(", then ");
    sb.append("the system loader path, then ");
    sb.append(dirs.isEmpty() ? "no other folder (none of the usual ones exist)" : dirs.toString());
    return sb.toString();
  }

  private static List<Path> splitPath(String value) {
    if (value == null || value.isBlank()) return List.of();
    List<Path> out = new ArrayList<>();
    for (String part : value.split(File.pathSeparator)) {
      if (!part.isBlank()) out.add(Path.of(part.trim()));
    }
    return out;
  }

  /** The folders that exist, each once (by real path: /lib and /usr/lib are often one folder). */
  private static List<Path> existing(List<Path> candidates) {
    Set<Path> out = new LinkedHashSet<>();
    for (Path p : candidates) {
      Path n = p.toAbsolutePath().normalize();
      if (!Files.isDirectory(n) || isStubs(n)) continue;
      try {
        out.add(n.toRealPath());
      } catch (IOException e) {
        // vanished between the two checks: nothing to load there
      }
    }
    return new ArrayList<>(out);
  }

  private static boolean isStubs(Path p) {
    for (Path part : p) if (part.toString().equals("stubs")) return true;
    return false;
  }

  /**
   * The folders matching a relative pattern whose segments may hold {@code *} wildcards
   * ({@code lib/python3*}{@code /site-packages}); at each wildcard, names in reverse order so that
   * the newest-looking version comes first.
   */
  static List<Path> expand(Path base, String pattern) {
    List<Path> current = List.of(base);
    for (String segment : pattern.split("/")) {
      List<Path> next = new ArrayList<>();
      for (Path dir : current) {
        if (!segment.contains("*")) {
          Path child = dir.resolve(segment);
          if (Files.isDirectory(child)) next.add(child);
          continue;
        }
        PathMatcher matcher = FileSystems.getDefault().getPathMatcher("glob:" + segment);
        try (Stream<Path> children = Files.list(dir)) {
          children.filter(c -> Files.isDirectory(c) && matcher.matches(c.getFileName()))
              .sorted(Comparator.comparing((Path c) -> c.getFileName().toString()).reversed())
              .forEach(next::add);
        } catch (IOException e) {
          // an unreadable or vanished folder holds nothing we can load
        }
      }
      current = next;
    }
    return current;
  }
}
