package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.driver.UnsupportedFeatureException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The search order over a fake machine: empty files named like the real libraries. */
class LibraryLocatorTest {
  @TempDir Path tmp;
  private Path root;
  private Path home;
  private final Map<String, String> env = new HashMap<>();

  @BeforeEach void setUp() {
    root = tmp.resolve("root");
    home = tmp.resolve("home");
  }

  private Path touch(Path dir, String name) throws IOException {
    Files.createDirectories(dir);
    return Files.createFile(dir.resolve(name));
  }

  private LibraryLocator locator() { return LibraryLocator.forEnvironment(env, root, home); }

  @Test void findsCudnnAndCublasInTheSystemPythonsWheels() throws IOException {
    Path site = root.resolve("usr/local/lib/python3.12/dist-packages");
    Path cudnn = touch(site.resolve("nvidia/cudnn/lib"), "libcudnn.so.9");
    Path cublas = touch(site.resolve("nvidia/cublas/lib"), "libcublas.so.12");

    assertEquals(List.of(cudnn), locator().files(Cudnn.SONAMES));
    assertEquals(List.of(cublas), locator().files(Cublas.sonames(13000)));
  }

  @Test void findsTheCuda13WheelLayoutAndPrefersSoname13() throws IOException {
    Path lib = home.resolve(".local/lib/python3.11/site-packages/nvidia/cu13/lib");
    Path v12 = touch(lib, "libcublas.so.12");
    Path v13 = touch(lib, "libcublas.so.13");

    assertEquals(List.of(v13, v12), locator().files(Cublas.sonames(13000)));
  }

  @Test void overridesComeFirstThenTheSystemLoaderThenTheOtherFolders() throws IOException {
    Path extra = touch(tmp.resolve("extra"), "libcudnn.so.9").getParent();
    Path venv = tmp.resolve("venv");
    Path inVenv = touch(venv.resolve("lib/python3.10/site-packages/nvidia/cudnn/lib"), "libcudnn.so.9");
    Path inSystem = touch(root.resolve("usr/lib/python3/dist-packages/nvidia/cudnn/lib"), "libcudnn.so.9");
    env.put(LibraryLocator.LIBS_VARIABLE, extra.toString());
    env.put("VIRTUAL_ENV", venv.toString());

    List<LibraryLocator.Candidate> c = locator().candidates(Cudnn.SONAMES);

    assertEquals(List.of(new LibraryLocator.Candidate("libcudnn.so.9", extra.resolve("libcudnn.so.9")),
        new LibraryLocator.Candidate("libcudnn.so.9", null), new LibraryLocator.Candidate("libcudnn.so.9", inVenv),
        new LibraryLocator.Candidate("libcudnn.so.9", inSystem)), c);
  }

  @Test void searchesCudaHomeLdLibraryPathAndThePythonsOnPath() throws IOException {
    Path cudaHome = tmp.resolve("cuda");
    Path inHome = touch(cudaHome.resolve("lib64"), "libcublas.so.13");
    Path ld = touch(tmp.resolve("ld"), "libcublas.so.12");
    Path prefix = tmp.resolve("pyenv");
    Files.createDirectories(prefix.resolve("bin"));
    Path onPath = touch(prefix.resolve("lib/python3.9/site-packages/nvidia/cublas/lib"), "libcublas.so.13");
    env.put("CUDA_HOME", cudaHome.toString());
    env.put("LD_LIBRARY_PATH", ld.getParent() + ":" + tmp.resolve("missing"));
    env.put("PATH", prefix.resolve("bin") + ":/nonexistent/bin");

    assertEquals(List.of(inHome, ld, onPath), locator().files(Cublas.sonames(13000)));
  }

  @Test void skipsStubFoldersAndFindsCompatLibcuda() throws IOException {
    Path cudaHome = root.resolve("usr/local/cuda-13.0");
    touch(cudaHome.resolve("lib64/stubs"), "libcuda.so.1");
    Path compat = touch(cudaHome.resolve("compat"), "libcuda.so.1");
    env.put("LD_LIBRARY_PATH", cudaHome.resolve("lib64/stubs").toString());

    assertEquals(List.of(compat), locator().files(List.of("libcuda.so.1")));
  }

  @Test void withNothingInstalledOnlyTheSonamesRemain() {
    List<LibraryLocator.Candidate> c = locator().candidates(Cublas.sonames(13000));

    assertEquals(List.of(new LibraryLocator.Candidate("libcublas.so.13", null),
        new LibraryLocator.Candidate("libcublas.so.12", null)), c);
    assertTrue(locator().describeSearch().contains("no other folder"), locator().describeSearch());
  }

  @Test void loadingAFakeFileFailsWithEveryAttemptNamed() throws IOException {
    Path fake = touch(root.resolve("usr/lib/python3.12/site-packages/nvidia/cudnn/lib"), "libcudnn.so.9");
    LibraryLocator locator = locator();
    // The soname attempt goes to the real system loader, which finds libcudnn.so.9 on GPU
    // machines: try a soname no machine has instead, so the test means the same everywhere.
    String absent = "libcudnn-plugkit-test-absent.so.9";
    List<LibraryLocator.Candidate> candidates = locator.candidates(Cudnn.SONAMES).stream()
        .map(c -> c.bySoname() ? new LibraryLocator.Candidate(absent, null) : c).toList();

    var e = assertThrows(UnsupportedFeatureException.class,
        () -> LoadedLibrary.load("cuDNN", candidates, locator.describeSearch()));

    assertTrue(e.getMessage().startsWith("unsupported: cuDNN not found: no [" + absent + "] loads"), e.getMessage());
    assertTrue(e.getMessage().contains(fake.toString() + ": "), e.getMessage());
  }

  @Test void aSonameHitReportsTheFileTheSystemLoaderChose() {
    LoadedLibrary libc = LoadedLibrary.load("C library", List.of(new LibraryLocator.Candidate("libc.so.6", null)), "-");

    assertTrue(libc.location().matches("/.*/libc[.-].*so.* \\(via the system loader\\)"), libc.location());
    assertTrue(libc.lookup().find("malloc").isPresent());
  }

  @Test void expandOrdersWildcardMatchesNewestNameFirst() throws IOException {
    Files.createDirectories(root.resolve("usr/local/cuda-12.4/lib64"));
    Files.createDirectories(root.resolve("usr/local/cuda-13.0/lib64"));
    Files.createDirectories(root.resolve("usr/local/cudax/lib64"));

    List<Path> found = LibraryLocator.expand(root, "usr/local/cuda-*/lib64");

    assertEquals(List.of(root.resolve("usr/local/cuda-13.0/lib64"), root.resolve("usr/local/cuda-12.4/lib64")), found);
    assertFalse(found.contains(root.resolve("usr/local/cudax/lib64")));
  }
}
