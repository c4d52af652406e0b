#!/usr/bin/env bash
# Runs on a GPU machine (no JDK, no network needed): the whole test suite with CUDA required,
# then the core ops timed side by side with PyTorch on the same GPU. Results go to $OUT (or ./gpu-out).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$PWD/gpu-out}"
mkdir -p "$out"
java="$here/runtime/bin/java --enable-native-access=ALL-UNNAMED"
cp_all="$here/lib/*"
export PLUGKIT_DEVICE=cuda
echo "== doctor"
$java -cp "$cp_all" io.plugkit.Doctor | tee "$out/doctor.txt"
echo "== tests (CPU and CUDA cases)"
$java -Xss4m -cp "$cp_all" org.junit.platform.console.ConsoleLauncher execute \
  --select-package io.plugkit --details=summary --disable-banner \
  --reports-dir "$out/junit" 2>&1 | tee "$out/tests.txt" | tail -n 40
echo "== benchmark (plugkit and PyTorch on the same GPU)"
py=$(command -v python3)
$java -cp "$cp_all" io.plugkit.bench.Main bench --device cuda --python "$py" --torch-script "$here/torch_bench.py" \
  2>&1 | tee "$out/bench.txt"
