// Elementwise binary arithmetic with NumPy/PyTorch broadcasting: y = a (op) b for op in
// {add, sub, mul, div}, the scalar forms y = x (op) s, and the one backward that needs all three
// operands, the divisor's gradient -g*a/b^2.
// Shapes: y is contiguous in the broadcast shape; a and b are read through per-dim element
// strides that are 0 on broadcast dims. The Java side (StridedLoop) coalesces dims and pads them
// to exactly 6 with leading size-1 dims, so one signature serves every rank.
// Thread mapping: one item per output value. Same-shape operands take the flat kernels, which do
// no index math at all.
#include "plugkit/portable.cuh"

// Op codes, shared with io.plugkit.ops.Elementwise.
#define ELEMENTWISE_ADD 0
#define ELEMENTWISE_SUB 1
#define ELEMENTWISE_MUL 2
#define ELEMENTWISE_DIV 3

PK_INLINE float elementwise_apply(int op, float a, float b) {
  switch (op) {
    case ELEMENTWISE_ADD: return a + b;
    case ELEMENTWISE_SUB: return a - b;
    case ELEMENTWISE_MUL: return a * b;
    default: return a / b;
  }
}

// Offsets of output item i in two strided operands; dims are innermost-last and size-1 padding
// dims are skipped (a uniform branch on the GPU, and it saves a 64-bit division).
PK_INLINE void elementwise_offsets(int64_t i, const int64_t* size, const int64_t* strideA,
                                   const int64_t* strideB, int64_t* offA, int64_t* offB) {
  int64_t oa = 0, ob = 0;
  for (int d = 5; d >= 0; --d) {
    if (size[d] == 1) continue;
    int64_t c = i % size[d];
    i /= size[d];
    oa += c * strideA[d];
    ob += c * strideB[d];
  }
  *offA = oa;
  *offB = ob;
}

