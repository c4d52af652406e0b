package io.plugkit.jmh;

import io.plugkit.driver.Drivers;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * JMH's own command line ({@code org.openjdk.jmh.Main}: {@code -h} lists the options) with one
 * default added: where no CUDA device is usable and the arguments set no {@code device} parameter,
 * only the cpu cases run ({@code -p device=cpu}), with a note saying why, instead of failing each
 * cuda case.
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    List<String> a = new ArrayList<>(Arrays.asList(args));
    boolean deviceGiven = false;
    for (int i = 0; i + 1 < a.size(); i++) {
      if (a.get(i).equals("-p") && a.get(i + 1).startsWith("device=")) deviceGiven = true;
    }
    boolean helpOrList = a.stream().anyMatch(s -> s.equals("-h") || s.equals("-l") || s.equals("-lp") || s.equals("-lprof"));
    if (!deviceGiven && !helpOrList && !Drivers.cudaUsable()) {
      System.out.println("# plugkit: CUDA not usable (" + Drivers.cudaProblem() + "): running device=cpu only");
      a.add("-p");
      a.add("device=cpu");
    }
    org.openjdk.jmh.Main.main(a.toArray(String[]::new));
  }
}
