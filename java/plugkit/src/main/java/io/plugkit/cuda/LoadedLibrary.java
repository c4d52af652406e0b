package io.plugkit.cuda;

import io.plugkit.driver.UnsupportedFeatureException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * A native library loaded for the life of the process, with where it came from.
 *
 * @param label what it is, for messages ("cuBLAS")
 * @param location the file it was loaded from (for a soname hit: the file the loader chose,
 *     read back from {@code /proc/self/maps})
 * @param lookup its symbols
 */
public record LoadedLibrary(String label, String location, SymbolLookup lookup) {

  /** The symbol's address, or an {@link UnsupportedFeatureException} naming library and symbol. */
  public MemorySegment require(String symbol) {
    return lookup.find(symbol)
        .orElseThrow(() -> new UnsupportedFeatureException(label + ": symbol " + symbol + " missing from " + location));
  }

  /** Loads the first candidate that loads; the error lists every attempt and why it failed. */
  public static LoadedLibrary load(String label, List<LibraryLocator.Candidate> candidates, String searched) {
    return load(label, candidates, searched, dir -> {});
  }

  /**
   * As {@link #load(String, List, String)}, calling {@code beforeFile} with a file candidate's
   * folder just before loading it (to load its dependencies from that same folder first).
   */
  public static LoadedLibrary load(String label, List<LibraryLocator.Candidate> candidates, String searched,
      Consumer<Path> beforeFile) {
    List<String> failures = new ArrayList<>();
    for (LibraryLocator.Candidate c : candidates) {
      try {
        if (!c.bySoname()) beforeFile.accept(c.path().getParent());
        SymbolLookup lookup = c.bySoname() ? SymbolLookup.libraryLookup(c.soname(), Arena.global())
            : SymbolLookup.libraryLookup(c.path(), Arena.global());
        String where = c.bySoname() ? mappedPath(c.soname()) + " (via the system loader)" : c.path().toString();
        return new LoadedLibrary(label, where, lookup);
      } catch (IllegalArgumentException | UnsupportedOperationException e) {
        // Not on the loader path, or a file that does not load (wrong arch, missing dependency).
        if (!c.bySoname()) failures.add(c.path() + ": " + e.getMessage());
      }
    }
    String names = candidates.stream().filter(LibraryLocator.Candidate::bySoname).map(LibraryLocator.Candidate::soname)
        .toList().toString();
    throw new UnsupportedFeatureException(label + " not found: no " + names + " loads; searched " + searched
        + (failures.isEmpty() ? "" : "; files that failed to load: " + failures));
  }

  /**
   * Loads the first candidate that loads, for a dependency another library finds by soname
   * once it is resident; absent when none loads (the dependent library then reports it).
   */
  public static Optional<LoadedLibrary> tryLoad(String label, List<LibraryLocator.Candidate> candidates) {
    try {
      return Optional.of(load(label, candidates, "given candidates"));
    } catch (UnsupportedFeatureException e) {
      return Optional.empty();
    }
  }

  /** The file a loaded soname maps to in this process, or the soname when it cannot be told. */
  static String mappedPath(String soname) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
        int slash = line.indexOf('/');
        if (slash < 0) continue;
        String path = line.substring(slash);
        String file = path.substring(path.lastIndexOf('/') + 1);
        if (file.equals(soname) || file.startsWith(soname + ".")) return path;
      }
    } catch (IOException | RuntimeException e) {
      // not Linux, or /proc not mounted: the soname is the best we know
    }
    return soname;
  }
}
