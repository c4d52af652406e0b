#!/usr/bin/env bash
# Runs on a GPU machine (no JDK, no network needed): the whole test suite with CUDA required,
# then the core ops timed side by side with PyTorch on the same GPU. Results go to $OUT (or ./gpu-out).
# PLUGKIT_DEVICE=cuda makes a CUDA case that cannot run fail instead of skip, so this check cannot
# pass by skipping. Exit status 0 only when doctor finds CUDA usable, JUnit reports no failure, at
# least one CUDA case ran and the benchmark did not crash; 1 otherwise, with the reasons last.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$PWD/gpu-out}"
mkdir -p "$out"
java="$here/runtime/bin/java --enable-native-access=ALL-UNNAMED"
# Fixtures from the working tree this bundle sits in (build/gpu-bundle), not from the tests jar.
cp_all="$here/lib/*:$here/../../java/plugkit/src/test/resources"
# OpenBLAS travels as xz (see make-bundle.sh).
blas_dir="$(mktemp -d)"
tar -C "$blas_dir" -xJf "$here/openblas.tar.xz" || { echo "run-gpu-check: cannot unpack openblas.tar.xz (tar with xz)" >&2; exit 1; }
export PLUGKIT_OPENBLAS="$blas_dir/libopenblas.so.0"
export PLUGKIT_DEVICE=cuda
problems=()

echo "== doctor"
$java -cp "$cp_all" io.plugkit.Doctor | tee "$out/doctor.txt"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] || problems+=("doctor exited with status $rc")
cuda_problem=$(grep -m1 '^CUDA: not usable' "$out/doctor.txt")
[ -z "$cuda_problem" ] || problems+=("doctor: $cuda_problem")

echo "== tests (CPU and CUDA cases)"
# Written by the test suite's summary listener (io.plugkit.testing.SkipSummaryListener).
summary="$out/test-summary.txt"
rm -f "$summary"
PLUGKIT_TEST_SUMMARY="$summary" $java -Xss4m -cp "$cp_all" org.junit.platform.console.ConsoleLauncher execute \
  --select-package io.plugkit --details=summary --disable-banner --fail-if-no-tests \
  --reports-dir "$out/junit" 2>&1 | tee "$out/tests.txt" | tail -n 40
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] || problems+=("JUnit exited with status $rc (failures, or no tests found: see $out/tests.txt)")
tests=? failed=? skipped=? cuda_run=?
if [ -f "$summary" ]; then
  while IFS='=' read -r key value; do
    case "$key" in tests|failed|skipped|cuda_run) printf -v "$key" '%s' "$value" ;; esac
  done < "$summary"
  [[ "$cuda_run" =~ ^[1-9][0-9]*$ ]] || problems+=("no CUDA case ran")
else
  problems+=("the test summary listener wrote no $summary: the CUDA cases run cannot be counted")
fi

if [ -z "$cuda_problem" ]; then
  echo "== benchmark (plugkit and PyTorch on the same GPU)"
  py=$(command -v python3)
  # One case or two per family, short repeats: the whole suite would not fit a few minutes of device time.
  cases=(-f "conv2d 8x32" -f linear -f "grid_sample bilinear zeros 16x" -f "deform_conv2d v2 8x256" -f "non_local"
         -f "blur_pool reflect k4 s2 16x" -f aspp -f "atrous_conv2d r12" -f asff_fuse -f "pad2d reflect"
         -f "interpolate bicubic" -f overhead)
  $java -cp "$cp_all" io.plugkit.bench.Main bench --device cuda --with-torch --out "$out/bench" --python "$py" \
    --torch-script "$here/torch_bench.py" --warmup 1 --repeats 5 "${cases[@]}" 2>&1 | tee "$out/bench.txt"
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || problems+=("benchmark exited with status $rc (see $out/bench.txt)")
else
  echo "== benchmark skipped: CUDA is not usable"
fi

echo "== result"
# The listener's block: skip reasons and the device the CUDA cases ran on.
awk '/^plugkit test summary:/ {on=1; print; next} on && /^  / {print; next} {on=0}' "$out/tests.txt"
echo "tests run: $tests, failed: $failed, skipped: $skipped, CUDA cases run: $cuda_run"
if [ ${#problems[@]} -eq 0 ]; then
  echo "GPU check PASSED"
  exit 0
fi
echo "GPU check FAILED:"
printf '  - %s\n' "${problems[@]}"
exit 1
