#!/usr/bin/env bash
# Checks the CUDA driver's FFM plumbing on a machine without a GPU: builds fake libcuda,
# libcublas and libcudnn (host memory as device memory) and runs FakeCudaCheck against them.
# Needs gcc and a compiled library (mvn -o compile -pl java/plugkit, make native).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=build/fakecuda
JDK=$(tools/find-jdk.sh)
mkdir -p "$OUT/lib" "$OUT/cp/io/plugkit/native/linux-x86_64" "$OUT/classes"
gcc -shared -fPIC -O1 -o "$OUT/lib/libcuda.so.1" tools/fakecuda/cuda.c
gcc -shared -fPIC -O1 -o "$OUT/lib/libcublas.so.13" tools/fakecuda/cublas.c
gcc -shared -fPIC -O1 -o "$OUT/lib/libcudnn.so.9" tools/fakecuda/cudnn.c
printf 'FAKEFATBIN' > "$OUT/cp/io/plugkit/native/linux-x86_64/plugkit.fatbin"
JAVA_HOME="$JDK" mvn -B -q -o dependency:build-classpath -pl java/plugkit -Dmdep.outputFile="$(pwd)/$OUT/deps.txt" >/dev/null
CP="java/plugkit/target/classes:$(cat "$OUT/deps.txt")"
"$JDK/bin/javac" -d "$OUT/classes" -cp "$CP" tools/fakecuda/FakeCudaCheck.java
PLUGKIT_CUDA_LIBS="$(pwd)/$OUT/lib" "$JDK/bin/java" --enable-native-access=ALL-UNNAMED \
  -cp "$OUT/classes:$OUT/cp:$CP" io.plugkit.cuda.FakeCudaCheck
