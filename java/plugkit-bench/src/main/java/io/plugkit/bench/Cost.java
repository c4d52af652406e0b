package io.plugkit.bench;

/**
 * The useful work of one run of a case, forward and forward + backward: FLOPs (multiply and add
 * counted separately, as the formulas in docs/benchmarks.md state them) and bytes moved (F32). The
 * bytes are the compulsory traffic: every input (the leaves: inputs and parameters) read once and
 * every output written once in the forward; forward + backward adds reading dy, reading the inputs
 * again and writing one gradient per input, so {@code fwd = 4 (in + out)} and
 * {@code fwdbwd = 4 (3 in + 2 out)} bytes for {@code in} input and {@code out} output elements.
 * Intermediates are not counted: a fraction of the memory roof below 1 is room a fused kernel has.
 * {@link Bound} says which roof the case is measured against. NaN means unknown.
 */
public record Cost(Bound bound, double fwdFlops, double fwdBwdFlops, double fwdBytes, double fwdBwdBytes) {

  /**
   * The roof a case is held against: the GEMM FLOP/s roof, the memory-bandwidth roof, or none:
   * LATENCY for a case that times the host path per call (no useful FLOPs or bytes to rate; its
   * median is the figure), UNKNOWN for a case that states no formula.
   */
  public enum Bound { COMPUTE, MEMORY, LATENCY, UNKNOWN }

  /** A case that states no formula: timed, with no GFLOP/s, GB/s or roof fraction. */
  public static final Cost UNKNOWN = new Cost(Bound.UNKNOWN, Double.NaN, Double.NaN, Double.NaN, Double.NaN);

  /** Bound by per-call host latency: no FLOPs or bytes worth a rate, so no roof fraction either. */
  public static final Cost LATENCY = new Cost(Bound.LATENCY, Double.NaN, Double.NaN, Double.NaN, Double.NaN);

  /** Bound by the GEMM roof; bytes by the compulsory-traffic rule from the element counts. */
  public static Cost compute(double fwdFlops, double fwdBwdFlops, double inElems, double outElems) {
    return new Cost(Bound.COMPUTE, fwdFlops, fwdBwdFlops, 4 * (inElems + outElems), 4 * (3 * inElems + 2 * outElems));
  }

  /** Bound by the memory roof; bytes by the compulsory-traffic rule from the element counts. */
  public static Cost memory(double fwdFlops, double fwdBwdFlops, double inElems, double outElems) {
    return new Cost(Bound.MEMORY, fwdFlops, fwdBwdFlops, 4 * (inElems + outElems), 4 * (3 * inElems + 2 * outElems));
  }

  public double flops(Harness.Mode mode) { return mode == Harness.Mode.FWD ? fwdFlops : fwdBwdFlops; }

  public double bytes(Harness.Mode mode) { return mode == Harness.Mode.FWD ? fwdBytes : fwdBwdBytes; }

  /** The product of {@code dims} as a double (element counts). */
  public static double n(int... dims) {
    double p = 1;
    for (int d : dims) p *= d;
    return p;
  }
}
