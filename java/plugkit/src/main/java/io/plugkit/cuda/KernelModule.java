package io.plugkit.cuda;

import io.plugkit.cpu.NativeLoader;
import io.plugkit.driver.NativeException;
import io.plugkit.driver.UnsupportedFeatureException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The CUDA module holding plugkit's kernels, and how it was obtained, first way that works:
 * <ol>
 *   <li>{@code plugkit.fatbin} from the jar: SASS for sm_80/90 (and sm_100/120) and compute_90 PTX, built by
 *       nvcc 13, so it needs an R580+ driver (PTX 9.0);</li>
 *   <li>when the driver refuses it (older driver, unknown GPU) or the jar has none: an image
 *       NVRTC compiled earlier for this device and driver, from the {@link KernelCache};</li>
 *   <li>the kernel sources from the jar, compiled now by the NVRTC of a CUDA major the driver
 *       runs, into a CUBIN for the device's exact arch (a CUBIN loads on any driver of its
 *       major, where PTX from a newer NVRTC minor would not), then cached.</li>
 * </ol>
 * Each kernel's {@code CUfunction} is looked up once.
 */
final class KernelModule {
  static final String FATBIN = NativeLoader.NATIVE_RESOURCES + "plugkit.fatbin";
  /**
   * cuModuleLoadData's answers that mean "this driver or GPU cannot use this image":
   * INVALID_IMAGE (200), NO_BINARY_FOR_GPU (209), INVALID_PTX (218), JIT_COMPILER_NOT_FOUND (221),
   * UNSUPPORTED_PTX_VERSION (222). Anything else is a real failure and is thrown.
   */
  private static final Set<Integer> REFUSED = Set.of(200, 209, 218, 221, 222);

  private final CudaLibrary cu;
  private final long module;
  private final String description;
  private final ConcurrentHashMap<String, Long> functions = new ConcurrentHashMap<>();

  private KernelModule(CudaLibrary cu, long module, String description) {
    this.cu = cu;
    this.module = module;
    this.description = description;
  }

  /**
   * Loads the kernels into the current context for a device of compute capability {@code arch}
   * (90 for 9.0) under a driver reporting {@code driverVersion}. Throws
   * {@link UnsupportedFeatureException} saying why the fatbin could not be used and why NVRTC
   * could not stand in, or {@link NativeException} for a compilation error (with NVRTC's log).
   */
  static KernelModule load(CudaLibrary cu, LibraryLocator locator, KernelCache cache, int driverVersion, int arch) {
    byte[] fatbin = NativeLoader.readResource(FATBIN);
    String why;
    if (fatbin == null) {
      why = "no " + FATBIN + " in the jar (plugkit was built without nvcc)";
    } else {
      try {
        String code = describeCode(sassArchitectures(fatbin), arch);
        return new KernelModule(cu, loadImage(cu, fatbin), "fatbin (" + code + ")");
      } catch (NativeException e) {
        if (!REFUSED.contains(e.code())) throw e;
        boolean ptx = e.code() == 218 || e.code() == 222;
        why = "the driver refused " + FATBIN + " (" + e.errorName() + " (" + e.code() + ")" + (ptx ? ": its PTX 9.0 needs"
            + " an R580+ driver (CUDA 13.0); this one supports " + CudaMajor.dotted(driverVersion) : "") + ")";
      }
    }
    return compiled(cu, locator, cache, driverVersion, arch, why);
  }

