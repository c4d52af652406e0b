package io.plugkit.ops;

import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Conv2dGeometry;
import io.plugkit.driver.Driver;
import io.plugkit.ops.AtrousTaps.Geometry;
import io.plugkit.ops.AtrousTaps.Tap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@link AtrousConv#multiRate}: branch i's weights [Cout_i, Cin, kh_i, kw_i] at rate r_i, all over
 * one x, into one output [N, sum Cout_i, H, W]. The centre taps of every branch read x unshifted,
 * so they are one GEMM with the branches' centre weights stacked (rows in output channel order);
 * every other tap is a GEMM over its valid rectangle into its branch's channel slice.
 */
final class AtrousMulti {
  private final Tensor x;
  private final Tensor[] weights;
  private final Tensor[] biases;
  private final int[] rates;
  private final int[] offsets;
  private final int totalOut;
  private final Conv2dGeometry[] branches;

  /** Identifies a multi-rate geometry in the choice cache. */
  private record Key(int n, int cin, int h, int w, String branches) {}

  private AtrousMulti(Tensor x, Tensor[] weights, Tensor[] biases, int[] rates, Conv2dGeometry[] branches) {
    this.x = x;
    this.weights = weights;
    this.biases = biases;
    this.rates = rates;
    this.branches = branches;
    offsets = new int[weights.length];
    int total = 0;
    for (int i = 0; i < weights.length; i++) {
      offsets[i] = total;
      total += weights[i].dim(0);
    }
    totalOut = total;
  }

  static AtrousMulti of(Tensor x, Tensor[] weights, Tensor[] biases, int[] rates) {
    Checks.rank(Checks.tensor(x, "x"), "x", 4);
    if (weights == null || weights.length == 0) {
      throw new IllegalArgumentException("weights: expected at least one branch weight but got none");
    }
    if (rates == null || rates.length != weights.length) {
      throw new IllegalArgumentException("rates: expected one rate per weight (" + weights.length + ") but got "
          + (rates == null ? "null" : rates.length + " rates"));
    }
    if (biases != null && biases.length != weights.length) {
      throw new IllegalArgumentException("biases: expected null or one (possibly null) bias per weight (" + weights.length
          + ") but got " + biases.length);
    }
    Tensor[] b = biases == null ? new Tensor[weights.length] : biases.clone();
    Conv2dGeometry[] geos = new Conv2dGeometry[weights.length];
    long total = 0;
    for (int i = 0; i < weights.length; i++) {
      String name = "weights[" + i + "]";
      Tensor w = Checks.rank(Checks.tensor(weights[i], name), name, 4);
      Checks.positive(rates[i], "rates[" + i + "]");
      if (w.dim(2) % 2 == 0 || w.dim(3) % 2 == 0) {
        throw new IllegalArgumentException(name + ": expected odd kernel sizes (each branch keeps H x W) but got shape "
            + w.shape());
      }
      if (w.dim(1) != x.dim(1)) {
        throw new IllegalArgumentException(name + ": expected " + x.dim(1) + " input channels (x's, groups 1) at dim 1 but got shape "
            + w.shape());
      }
      if (b[i] != null) {
        Checks.rank(b[i], "biases[" + i + "]", 1);
        Checks.sameDevice(x, "x", b[i], "biases[" + i + "]");
      }
      int r = rates[i];
      // Conv's checks name the remaining problems (devices, empty sizes, bias length).
      geos[i] = Conv.geometry(x, w, b[i], Conv.Options.DEFAULT.dilation(r).padding(r * (w.dim(2) / 2), r * (w.dim(3) / 2)));
      total += w.dim(0);
    }
    if (total > Integer.MAX_VALUE) throw new IllegalArgumentException("weights: " + total + " output channels in all");
    return new AtrousMulti(x, weights.clone(), b, rates.clone(), geos);
  }

