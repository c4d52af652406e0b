#!/bin/bash
# Host overhead per op, side by side: io.plugkit.OverheadBench (Java, each stage of a 1-element
# relu/add launch) and tools/bench/torch_bench_overhead.py (PyTorch eager, no_grad), alternated
# REPEATS times so that both see the same load; prints each run and then the min over runs of the
# medians. Optionally BASE_CP (the classpath of another build, e.g. the commit before a change)
# runs a third column. Needs `make native` and `mvn test-compile -pl java/plugkit` first.
# usage: tools/bench/overhead.sh [threads] [repeats] [calls]
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${1:-$(nproc)}
REPEATS=${2:-5}
CALLS=${3:-200000}
JAVA="$(tools/find-jdk.sh)/bin/java --enable-native-access=ALL-UNNAMED"
CP=java/plugkit/target/classes:java/plugkit/target/test-classes
OUT=$(mktemp)
for r in $(seq "$REPEATS"); do
  if [ -n "${BASE_CP:-}" ]; then
    PLUGKIT_THREADS=$THREADS $JAVA -cp "$BASE_CP" io.plugkit.OverheadBench "$CALLS" 9 | sed 's/^/base /' | tee -a "$OUT"
  fi
  PLUGKIT_THREADS=$THREADS $JAVA -cp "$CP" io.plugkit.OverheadBench "$CALLS" 9 | sed 's/^/this /' | tee -a "$OUT"
  /usr/bin/python3 tools/bench/torch_bench_overhead.py "$THREADS" "$CALLS" 9 | tee -a "$OUT"
done
echo
echo "min over $REPEATS runs of the median ns per call ($THREADS threads):"
grep -E 'median' "$OUT" | sed -E 's/ +median +/|/; s/ +min .*//; s/: median /|/; s/ ns,.*//' | awk -F'|' '
  { split($1, w, " "); col = w[1]; row = $1; sub(/^ *[a-z]+ +/, "", row); sub(/ +$/, "", row)
    if (col == "torch") { row = $1; col = "torch" }
    v = $2 + 0; k = row SUBSEP col
    if (!(row in seen)) { seen[row] = 1; rows[++n] = row }
    if (!(k in m) || v < m[k]) m[k] = v; cols[col] = 1 }
  END { printf "  %-45s %10s %10s\n", "stage", ("base" in cols) ? "base" : "", "this"
        for (i = 1; i <= n; i++) { r = rows[i]
          if ((r SUBSEP "torch") in m) { printf "  %-45s %10s %10.1f\n", r, "", m[r SUBSEP "torch"]; continue }
          b = ((r SUBSEP "base") in m) ? sprintf("%.1f", m[r SUBSEP "base"]) : ""
          printf "  %-45s %10s %10.1f\n", r, b, m[r SUBSEP "this"] } }'
rm -f "$OUT"
