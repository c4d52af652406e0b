package io.plugkit.bench;

import io.plugkit.Doctor;
import java.util.Arrays;

/** plugkit's command line: {@code demo}, {@code bench [options]}, {@code doctor}. */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    String cmd = args.length == 0 ? "help" : args[0];
    String[] rest = Arrays.copyOfRange(args, Math.min(1, args.length), args.length);
    switch (cmd) {
      case "demo" -> Demo.main(rest);
      case "bench" -> Benchmark.main(rest);
      case "doctor" -> Doctor.main(rest);
      default -> {
        System.out.println("usage: plugkit demo | bench [--device cpu|cuda] [--threads N] [--filter TEXT] [--exclude TEXT] | doctor");
        if (!cmd.equals("help")) System.exit(2);
      }
    }
  }
}