  private static KernelModule compiled(CudaLibrary cu, LibraryLocator locator, KernelCache cache, int driverVersion,
      int arch, String why) {
    KernelSources sources;
    try {
      sources = KernelSources.load();
    } catch (UnsupportedFeatureException e) {
      throw new UnsupportedFeatureException("the CUDA kernels cannot be loaded: " + why + ", and "
          + e.getMessage().substring("unsupported: ".length()), e);
    }
    String hash = sources.hash();
    for (String kind : List.of("cubin", "ptx")) {
      Path file = cache.file(hash, driverVersion, arch, kind);
      Optional<byte[]> image = KernelCache.read(file);
      if (image.isEmpty()) continue;
      try {
        return new KernelModule(cu, loadImage(cu, image.get()), "loaded from the NVRTC cache at " + file + "; " + why);
      } catch (NativeException e) {
        if (!REFUSED.contains(e.code())) throw e;
        KernelCache.discard(file); // corrupt or stale: compile again
      }
    }
    Nvrtc nvrtc;
    try {
      nvrtc = Nvrtc.load(locator, driverVersion);
    } catch (UnsupportedFeatureException e) {
      throw new UnsupportedFeatureException("the CUDA kernels cannot be loaded: " + why + ", and no NVRTC can compile them"
          + " at run time (" + e.getMessage().substring("unsupported: ".length()) + "); install the NVRTC of CUDA "
          + driverVersion / 1000 + " (CUDA toolkit, or Python's nvidia-cuda-nvrtc wheel for it), or a newer NVIDIA driver", e);
    }
    // A CUBIN for the exact arch when NVRTC knows it; else PTX for the newest arch it knows below, which the driver JITs.
    List<Integer> known = nvrtc.supportedArchs();
    boolean cubin = known.isEmpty() || known.contains(arch);
    int target = cubin ? arch : known.stream().filter(a -> a < arch).max(Integer::compare).orElseThrow(() ->
        new UnsupportedFeatureException("NVRTC " + nvrtc.version() + " at " + nvrtc.location() + " knows no arch up to sm_"
            + arch + " (it knows " + known + "); " + why));
    List<String> options = new ArrayList<>(KernelSources.OPTIONS);
    options.add("--gpu-architecture=" + (cubin ? "sm_" : "compute_") + target);
    byte[] image = nvrtc.compile(sources.program(), KernelSources.NAME, sources.headers(), options, cubin).image();
    long module = loadImage(cu, image);
    Path file = cache.file(hash, driverVersion, arch, cubin ? "cubin" : "ptx");
    String stored;
    try {
      KernelCache.write(file, image);
      stored = "cached at " + file;
    } catch (IOException | RuntimeException e) {
      stored = "not cached (" + file + ": " + e + ")";
    }
    return new KernelModule(cu, module, "compiled at run time by NVRTC " + nvrtc.version() + " (" + nvrtc.location()
        + ") for " + (cubin ? "sm_" : "compute_") + target + ", " + stored + "; " + why);
  }

  private static long loadImage(CudaLibrary cu, byte[] image) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment copy = a.allocate(image.length, 16); // the driver reads the fatbin header with 16-byte loads
      MemorySegment.copy(image, 0, copy, ValueLayout.JAVA_BYTE, 0, image.length);
      return cu.moduleLoadData(copy);
    }
  }

  /** How the kernels were obtained, for describe() and the Doctor. */
  String description() { return description; }

  /** The kernel's {@code CUfunction}, looked up once. */
  long function(String kernel) {
    Long f = functions.get(kernel);
    if (f != null) return f;
    try {
      return functions.computeIfAbsent(kernel, k -> cu.moduleGetFunction(module, k));
    } catch (NativeException e) {
      throw new UnsupportedFeatureException("kernel " + kernel + " is not in the CUDA module (" + description + "; "
          + e.getMessage() + "): the kernels are older than this plugkit; rebuild them with `make fatbin`", e);
    }
  }

  /**
   * The SASS architectures in an nvcc fatbin: after its 16-byte header ({@code u32 magic, u16
   * version, u16 header size, u64 payload size}) come entries of {@code u16 kind} (1 PTX, 2 ELF),
   * {@code u16}, {@code u32 entry header size}, {@code u64 payload size}, ..., the architecture
   * as {@code u32} at byte 28.
   */
  static Set<Integer> sassArchitectures(byte[] fatbin) {
    ByteBuffer b = ByteBuffer.wrap(fatbin).order(ByteOrder.LITTLE_ENDIAN);
    Set<Integer> archs = new TreeSet<>();
    if (fatbin.length < 16 || b.getInt(0) != 0xBA55ED50) return archs;
    int header = b.getShort(6) & 0xffff;
    long end = Math.min(fatbin.length, header + b.getLong(8));
    long at = header;
    while (at + 32 <= end) {
      int entry = (int) at;
      if (b.getShort(entry) == 2) archs.add(b.getInt(entry + 28));
      long next = at + Integer.toUnsignedLong(b.getInt(entry + 4)) + b.getLong(entry + 8);
      if (next <= at) break; // malformed: stop rather than loop
      at = next;
    }
    return archs;
  }

  /** What a device of {@code arch} runs from the fatbin: SASS of its own major version at or below it, else the PTX. */
  static String describeCode(Set<Integer> sass, int arch) {
    int best = sass.stream().filter(a -> a / 10 == arch / 10 && a <= arch).max(Integer::compare).orElse(0);
    if (best == arch) return "SASS sm_" + arch;
    if (best > 0) return "SASS sm_" + best + ", which runs on sm_" + arch;
    return "PTX, compiled by the driver for sm_" + arch;
  }
}
