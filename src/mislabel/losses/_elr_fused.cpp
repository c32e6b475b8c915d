// The ELR loss and its gradient in one pass over each row of the logits (CPU, float32/64).
//
// The same numbers as `_elr_block` in elr.py (see there for the math and the mask of the
// gradient), computed row by row while the row sits in the L1 cache: max, exp and sum
// (softmax, logsumexp), the clamped probabilities, the EMA row read and written back, the
// dot products, the loss and the gradient row. Blocks of rows go to torch's threads
// (at::parallel_for; needs -fopenmp). Built at first use by mislabel/losses/_fused.py with
// torch's JIT extension loader.

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <tuple>
#include <vector>

namespace {

// CLAMP in elr.py
constexpr double kClamp = 1e-4;

// exp for x <= 0 (Cephes' expf: 2^n * exp(r), |r| <= ln2 / 2, relative error < 1e-7), written
// so that GCC vectorizes the loops that call it (glibc's own expf is a call per element).
// exp(0) is exactly 1; below the smallest normal float, 0; nan stays nan.
inline float exp_nonpos(float x) {
  const float lo = -87.33654475f;  // log(FLT_MIN)
  const float xc = x < lo ? lo : x;
  const float n = std::floor(xc * 1.44269504088896341f + 0.5f);
  float r = xc - n * 0.693359375f;  // ln 2 in two parts
  r = r + n * 2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n, n >= -126
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x < lo ? 0.0f : y * scale;
}

inline double exp_nonpos(double x) { return std::exp(x); }  // float64: tests, gradcheck

// clamp as max then min, in the form that maps to the vector max / min instructions (std::max
// and std::min did not vectorize well in GCC 12); nan becomes lo, where the row is nan anyway.
template <typename T>
inline T clamp(T v, T lo, T hi) {
  const T up = v > lo ? v : lo;
  return up < hi ? up : hi;
}

// The next row's EMA sits anywhere in the buffer (shuffled batches), out of reach of the
// hardware prefetcher: ask for its cache lines (and the next row of logits, which starts on
// a page the prefetcher has not seen yet) while this row is computed.
template <int Write, typename T>
inline void prefetch_row(const T* row, int64_t k) {
#if defined(__GNUC__)
  const char* c = reinterpret_cast<const char*>(row);
  for (int64_t b = 0; b < k * int64_t(sizeof(T)); b += 64) __builtin_prefetch(c + b, Write);
#else
  (void)row;
  (void)k;
#endif
}

template <typename T>
struct Args {
  const T* z;
  const int64_t* target;
  T* ema;
  const int64_t* index;  // nullptr: `ema` holds the (n, K) targets as they are
  const bool* valid;     // nullptr: every row is written back
  T* grad;               // nullptr: no gradient
  T* loss;
  int64_t k;
  T beta, lam, scale;
};

// Rows [begin, end). `scratch` holds 4 K values: the clamped probabilities pc, the masked
// ones mp (pc where the clamp lets the gradient through, else 0), the updated EMA of a row
// that is not written back, and exp(z - max) when there is no gradient row to hold it.
// (Kept in rows rather than recomputed with selects in each loop: GCC 12 turned those into
// branches and masked loads.)
template <typename T>
void elr_rows(const Args<T>& a, int64_t begin, int64_t end, T* scratch) {
  const int64_t k = a.k;
  const T lo = T(kClamp), hi = T(1.0 - kClamp);
  T* __restrict pc = scratch;
  T* __restrict mp = scratch + k;
  for (int64_t i = begin; i < end; ++i) {
    const T* __restrict z = a.z + i * k;
    // exp(z - max) (p times the row's sum), then the gradient, in place
    T* __restrict e = a.grad != nullptr ? a.grad + i * k : scratch + 3 * k;
    if (i + 1 < end) {
      prefetch_row<0>(z + k, k);
      if (a.index != nullptr) prefetch_row<1>(a.ema + a.index[i + 1] * k, k);
    }

    T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < k; ++j) m = z[j] > m ? z[j] : m;
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < k; ++j) {
      const T ej = exp_nonpos(z[j] - m);
      e[j] = ej;
      sum += ej;
    }
    const T inv = T(1) / sum;
    T sum_pc = 0;
#pragma omp simd reduction(+ : sum_pc)
    for (int64_t j = 0; j < k; ++j) {
      const T c = clamp(e[j] * inv, lo, hi);
      pc[j] = c;
      mp[j] = c > lo ? c : T(0);
      sum_pc += c;
    }
    // the largest probability is exp(0) / sum; above 1 - CLAMP its entry is masked
    const bool top = inv > hi;
    int64_t jtop = 0;
    if (top) {
      while (z[jtop] != m) ++jtop;
      mp[jtop] = T(0);
    }

    // the EMA row: updated (in place when written back), or the given targets
    const T* __restrict t;
    T s = 0, u_sum = 0;  // s = <pc, t>, u_sum = <mp, t>
    if (a.index != nullptr) {
      const T* old = a.ema + a.index[i] * k;
      T* out = (a.valid == nullptr || a.valid[i]) ? a.ema + a.index[i] * k : scratch + 2 * k;
      const T c = (T(1) - a.beta) / sum_pc;
      const T beta = a.beta;
#pragma omp simd reduction(+ : s, u_sum)
      for (int64_t j = 0; j < k; ++j) {
        const T tj = old[j] * beta + pc[j] * c;
        out[j] = tj;
        s += pc[j] * tj;
        u_sum += mp[j] * tj;
      }
      t = out;
    } else {
      t = a.ema + i * k;
#pragma omp simd reduction(+ : s, u_sum)
      for (int64_t j = 0; j < k; ++j) {
        s += pc[j] * t[j];
        u_sum += mp[j] * t[j];
      }
    }
    const int64_t y = a.target[i];
    a.loss[i] = (m + std::log(sum) - z[y]) + a.lam * std::log1p(-s);
    if (a.grad == nullptr) continue;