  private Key key() {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < weights.length; i++) {
      sb.append(weights[i].dim(0)).append('x').append(weights[i].dim(2)).append('x').append(weights[i].dim(3))
          .append('r').append(weights[i].dim(2) == 1 && weights[i].dim(3) == 1 ? 1 : rates[i]).append(';');
    }
    return new Key(x.dim(0), x.dim(1), x.dim(2), x.dim(3), sb.toString());
  }

  Tensor run() {
    if (x.numel() == 0 || !AtrousChoice.atrous(x.driver(), key(), () -> fusedForward().close(), this::separateRaw)) {
      return separate();
    }
    Tensor y = fusedForward();
    Tensor[] inputs = new Tensor[1 + 2 * weights.length];
    inputs[0] = x;
    System.arraycopy(weights, 0, inputs, 1, weights.length);
    System.arraycopy(biases, 0, inputs, 1 + weights.length, weights.length);
    return Autograd.record("atrous_multi_rate", y, this::backward, inputs);
  }

  /** Separate standard convs (recorded) concatenated along channels. */
  private Tensor separate() {
    Tensor[] ys = new Tensor[weights.length];
    for (int i = 0; i < ys.length; i++) ys[i] = Conv.standard(x, weights[i], biases[i], branches[i]);
    return ys.length == 1 ? ys[0] : Layout.concat(1, ys);
  }

  private void separateRaw() {
    Tensor[] ys = new Tensor[weights.length];
    for (int i = 0; i < ys.length; i++) ys[i] = Conv.standardForward(branches[i], x, weights[i], null);
    Layout.concat(1, ys).close();
    for (Tensor t : ys) t.close();
  }

  private Geometry geometry() {
    return new Geometry(x.dim(0), x.dim(1), x.dim(2), x.dim(3), totalOut, x.dim(2), x.dim(3), 1, 1, 1);
  }

  private static int centre(Tensor w) { return (w.dim(2) / 2) * w.dim(3) + w.dim(3) / 2; }

  /** The stacked centre tap, then each branch's other taps; packed[i] holds branch i as [taps, Cout_i*Cin]. */
  private List<Tap> taps(long centre, long[] packed) {
    List<Tap> list = new ArrayList<>();
    list.add(new Tap(centre, totalOut, 0, 0, 0));
    for (int i = 0; i < weights.length; i++) {
      Tensor w = weights[i];
      long per = (long) w.dim(0) * w.dim(1);
      for (int ky = 0; ky < w.dim(2); ky++) {
        for (int kx = 0; kx < w.dim(3); kx++) {
          int t = ky * w.dim(3) + kx;
          if (t == centre(w)) continue;
          list.add(new Tap(packed[i] + 4L * t * per, w.dim(0), offsets[i], (ky - w.dim(2) / 2) * rates[i],
              (kx - w.dim(3) / 2) * rates[i]));
        }
      }
    }
    return list;
  }

  /** The direct path's taps: every tap of every branch, read in place from ws (the weights or their gradients). */
  private List<AtrousTaps.Strided> inPlace(Tensor[] ws) {
    List<AtrousTaps.Strided> list = new ArrayList<>();
    int cin = x.dim(1);
    for (int i = 0; i < weights.length; i++) {
      Tensor w = weights[i];
      int k = w.dim(2) * w.dim(3);
      for (int ky = 0; ky < w.dim(2); ky++) {
        for (int kx = 0; kx < w.dim(3); kx++) {
          Tap t = new Tap(ws[i].address() + 4L * (ky * w.dim(3) + kx), w.dim(0), offsets[i], (ky - w.dim(2) / 2) * rates[i],
              (kx - w.dim(3) / 2) * rates[i]);
          list.add(new AtrousTaps.Strided(t, cin * k, k));
        }
      }
    }
    return list;
  }

  /** Runs body with the weights packed: the stacked centre [totalOut, Cin] and each branch's taps. */
  private void withPacked(java.util.function.BiConsumer<Tensor, long[]> body) {
    Driver d = x.driver();
    int cin = x.dim(1);
    Tensor[] packs = new Tensor[weights.length];
    try (Tensor centre = Tensor.empty(x.device(), totalOut, cin)) {
      long[] addr = new long[weights.length];
      for (int i = 0; i < weights.length; i++) {
        Tensor w = weights[i];
        int taps = w.dim(2) * w.dim(3);
        d.launch(AtrousTaps.PACK, (long) w.dim(0) * cin, w.address(), centre.address() + 4L * offsets[i] * cin, taps,
            centre(w));
        if (taps > 1) packs[i] = AtrousConv.pack(w);
        addr[i] = packs[i] == null ? 0 : packs[i].address();
      }
      body.accept(centre, addr);
    } finally {
      for (Tensor p : packs) if (p != null) p.close();
    }
  }

  private Tensor fusedForward() {
    Tensor y = Tensor.zeros(x.device(), x.dim(0), totalOut, x.dim(2), x.dim(3));
    try (Tensor all = allBiases()) {
      if (AtrousTaps.direct(x.driver(), geometry(), false)) {  // all taps and the biases in one pass: no packs, no stacking
        AtrousTaps.direct(geometry(), inPlace(weights), x.address(), y.address(), all == null ? 0 : all.address());
        return y;
      }
      withPacked((centre, packed) -> AtrousTaps.forward(x.driver(), geometry(), taps(centre.address(), packed),
          x.address(), y.address()));
      if (all != null) Conv.addBias(y, all, totalOut, x.dim(2) * x.dim(3));
    }
    return y;
  }

  /** Every branch's bias at its channels of the output (zeros for a branch without), or null when none has one. */
  private Tensor allBiases() {
    if (Arrays.stream(biases).noneMatch(b -> b != null)) return null;
    Tensor all = Tensor.zeros(x.device(), totalOut);
    for (int i = 0; i < biases.length; i++) {
      if (biases[i] != null) x.driver().copy(biases[i].address(), all.address() + 4L * offsets[i], 4L * weights[i].dim(0));
    }
    return all;
  }

  private Tensor[] backward(Tensor gy) {
    Driver d = gy.driver();
    int nb = weights.length;
    Tensor[] grads = new Tensor[1 + 2 * nb];
    Geometry g = geometry();
    if (x.requiresGrad()) {
      Tensor dx = Tensor.zeros(x.device(), x.dims());
      if (AtrousTaps.direct(d, g, true)) {
        AtrousTaps.directBackward(g, inPlace(weights), null, x.address(), gy.address(), dx.address());
      } else {
        withPacked((centre, packed) -> AtrousTaps.backwardData(d, g, taps(centre.address(), packed), gy.address(),
            dx.address()));
      }
      grads[0] = dx;
    }
    if (Arrays.stream(weights).anyMatch(Tensor::requiresGrad)) weightGrads(d, g, gy, grads);
    boolean anyBias = false;
    for (Tensor b : biases) anyBias |= b != null && b.requiresGrad();
    if (anyBias) {
      try (Tensor all = Conv.biasGrad(gy, x.dim(0), totalOut, x.dim(2) * x.dim(3))) {
        for (int i = 0; i < nb; i++) {
          if (biases[i] == null || !biases[i].requiresGrad()) continue;
          Tensor db = Tensor.empty(x.device(), weights[i].dim(0));
          d.copy(all.address() + 4L * offsets[i], db.address(), 4L * weights[i].dim(0));
          grads[1 + nb + i] = db;
        }
      }
    }
    return grads;
  }

  private void weightGrads(Driver d, Geometry g, Tensor gy, Tensor[] grads) {
    int cin = x.dim(1);
    int nb = weights.length;
    if (AtrousTaps.direct(d, g, false)) {  // every branch's gradient written in place
      Tensor[] dws = new Tensor[nb];
      for (int i = 0; i < nb; i++) dws[i] = Tensor.empty(x.device(), weights[i].dims());
      AtrousTaps.directWeight(g, inPlace(dws), x.address(), gy.address());
      for (int i = 0; i < nb; i++) {
        if (weights[i].requiresGrad()) {
          grads[1 + i] = dws[i];
        } else {
          dws[i].close();
        }
      }
      return;
    }
    Tensor[] packs = new Tensor[nb];
    try (Tensor centre = Tensor.zeros(x.device(), totalOut, cin)) {
      long[] addr = new long[nb];
      for (int i = 0; i < nb; i++) {
        Tensor w = weights[i];
        if (w.dim(2) * w.dim(3) > 1) packs[i] = Tensor.zeros(x.device(), w.dim(2) * w.dim(3), w.dim(0) * cin);
        addr[i] = packs[i] == null ? 0 : packs[i].address();
      }
      List<Tap> list = taps(centre.address(), addr);
      long[] dst = new long[list.size()];
      for (int t = 0; t < dst.length; t++) dst[t] = list.get(t).w();
      AtrousTaps.backwardWeight(d, g, list, dst, x.address(), gy.address());
      for (int i = 0; i < nb; i++) {
        Tensor w = weights[i];
        if (!w.requiresGrad()) continue;
        int taps = w.dim(2) * w.dim(3);
        int per = w.dim(0) * cin;
        Tensor dw = Tensor.empty(x.device(), w.dims());
        for (int t = 0; t < taps; t++) {
          long src = t == centre(w) ? centre.address() + 4L * offsets[i] * cin : addr[i] + 4L * t * per;
          d.launch(AtrousTaps.UNPACK, per, src, dw.address(), taps, t);
        }
        grads[1 + i] = dw;
      }
    } finally {
      for (Tensor p : packs) if (p != null) p.close();
    }
  }
}
