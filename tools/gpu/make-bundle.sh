#!/usr/bin/env bash
# Builds build/gpu-bundle: a self-contained folder (jlink runtime, jars with the fatbin and the
# CPU target, the test suite with its fixtures, the JUnit console, the PyTorch comparison script)
# for a GPU machine that has no JDK and no network. Run by `make gpu-bundle` after `make java`.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${JAVA_HOME:?JAVA_HOME must point to a JDK >= 22 (the Makefile sets it)}"
out=build/gpu-bundle
rm -rf "$out"
mkdir -p "$out/lib"
[ -f build/native/linux-x86_64/plugkit.fatbin ] || { echo "make-bundle: no fatbin (nvcc missing?): the bundle would have no CUDA kernels" >&2; exit 1; }

ver=$(sed -n 's:.*<version>\(.*\)</version>.*:\1:p' pom.xml | head -n1)
cp "java/plugkit/target/plugkit-$ver.jar" "java/plugkit/target/plugkit-$ver-tests.jar" \
   "java/plugkit-bench/target/plugkit-bench-$ver.jar" "$out/lib/"
# The fixtures travel once, in the working tree the device gets: run-gpu-check.sh puts
# java/plugkit/src/test/resources on the classpath (the bundle and the tree share 64 MiB).
zip -q -d "$out/lib/plugkit-$ver-tests.jar" 'fixtures/*'
# The bench CLI's parser (the chart library stays out: the runtime has no java.desktop, and bench
# writes its JSON and CSV without the chart there).
cp java/plugkit-bench/target/lib/picocli-*.jar "$out/lib/"
# Test classpath: JUnit's standalone console launcher from Maven Central.
mvn -B -q -Dstyle.color=never dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.11.4 \
    -DoutputDirectory="$out/lib"
# OpenBLAS: only the four shared objects the CPU driver loads, not bytedeco's JNI wrappers, as
# xz (5.4 MiB; 12 MiB as a jar). run-gpu-check.sh unpacks them and names libopenblas.so.0 in
# PLUGKIT_OPENBLAS; its RUNPATH $ORIGIN finds the other three beside it.
blas=$(ls java/plugkit-bench/target/lib/openblas-*-linux-x86_64.jar)
tmp=$(mktemp -d)
(cd "$tmp" && unzip -q "$OLDPWD/$blas" 'org/bytedeco/openblas/linux-x86_64/lib*.so.*')
tar -C "$tmp/org/bytedeco/openblas/linux-x86_64" -cJf "$out/openblas.tar.xz" .
rm -rf "$tmp"

# jdk.zipfs: JUnit and the kernel-signature test read classes inside jars; java.xml: the console
# launcher writes its JUnit XML reports with StAX (without it, it dies before running any test).
"$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,java.management,java.xml,jdk.unsupported,jdk.zipfs \
  --strip-debug --no-man-pages --no-header-files --compress=zip-9 --output "$out/runtime"
# libjvm's symbol tables are 5 MiB of the budget and nothing at run time reads them.
strip --strip-unneeded "$out/runtime/lib/server/libjvm.so"
cp tools/gpu/run-gpu-check.sh tools/bench/torch_bench*.py "$out/"
# KiB, not du -sm: that rounds up, and 59.2 MiB read as 60.
kib=$(du -sk "$out" | cut -f1)
size="$((kib / 1024)).$((kib % 1024 * 10 / 1024))"
# The device gets the working tree and the bundle in 64 MiB together.
tree=$(git ls-files -z | xargs -0 du -ck | tail -n1 | cut -f1)
[ $((kib + tree)) -lt $((62 * 1024)) ] || { echo "make-bundle: bundle ${size} MiB + working tree $((tree / 1024)) MiB is over the 62 MiB budget (64 MiB carry limit)" >&2; exit 1; }
echo "gpu bundle ready: $out (${size} MiB). On the GPU machine: bash $out/run-gpu-check.sh"
