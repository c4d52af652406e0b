package io.plugkit.nn;

import io.plugkit.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * How the keys and shapes of a saved state dict differ from a module's, in known ways: load a
 * block out of a whole-network file, rename another port's keys, read an nn.Linear weight
 * [out, in] as a 1x1 conv weight [out, in, 1, 1] or back. Used by
 * {@link Module#load(java.nio.file.Path, StateDictMapping, boolean)} and
 * {@link Module#loadStateDict(Map, StateDictMapping, boolean)}.
 *
 * <p>Immutable; each method returns a new mapping with one more step. The steps run in the order
 * they were added, each on the key as the previous steps left it:
 *
 * <pre>{@code
 * StateDictMapping m = StateDictMapping.identity()
 *     .under("layer1.0.se.")              // only keys under the prefix, prefix stripped
 *     .renamePrefix("fc.0.", "fc1.")      // classic SENet names -> timm's
 *     .renamePrefix("fc.2.", "fc2.")
 *     .linearToConv("^fc[12]\\.weight$"); // [out, in] -> [out, in, 1, 1]
 * se.load(file, m, true);
 * }</pre>
 *
 * A reshape only reinterprets the row-major data (same bytes), so it needs no copy.
 */
public final class StateDictMapping {
  private sealed interface Step permits Under, Rename, Reshape {}

  private record Under(String prefix) implements Step {}

  private record Rename(Pattern pattern, String replacement) implements Step {}

  /** toConv: [out, in] -> [out, in, 1, 1]; otherwise [out, in, 1, 1] -> [out, in]. */
  private record Reshape(Pattern pattern, boolean toConv) implements Step {}

  /** Where a module key's tensor comes from: the key in the file, and its shape as the module reads it. */
  public record Source(String key, Shape shape, boolean reshaped) {}

  /**
   * A mapped state dict: module key -> its source, in file order; {@code problems}: module key ->
   * why it could not be mapped (a reshape of the wrong shape, two saved keys mapped to one name).
   */
  public record Mapped(Map<String, Source> entries, Map<String, String> problems) {}

  private static final StateDictMapping IDENTITY = new StateDictMapping(List.of());

  private final List<Step> steps;

  private StateDictMapping(List<Step> steps) { this.steps = List.copyOf(steps); }

  /** The mapping that changes nothing: keys and shapes as saved. */
  public static StateDictMapping identity() { return IDENTITY; }

  private StateDictMapping with(Step step) {
    List<Step> s = new ArrayList<>(steps);
    s.add(step);
    return new StateDictMapping(s);
  }

  /**
   * Keeps only keys that start with {@code prefix} and strips it ({@code "layer1.0.se."}: the
   * block's keys out of a whole-network file). The other keys are dropped, so strict loading does
   * not report them as unexpected.
   */
  public StateDictMapping under(String prefix) {
    if (prefix == null || prefix.isEmpty()) {
      throw new IllegalArgumentException("prefix: expected a non-empty key prefix (e.g. \"layer1.0.se.\") but got "
          + (prefix == null ? "null" : "''"));
    }
    return with(new Under(prefix));
  }

  /** Replaces a leading {@code from} of a key by {@code to} (other keys pass unchanged). */
  public StateDictMapping renamePrefix(String from, String to) {
    if (from == null || from.isEmpty()) {
      throw new IllegalArgumentException("from: expected a non-empty key prefix but got " + (from == null ? "null" : "''"));
    }
    if (to == null) throw new IllegalArgumentException("to: expected a prefix (may be empty) but got null");
    return with(new Rename(Pattern.compile("^" + Pattern.quote(from)), Matcher.quoteReplacement(to)));
  }

  /**
   * Rewrites keys in which the Java regex {@code regex} finds a match: every match is replaced
   * by {@code replacement} ({@code $1} names groups), as {@link Matcher#replaceAll(String)}.
   */
  public StateDictMapping rename(String regex, String replacement) {
    if (replacement == null) throw new IllegalArgumentException("replacement: expected a replacement (may be empty) but got null");
    return with(new Rename(compile(regex), replacement));
  }

  /**
   * Reads entries whose key (as mapped so far) the regex finds a match in, which must be nn.Linear
   * weights [out, in], as 1x1 conv weights [out, in, 1, 1].
   */
  public StateDictMapping linearToConv(String regex) { return with(new Reshape(compile(regex), true)); }

  /** Reads 1x1 conv weights [out, in, 1, 1] whose key the regex finds a match in as nn.Linear weights [out, in]. */
  public StateDictMapping convToLinear(String regex) { return with(new Reshape(compile(regex), false)); }

  private static Pattern compile(String regex) {
    if (regex == null) throw new IllegalArgumentException("regex: expected a Java regular expression but got null");
    try {
      return Pattern.compile(regex);
    } catch (PatternSyntaxException e) {
      throw new IllegalArgumentException("regex: expected a Java regular expression but got '" + regex + "': " + e.getDescription());
    }
  }

  /** Maps saved keys and shapes (file order) to module keys; collects every problem instead of stopping at the first. */
  public Mapped apply(Map<String, Shape> saved) {
    if (saved == null) throw new IllegalArgumentException("saved: expected a map of key to shape but got null");
    Map<String, Source> out = new LinkedHashMap<>();
    Map<String, String> problems = new LinkedHashMap<>();
    for (var e : saved.entrySet()) {
      String key = e.getKey();
      Shape shape = e.getValue();
      boolean reshaped = false;
      String problem = null;
      for (Step step : steps) {
        if (step instanceof Under u) {
          if (!key.startsWith(u.prefix())) {
            key = null;
            break;
          }
          key = key.substring(u.prefix().length());
        } else if (step instanceof Rename r) {
          Matcher m = r.pattern().matcher(key);
          if (m.find()) key = m.replaceAll(r.replacement());
        } else if (step instanceof Reshape r && r.pattern().matcher(key).find()) {
          int[] d = shape.dims();
          if (r.toConv() && d.length == 2) {
            shape = Shape.of(d[0], d[1], 1, 1);
            reshaped = true;
          } else if (!r.toConv() && d.length == 4 && d[2] == 1 && d[3] == 1) {
            shape = Shape.of(d[0], d[1]);
            reshaped = true;
          } else {
            problem = key + " (saved as " + e.getKey() + "): " + (r.toConv() ? "linearToConv" : "convToLinear")
                + " expected a " + (r.toConv() ? "Linear weight [out, in]" : "1x1 conv weight [out, in, 1, 1]")
                + " but got shape " + shape;
            break;
          }
        }
      }
      if (key == null) continue;
      if (problem != null) {
        problems.put(key, problem);
      } else if (key.isEmpty()) {
        problems.put(e.getKey(), e.getKey() + ": maps to an empty key");
      } else if (out.containsKey(key) || problems.containsKey(key)) {
        problems.put(key, key + ": saved keys " + (out.containsKey(key) ? out.get(key).key() + " and " : "") + e.getKey()
            + " both map to it");
        out.remove(key);
      } else {
        out.put(key, new Source(e.getKey(), shape, reshaped));
      }
    }
    return new Mapped(out, problems);
  }

  @Override public String toString() { return "StateDictMapping" + steps; }
}
