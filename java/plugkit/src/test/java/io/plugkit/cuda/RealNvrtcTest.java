package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The kernel sources as {@link KernelModule} gives them to NVRTC compile, under a real NVRTC,
 * into an sm_80 CUBIN (an ELF file). Runs where one is found: {@code PLUGKIT_TEST_NVRTC} (a
 * libnvrtc file; its libnvrtc-builtins beside it), else any NVRTC 13 or 12 the locator finds;
 * skipped elsewhere. It proves the sources compile without nvcc's headers; whether the result is
 * right is the GPU run's part.
 */
class RealNvrtcTest {
  @Test void theKernelSourcesCompileToACubin() {
    List<LibraryLocator.Candidate> candidates = new ArrayList<>();
    String explicit = System.getenv("PLUGKIT_TEST_NVRTC");
    if (explicit != null && !explicit.isBlank()) {
      Path file = Path.of(explicit);
      candidates.add(new LibraryLocator.Candidate(file.getFileName().toString(), file));
    }
    LibraryLocator locator = LibraryLocator.system();
    for (Path file : locator.files(Nvrtc.sonames(0))) {
      candidates.add(new LibraryLocator.Candidate(file.getFileName().toString(), file));
    }
    assumeFalse(candidates.isEmpty(), "no real NVRTC here (set PLUGKIT_TEST_NVRTC to a libnvrtc file)");
    Nvrtc nvrtc = Nvrtc.load(candidates, "PLUGKIT_TEST_NVRTC and " + locator.describeSearch());
    KernelSources sources = KernelSources.load();
    List<String> options = new ArrayList<>(KernelSources.OPTIONS);
    options.add("--gpu-architecture=sm_80");
    long start = System.nanoTime();
    Nvrtc.Output out = nvrtc.compile(sources.program(), KernelSources.NAME, sources.headers(), options, true);
    System.out.printf("NVRTC %s at %s: %d-byte sm_80 CUBIN in %.1f s; log: %s%n", nvrtc.version(), nvrtc.location(),
        out.image().length, (System.nanoTime() - start) / 1e9, out.log().isEmpty() ? "(empty)" : out.log());
    assertArrayEquals(new byte[] {0x7f, 'E', 'L', 'F'}, Arrays.copyOf(out.image(), 4));
    assertTrue(out.image().length > 100_000, out.image().length + " bytes: too small for every kernel");
  }
}
