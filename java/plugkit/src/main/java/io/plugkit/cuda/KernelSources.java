package io.plugkit.cuda;

import io.plugkit.driver.UnsupportedFeatureException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.JarURLConnection;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.jar.JarFile;
import java.util.stream.Stream;

/**
 * The kernel sources as NVRTC compiles them: every {@code cuda-kernels/*.cu} file (the jar
 * carries them under {@value #FOLDER}) in name order, concatenated into one program as the
 * Makefile's {@code build/all_kernels.cu} puts them into one nvcc translation unit, each behind a
 * {@code #line} so that the log names the file; the headers of {@code include/plugkit} go in as
 * NVRTC named headers.
 *
 * <p>NVRTC has no C library. nvcc's {@code cuda_runtime.h} brings {@code <math.h>} into every
 * file; here the program opens with {@code #include <math.h>}, a named header holding the two
 * macros the kernels use ({@code INFINITY}, {@code NAN}; the math functions are NVRTC builtins),
 * and {@code <stdint.h>} is a named header of fixed-width typedefs.
 *
 * @param program the program text
 * @param headers include name to text, in a fixed order
 */
record KernelSources(String program, Map<String, String> headers) {
  static final String FOLDER = "io/plugkit/kernel-sources/";
  /** The program's name in NVRTC's log. */
  static final String NAME = "plugkit_kernels.cu";
  /** As the Makefile's nvcc: C++17, IEEE float (no fast math); unannotated helpers are device code. */
  static final List<String> OPTIONS = List.of("-std=c++17", "-default-device");
  private static final String HEADER_FOLDER = "include/";
  private static final String MATH_H = """
      // plugkit's <math.h> for NVRTC: the macros nvcc's math.h gives; NVRTC has the functions built in.
      #pragma once
      #define INFINITY __int_as_float(0x7f800000)
      #define NAN __int_as_float(0x7fffffff)
      """;
  private static final String STDINT_H = """
      // plugkit's <stdint.h> for NVRTC (LP64, as every CUDA target).
      #pragma once
      typedef signed char int8_t;
      typedef short int16_t;
      typedef int int32_t;
      typedef long long int64_t;
      typedef unsigned char uint8_t;
      typedef unsigned short uint16_t;
      typedef unsigned int uint32_t;
      typedef unsigned long long uint64_t;
      """;

  /**
   * The program from the files: {@code kernels} maps each {@code .cu} file name to its text,
   * {@code includes} each header's include name ({@code plugkit/portable.cuh}) to its text.
   */
  static KernelSources of(Map<String, String> kernels, Map<String, String> includes) {
    StringBuilder program = new StringBuilder("#include <math.h>\n");
    for (Map.Entry<String, String> k : new TreeMap<>(kernels).entrySet()) {
      program.append("#line 1 \"").append(k.getKey()).append("\"\n").append(k.getValue());
      if (!k.getValue().endsWith("\n")) program.append('\n');
    }
    Map<String, String> headers = new LinkedHashMap<>();
    headers.put("math.h", MATH_H);
    headers.put("stdint.h", STDINT_H);
    headers.putAll(new TreeMap<>(includes));
    return new KernelSources(program.toString(), Collections.unmodifiableMap(headers));
  }

  /** The sources in the jar (or the classes folder), or an {@link UnsupportedFeatureException} when absent. */
  static KernelSources load() {
    Map<String, String> kernels = new TreeMap<>();
    Map<String, String> includes = new TreeMap<>();
    for (String file : list()) {
      String text = read(FOLDER + file);
      if (file.startsWith(HEADER_FOLDER) && file.endsWith(".cuh")) includes.put(file.substring(HEADER_FOLDER.length()), text);
      else if (!file.contains("/") && file.endsWith(".cu")) kernels.put(file, text);
    }
    if (kernels.isEmpty()) {
      throw new UnsupportedFeatureException("the kernel sources (" + FOLDER + "*.cu) are not on the classpath: this plugkit"
          + " jar was built without them");
    }
    return of(kernels, includes);
  }

  /** SHA-256 (hex) of everything NVRTC is given but the target arch: program, headers, options. */
  String hash() {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      List<String> parts = new ArrayList<>(List.of(program));
      headers.forEach((name, text) -> parts.addAll(List.of(name, text)));
      parts.addAll(OPTIONS);
      // Each part with its length, so that moving text between parts changes the hash.
      for (String p : parts) sha.update((p.length() + ":" + p + "\n").getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(sha.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK has SHA-256", e);
    }
  }

  private static String read(String resource) {
    try (InputStream in = KernelSources.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) throw new IllegalStateException("resource vanished: " + resource);
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + resource, e);
    }
  }

  /** The files under {@value #FOLDER}, relative to it, found from the one every build has. */
  private static List<String> list() {
    URL anchor = KernelSources.class.getClassLoader().getResource(FOLDER + "fill.cu");
    if (anchor == null) return List.of();
    try {
      if (anchor.getProtocol().equals("jar")) {
        JarURLConnection connection = (JarURLConnection) anchor.openConnection();
        connection.setUseCaches(false);
        try (JarFile jar = connection.getJarFile()) {
          return jar.stream().map(e -> e.getName()).filter(n -> n.startsWith(FOLDER) && !n.endsWith("/"))
              .map(n -> n.substring(FOLDER.length())).toList();
        }
      }
      Path folder = Path.of(anchor.toURI()).getParent();
      try (Stream<Path> files = Files.walk(folder)) {
        return files.filter(Files::isRegularFile).map(p -> folder.relativize(p).toString().replace('\\', '/')).toList();
      }
    } catch (IOException e) {
      throw new UncheckedIOException("listing the kernel sources at " + anchor, e);
    } catch (URISyntaxException e) {
      throw new IllegalStateException("listing the kernel sources at " + anchor, e);
    }
  }
}
