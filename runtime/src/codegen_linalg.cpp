// Dense linear algebra that compiled code calls (ir/schedule/lower_to_linalg.cpp,
// lower_dense_linalg): the Cholesky factor and the triangular solve of small and medium
// matrices (Gaussian-process covariances, multivariate normal densities), in f64 whatever the
// element type, with a fixed order of operations (the same bits for any thread count).
//
// Operands arrive as unranked memrefs: (rank, descriptor), the descriptor holding
// {allocated, aligned, offset, sizes[rank], strides[rank]}; outputs are fresh row-major buffers.
#include "tessera/codegen_abi.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace {

template <typename T>
struct View {
  T* base = nullptr;
  int64_t rank = 0;
  const int64_t* sizes = nullptr;
  const int64_t* strides = nullptr;

  View(int64_t r, void* descriptor) : rank(r) {
    auto* d = static_cast<int64_t*>(descriptor);
    base = reinterpret_cast<T*>(d[1]) + d[2];
    sizes = d + 3;
    strides = d + 3 + r;
  }
  int64_t batch() const {
    int64_t n = 1;
    for (int64_t i = 0; i + 2 < rank; ++i) n *= sizes[i];
    return n;
  }
  // Element (i, j) of matrix `b` of the stack (batch index in row-major order).
  T* matrix(int64_t b) const {
    T* p = base;
    for (int64_t i = rank - 3; i >= 0; --i) {
      p += (b % sizes[i]) * strides[i];
      b /= sizes[i];
    }
    return p;
  }
  int64_t rows() const { return sizes[rank - 2]; }
  int64_t cols() const { return sizes[rank - 1]; }
  int64_t rs() const { return strides[rank - 2]; }
  int64_t cs() const { return strides[rank - 1]; }
};

// Cholesky-Banachiewicz, row by row, on an f64 copy; a pivot that is not > 0 (or NaN) makes the
// whole factor NaN.
template <typename T>
void cholesky(int64_t in_rank, void* in_d, int64_t out_rank, void* out_d) {
  View<T> in(in_rank, in_d), out(out_rank, out_d);
  const int64_t n = in.rows();
  std::vector<double> l(static_cast<size_t>(n * n));
  for (int64_t b = 0; b < in.batch(); ++b) {
    const T* a = in.matrix(b);
    bool ok = true;
    std::fill(l.begin(), l.end(), 0.0);
    for (int64_t i = 0; i < n && ok; ++i) {
      for (int64_t j = 0; j <= i; ++j) {
        double s = static_cast<double>(a[i * in.rs() + j * in.cs()]);
        for (int64_t k = 0; k < j; ++k) s -= l[static_cast<size_t>(i * n + k)] * l[static_cast<size_t>(j * n + k)];
        if (i == j) {
          if (!(s > 0.0)) {
            ok = false;
            break;
          }
          l[static_cast<size_t>(i * n + i)] = std::sqrt(s);
        } else {
          l[static_cast<size_t>(i * n + j)] = s / l[static_cast<size_t>(j * n + j)];
        }
      }
    }
    T* o = out.matrix(b);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        o[i * out.rs() + j * out.cs()] =
            ok ? static_cast<T>(l[static_cast<size_t>(i * n + j)]) : std::numeric_limits<T>::quiet_NaN();
  }
}

// X = L^-1 B (forward substitution) or L^-T B (backward substitution with L's transpose), column
// by column of B, reading only the lower triangle of L.
template <typename T>
void triangular_solve(int64_t l_rank, void* l_d, int64_t b_rank, void* b_d, int64_t out_rank, void* out_d,
                      int32_t transpose) {
  View<T> lv(l_rank, l_d), bv(b_rank, b_d), out(out_rank, out_d);
  const int64_t n = bv.rows(), m = bv.cols();
  std::vector<double> x(static_cast<size_t>(n));
  for (int64_t b = 0; b < bv.batch(); ++b) {
    const T* l = lv.matrix(l_rank == 2 ? 0 : b);
    const T* rhs = bv.matrix(b);
    T* o = out.matrix(b);
    auto at = [&](int64_t i, int64_t j) { return static_cast<double>(l[i * lv.rs() + j * lv.cs()]); };
    for (int64_t c = 0; c < m; ++c) {
      if (!transpose) {
        for (int64_t i = 0; i < n; ++i) {
          double s = static_cast<double>(rhs[i * bv.rs() + c * bv.cs()]);
          for (int64_t k = 0; k < i; ++k) s -= at(i, k) * x[static_cast<size_t>(k)];
          x[static_cast<size_t>(i)] = s / at(i, i);
        }
      } else {
        for (int64_t i = n - 1; i >= 0; --i) {
          double s = static_cast<double>(rhs[i * bv.rs() + c * bv.cs()]);
          for (int64_t k = i + 1; k < n; ++k) s -= at(k, i) * x[static_cast<size_t>(k)];
          x[static_cast<size_t>(i)] = s / at(i, i);
        }
      }
      for (int64_t i = 0; i < n; ++i) o[i * out.rs() + c * out.cs()] = static_cast<T>(x[static_cast<size_t>(i)]);
    }
  }
}

}  // namespace

extern "C" {

void tessCholesky_f32(int64_t in_rank, void* in, int64_t out_rank, void* out) {
  cholesky<float>(in_rank, in, out_rank, out);
}
void tessCholesky_f64(int64_t in_rank, void* in, int64_t out_rank, void* out) {
  cholesky<double>(in_rank, in, out_rank, out);
}
void tessTriangularSolve_f32(int64_t l_rank, void* l, int64_t b_rank, void* b, int64_t out_rank, void* out,
                             int32_t transpose) {
  triangular_solve<float>(l_rank, l, b_rank, b, out_rank, out, transpose);
}
void tessTriangularSolve_f64(int64_t l_rank, void* l, int64_t b_rank, void* b, int64_t out_rank, void* out,
                             int32_t transpose) {
  triangular_solve<double>(l_rank, l, b_rank, b, out_rank, out, transpose);
}

}  // extern "C"