    // d/dz = sc * (p * (1 + coef * U) - coef * mp * t - e_y), coef = lam / (1 - s), p = e / sum
    const T coef = a.lam / (T(1) - s);
    const T ce = a.scale * (T(1) + coef * u_sum) * inv, cu = -a.scale * coef;
#pragma omp simd
    for (int64_t j = 0; j < k; ++j) e[j] = e[j] * ce + mp[j] * t[j] * cu;
    e[y] -= a.scale;
  }
}

std::tuple<at::Tensor, at::Tensor> elr_forward(
    const at::Tensor& z, const at::Tensor& target, at::Tensor& ema,
    const std::optional<at::Tensor>& index, const std::optional<at::Tensor>& valid, double beta,
    double lam, bool need_grad, double scale) {
  TORCH_CHECK(z.dim() == 2 && z.is_contiguous() && z.device().is_cpu(),
              "elr_forward: z must be a contiguous (n, K) CPU tensor");
  TORCH_CHECK(z.scalar_type() == at::kFloat || z.scalar_type() == at::kDouble,
              "elr_forward: z must be float32 or float64");
  const int64_t n = z.size(0), k = z.size(1);
  TORCH_CHECK(target.scalar_type() == at::kLong && target.is_contiguous() &&
                  target.numel() == n,
              "elr_forward: target must be a contiguous int64 (n,) tensor");
  TORCH_CHECK(ema.scalar_type() == z.scalar_type() && ema.is_contiguous() && ema.dim() == 2 &&
                  ema.size(1) == k,
              "elr_forward: ema must be a contiguous (m, K) tensor of z's dtype");
  const int64_t* idx = nullptr;
  if (index.has_value()) {
    TORCH_CHECK(index->scalar_type() == at::kLong && index->is_contiguous() &&
                    index->numel() == n,
                "elr_forward: index must be a contiguous int64 (n,) tensor");
    idx = index->const_data_ptr<int64_t>();
  } else {
    TORCH_CHECK(ema.size(0) == n, "elr_forward: without index, ema must be (n, K)");
  }
  const bool* keep = nullptr;
  if (valid.has_value()) {
    TORCH_CHECK(index.has_value() && valid->scalar_type() == at::kBool &&
                    valid->is_contiguous() && valid->numel() == n,
                "elr_forward: valid must be a contiguous bool (n,) tensor, with index");
    keep = valid->const_data_ptr<bool>();
  }
  // the kernel indexes rows and columns with these: out of range would write anywhere
  const int64_t* tgt = target.const_data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    TORCH_CHECK(tgt[i] >= 0 && tgt[i] < k, "elr_forward: target out of [0, K): ", tgt[i]);
    TORCH_CHECK(idx == nullptr || (idx[i] >= 0 && idx[i] < ema.size(0)),
                "elr_forward: index out of [0, ema rows): ", idx == nullptr ? 0 : idx[i]);
  }
  at::Tensor loss = at::empty({n}, z.options());
  at::Tensor grad = at::empty({need_grad ? n : 0, k}, z.options());
  // Blocks of rows (about 64 KiB of logits each) handed out one at a time to torch's threads:
  // a thread that the OS pauses (a busy machine) holds up one block, not half the rows.
  const int64_t block =
      std::max<int64_t>(1, (int64_t(1) << 16) / (std::max<int64_t>(k, 1) * z.element_size()));
  const int64_t tasks = std::min<int64_t>(at::get_num_threads(), (n + block - 1) / block);
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "elr_forward", [&] {
    const Args<scalar_t> a{z.const_data_ptr<scalar_t>(),
                           target.const_data_ptr<int64_t>(),
                           ema.mutable_data_ptr<scalar_t>(),
                           idx,
                           keep,
                           need_grad ? grad.mutable_data_ptr<scalar_t>() : nullptr,
                           loss.mutable_data_ptr<scalar_t>(),
                           k,
                           static_cast<scalar_t>(beta),
                           static_cast<scalar_t>(lam),
                           static_cast<scalar_t>(scale)};
    std::atomic<int64_t> next{0};
    auto work = [&](int64_t, int64_t) {
      std::vector<scalar_t> scratch(4 * k);
      for (int64_t b = next.fetch_add(block); b < n; b = next.fetch_add(block)) {
        elr_rows(a, b, std::min(n, b + block), scratch.data());
      }
    };
    if (tasks > 1) {
      at::parallel_for(0, tasks, 1, work);
    } else {
      work(0, 1);
    }
  });
  return {loss, grad};
}

}  // namespace

TORCH_LIBRARY(mislabel, m) {
  m.def(
      "elr_forward(Tensor z, Tensor target, Tensor(a!) ema, Tensor? index, Tensor? valid, "
      "float beta, float lam, bool need_grad, float scale) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(mislabel, CPU, m) { m.impl("elr_forward", &elr_forward); }
