package io.plugkit;

import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.autograd.GradMode;
import io.plugkit.cpu.CpuDriver;
import io.plugkit.cpu.HostLibrary;
import io.plugkit.cpu.NativeLoader;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Kernel;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Elementwise;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Where the host time of a 1-element op goes (not a test; run by hand, see docs/architecture.md
 * "What a launch costs"): each stage of relu on a 1-element CPU tensor under no-grad timed on its
 * own, from the bare FFM downcall up to the whole op, so a stage's cost is the difference to the
 * one below it. Prints the median and the min over rounds of each stage, in ns per call.
 * tools/bench/overhead.sh runs it beside PyTorch (tools/bench/torch_bench_overhead.py).
 *
 * <pre>make native && mvn -q test-compile -pl java/plugkit &&
 * java --enable-native-access=ALL-UNNAMED -cp java/plugkit/target/classes:java/plugkit/target/test-classes \
 *   io.plugkit.OverheadBench [calls] [rounds]</pre>
 */
public final class OverheadBench {
  private static final Kernel RELU = Kernel.of("relu_forward", PTR, PTR);

  private interface Loop {
    void run(int n) throws Throwable;
  }

  public static void main(String[] args) throws Throwable {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 200_000;
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 9;
    Linker linker = Linker.nativeLinker();
    Driver cpu = CpuDriver.instance();
    SymbolLookup lib = SymbolLookup.libraryLookup(NativeLoader.extract(NativeLoader.NATIVE_RESOURCES + "libplugkit_host.so"),
        Arena.global());
    MethodHandle useThreads = linker.downcallHandle(lib.find("pk_use_threads").orElseThrow(),
        FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT));
    MethodHandle useThreadsCritical = linker.downcallHandle(lib.find("pk_use_threads").orElseThrow(),
        FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT), Linker.Option.critical(false));
    FunctionDescriptor reluFd = FunctionDescriptor.ofVoid(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG);
    MethodHandle relu = linker.downcallHandle(lib.find("relu_forward").orElseThrow(), reluFd);
    MethodHandle reluCritical = linker.downcallHandle(lib.find("relu_forward").orElseThrow(), reluFd,
        Linker.Option.critical(false));
    int threads = ((CpuDriver) cpu).threads();
    try (Scope s = Scope.open(); GradMode.Restore g = GradMode.disable()) {
      Tensor x = Tensor.of(Device.cpu(), new float[] {-1f}, 1);
      Tensor b = Tensor.of(Device.cpu(), new float[] {2f}, 1);
      Tensor y = Tensor.emptyLike(x);
      long xa;
      long ya;
      try (Pins hold = Pins.hold()) {
        xa = x.address();
        ya = y.address();
      }
      String[] names = {
        "downcall pk_use_threads, critical",
        "downcall pk_use_threads, plain",
        "downcall relu_forward, critical",
        "downcall relu_forward, plain",
        "HostLibrary.launch (boxed args)",
        "CpuDriver.launch (+ arg check)",
        "tensor.driver().launch + 2 pins",
        "HostLibrary.alloc + free (4 bytes)",
        "new Storage + release",
        "Tensor.emptyLike + free (Scope/1000)",
        "relu op, Scope per 1000 ops",
        "relu op, Scope per op",
        "add op, Scope per 1000 ops",
        "add op, Scope per op",
        "add chain y = add(y, 1), Scope per 1000",
      };
      Loop[] loops = {
        k -> { for (int i = 0; i < k; i++) useThreadsCritical.invokeExact(threads); },
        k -> { for (int i = 0; i < k; i++) useThreads.invokeExact(threads); },
        k -> { for (int i = 0; i < k; i++) reluCritical.invokeExact(1L, xa, ya); },
        k -> { for (int i = 0; i < k; i++) relu.invokeExact(1L, xa, ya); },
        k -> { for (int i = 0; i < k; i++) HostLibrary.launch(threads, RELU, 1, new Object[] {xa, ya}); },
        k -> { for (int i = 0; i < k; i++) cpu.launch(RELU, 1, xa, ya); },
        k -> { for (int i = 0; i < k; i++) x.driver().launch(RELU, 1, x.address(), y.address()); },
        k -> { for (int i = 0; i < k; i++) HostLibrary.free(HostLibrary.alloc(4)); },
        k -> { for (int i = 0; i < k; i++) new Storage(x.driver(), 4).release(); },
        k -> {
          for (int i = 0; i < k; i += 1000) {
            try (Scope step = Scope.open()) {
              for (int j = 0; j < 1000; j++) Tensor.emptyLike(x);
            }
          }
        },
        k -> {
          for (int i = 0; i < k; i += 1000) {
            try (Scope step = Scope.open()) {
              for (int j = 0; j < 1000; j++) Activations.relu(x);
            }
          }
        },
        k -> {
          for (int i = 0; i < k; i++) {
            try (Scope step = Scope.open()) {
              Activations.relu(x);
            }
          }
        },
        k -> {
          for (int i = 0; i < k; i += 1000) {
            try (Scope step = Scope.open()) {
              for (int j = 0; j < 1000; j++) Elementwise.add(x, b);
            }
          }
        },
        k -> {
          for (int i = 0; i < k; i++) {
            try (Scope step = Scope.open()) {
              Elementwise.add(x, b);
            }
          }
        },
        k -> {
          for (int i = 0; i < k; i += 1000) {
            try (Scope step = Scope.open()) {
              Tensor c = x;
              for (int j = 0; j < 1000; j++) c = Elementwise.add(c, b);
            }
          }
        },
      };
      for (Loop l : loops) l.run(n); // warm-up: the JIT compiles each path
      double[][] ns = new double[loops.length][rounds];
      for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < loops.length; i++) {
          long t0 = System.nanoTime();
          loops[i].run(n);
          ns[i][round] = (System.nanoTime() - t0) / (double) n;
        }
      }
      System.out.printf("1 element, CPU, no grad, %d threads, %d calls x %d rounds, ns per call:%n", threads, n, rounds);
      for (int i = 0; i < loops.length; i++) {
        java.util.Arrays.sort(ns[i]);
        System.out.printf("  %-40s median %8.1f  min %8.1f%n", names[i], ns[i][rounds / 2], ns[i][0]);
      }
    }
  }
}