#if !PK_GPU
// Host: the op is a template parameter, so each loop body is branch-free and vectorizes (a
// switch inside the loop does not). y[j] = a[j * sa] (op) b[j * sb] over one row.
template <int OP>
static inline void elementwise_host_row(int64_t count, const float* __restrict__ a, int64_t sa,
                                        const float* __restrict__ b, int64_t sb, float* __restrict__ y) {
  if (sa == 1 && sb == 1) {
    for (int64_t j = 0; j < count; ++j) y[j] = elementwise_apply(OP, a[j], b[j]);
  } else if (sa == 1 && sb == 0) {
    const float bv = b[0];
    for (int64_t j = 0; j < count; ++j) y[j] = elementwise_apply(OP, a[j], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = a[0];
    for (int64_t j = 0; j < count; ++j) y[j] = elementwise_apply(OP, av, b[j]);
  } else {
    for (int64_t j = 0; j < count; ++j) y[j] = elementwise_apply(OP, a[j * sa], b[j * sb]);
  }
}

static inline void elementwise_host_row(int op, int64_t count, const float* a, int64_t sa, const float* b, int64_t sb,
                                        float* y) {
  switch (op) {
    case ELEMENTWISE_ADD: elementwise_host_row<ELEMENTWISE_ADD>(count, a, sa, b, sb, y); break;
    case ELEMENTWISE_SUB: elementwise_host_row<ELEMENTWISE_SUB>(count, a, sa, b, sb, y); break;
    case ELEMENTWISE_MUL: elementwise_host_row<ELEMENTWISE_MUL>(count, a, sa, b, sb, y); break;
    default: elementwise_host_row<ELEMENTWISE_DIV>(count, a, sa, b, sb, y); break;
  }
}

// Rows of this many values per host item: long enough to vectorize, many enough to share out.
#define ELEMENTWISE_HOST_CHUNK 4096
#endif

PK_KERNEL void elementwise_binary_flat(int64_t n, int op, const float* __restrict__ a,
                                       const float* __restrict__ b, float* __restrict__ y) {
#if PK_GPU
  PK_FOR(i, n) { y[i] = elementwise_apply(op, a[i], b[i]); }
#else
  PK_FOR_WORK(c, (n + ELEMENTWISE_HOST_CHUNK - 1) / ELEMENTWISE_HOST_CHUNK, ELEMENTWISE_HOST_CHUNK) {
    const int64_t first = c * ELEMENTWISE_HOST_CHUNK;
    const int64_t count = n - first < ELEMENTWISE_HOST_CHUNK ? n - first : ELEMENTWISE_HOST_CHUNK;
    elementwise_host_row(op, count, a + first, 1, b + first, 1, y + first);
  }
#endif
}

PK_KERNEL void elementwise_binary(int64_t n, int op, const float* __restrict__ a,
                                  const float* __restrict__ b, float* __restrict__ y,
                                  int64_t size0, int64_t size1, int64_t size2, int64_t size3,
                                  int64_t size4, int64_t size5,
                                  int64_t strideA0, int64_t strideA1, int64_t strideA2,
                                  int64_t strideA3, int64_t strideA4, int64_t strideA5,
                                  int64_t strideB0, int64_t strideB1, int64_t strideB2,
                                  int64_t strideB3, int64_t strideB4, int64_t strideB5) {
  const int64_t size[6] = {size0, size1, size2, size3, size4, size5};
  const int64_t strideA[6] = {strideA0, strideA1, strideA2, strideA3, strideA4, strideA5};
  const int64_t strideB[6] = {strideB0, strideB1, strideB2, strideB3, strideB4, strideB5};
#if PK_GPU
  PK_FOR(i, n) {
    int64_t oa, ob;
    elementwise_offsets(i, size, strideA, strideB, &oa, &ob);
    y[i] = elementwise_apply(op, a[oa], b[ob]);
  }
#else
  // Host: one item per innermost row, so the index math runs once a row, not once a value.
  PK_FOR_WORK(r, n / size5, size5) {
    int64_t oa, ob;
    elementwise_offsets(r * size5, size, strideA, strideB, &oa, &ob);
    elementwise_host_row(op, size5, a + oa, strideA5, b + ob, strideB5, y + r * size5);
  }
#endif
}

PK_KERNEL void elementwise_scalar(int64_t n, int op, const float* __restrict__ x, float* __restrict__ y,
                                  float s) {
#if PK_GPU
  PK_FOR(i, n) { y[i] = elementwise_apply(op, x[i], s); }
#else
  PK_FOR_WORK(c, (n + ELEMENTWISE_HOST_CHUNK - 1) / ELEMENTWISE_HOST_CHUNK, ELEMENTWISE_HOST_CHUNK) {
    const int64_t first = c * ELEMENTWISE_HOST_CHUNK;
    const int64_t count = n - first < ELEMENTWISE_HOST_CHUNK ? n - first : ELEMENTWISE_HOST_CHUNK;
    elementwise_host_row(op, count, x + first, 1, &s, 0, y + first);
  }
#endif
}

// d(a/b)/db = -a/b^2, evaluated as PyTorch does: -g * a / (b * b). g is contiguous in the
// broadcast shape; db is in that shape too and the caller sums it down to b's shape.
PK_KERNEL void elementwise_div_grad_b(int64_t n, const float* __restrict__ g, const float* __restrict__ a,
                                      const float* __restrict__ b, float* __restrict__ db,
                                      int64_t size0, int64_t size1, int64_t size2, int64_t size3,
                                      int64_t size4, int64_t size5,
                                      int64_t strideA0, int64_t strideA1, int64_t strideA2,
                                      int64_t strideA3, int64_t strideA4, int64_t strideA5,
                                      int64_t strideB0, int64_t strideB1, int64_t strideB2,
                                      int64_t strideB3, int64_t strideB4, int64_t strideB5) {
  const int64_t size[6] = {size0, size1, size2, size3, size4, size5};
  const int64_t strideA[6] = {strideA0, strideA1, strideA2, strideA3, strideA4, strideA5};
  const int64_t strideB[6] = {strideB0, strideB1, strideB2, strideB3, strideB4, strideB5};
#if PK_GPU
  PK_FOR(i, n) {
    int64_t oa, ob;
    elementwise_offsets(i, size, strideA, strideB, &oa, &ob);
    float bv = b[ob];
    db[i] = -g[i] * a[oa] / (bv * bv);
  }
#else
  PK_FOR_WORK(r, n / size5, size5) {
    int64_t oa, ob;
    elementwise_offsets(r * size5, size, strideA, strideB, &oa, &ob);
    for (int64_t j = 0; j < size5; ++j) {
      const int64_t i = r * size5 + j;
      const float bv = b[ob + j * strideB5];
      db[i] = -g[i] * a[oa + j * strideA5] / (bv * bv);
    }
  }
#endif
}
