// Backend dispatch: device tag and dtype -> kernel. CPU float32 calls go to kernels/cpu/fast
// unless set_cpu_kernels(reference); float64 and the tiny per-channel kernels (invstd, running
// estimates) go to the reference kernels.
#include "engine/ops_dispatch.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cpu/fast/adam.h"
#include "kernels/cpu/fast/batch_norm3d.h"
#include "kernels/cpu/fast/concat.h"
#include "kernels/cpu/fast/conv3d.h"
#include "kernels/cpu/fast/conv_transpose3d.h"
#include "kernels/cpu/fast/elementwise.h"
#include "kernels/cpu/fast/losses.h"
#include "kernels/cpu/fast/max_pool3d.h"
#include "kernels/cpu/fast/reduce.h"
#include "kernels/cpu/reference/batch_norm3d.h"
#include "kernels/cpu/reference/concat.h"
#include "kernels/cpu/reference/elementwise.h"
#include "kernels/cpu/reference/reduce.h"
#if CTV_HAVE_CUDA
#include "kernels/cuda/conv3d.h"
#include "kernels/cuda/ops.h"
#endif

namespace ctv::dispatch {

namespace ref = kernels::ref;
namespace fast = kernels::fast;

namespace {

// CTV_CPU_KERNELS=reference (or fast) sets the start value: side-by-side runs of any command.
CpuKernels initial_cpu_kernels() {
  const char* env = std::getenv("CTV_CPU_KERNELS");
  if (!env || !*env || std::string(env) == "fast") return CpuKernels::fast;
  if (std::string(env) == "reference") return CpuKernels::reference;
  throw std::invalid_argument(std::string("CTV_CPU_KERNELS = '") + env +
                              "' is neither 'fast' nor 'reference'");
}
std::atomic<CpuKernels> g_cpu_kernels{initial_cpu_kernels()};
bool use_fast() { return g_cpu_kernels.load(std::memory_order_relaxed) == CpuKernels::fast; }

// set_kernel_timing: the rows, keyed by the function-name literal each entry point passes.
std::atomic<bool> g_timing{false};
std::mutex g_times_mutex;
std::map<const char*, KernelTime> g_times;

// Adds the time from construction to destruction to fn's row while timing is on.
class KernelTimer {
 public:
  explicit KernelTimer(const char* fn) : fn_(g_timing.load(std::memory_order_relaxed) ? fn : nullptr) {
    if (fn_) t0_ = std::chrono::steady_clock::now();
  }
  ~KernelTimer() {
    if (!fn_) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const std::lock_guard<std::mutex> lock(g_times_mutex);
    KernelTime& row = g_times[fn_];
    if (row.kernel.empty()) row.kernel = fn_;
    row.calls += 1;
    row.seconds += s;
  }
  KernelTimer(const KernelTimer&) = delete;
  KernelTimer& operator=(const KernelTimer&) = delete;

 private:
  const char* fn_;
  std::chrono::steady_clock::time_point t0_{};
};

// The common contract of every entry point: the non-null tensors are defined, dense, and of
// one device and one dtype (std::invalid_argument naming fn otherwise). Returns the first.
const Tensor& check_tensors(const char* fn, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t) continue;
    if (!t->defined()) throw std::invalid_argument(std::string(fn) + ": undefined tensor");
    if (!t->is_contiguous())
      throw std::invalid_argument(std::string(fn) + ": " + t->describe() + " is not dense");
    if (!first) {
      first = t;
      continue;
    }
    if (t->device() != first->device() || t->dtype() != first->dtype())
      throw std::invalid_argument(std::string(fn) + ": mixed tensors " + first->describe() +
                                  " and " + t->describe());
  }
  if (!first) throw std::invalid_argument(std::string(fn) + ": no tensors");
  return *first;
}

// Checks the common contract and calls f(T{}) with T the element type of the CPU kernel.
template <typename F>
void on_float(const char* fn, std::initializer_list<const Tensor*> tensors, F&& f) {
  const KernelTimer timer(fn);
  const Tensor& first = check_tensors(fn, tensors);
  if (first.device() != Device::cpu)
    throw std::runtime_error(std::string(fn) + ": a tensor on device '" +
                             device_name(first.device()) +
                             "' and no kernel for it in this build (no CUDA backend)");
  switch (first.dtype()) {
    case DType::f32:
      f(float{});
      return;
    case DType::f64:
      f(double{});
      return;
    default:
      throw std::invalid_argument(std::string(fn) + ": " + first.describe() +
                                  " is not a floating tensor");
  }
}

#if CTV_HAVE_CUDA
namespace kc = kernels::cuda;

// The CUDA path: false when the first defined tensor is not on the GPU (on_float takes them);
// else checks them (check_tensors, and float32: std::invalid_argument naming fn otherwise),
// runs f, timed like on_float, and returns true.
template <typename F>
bool cuda_call(const char* fn, std::initializer_list<const Tensor*> tensors, F&& f) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors)
    if (t && t->defined()) {
      first = t;
      break;
    }
  if (!first || first->device() != Device::cuda) return false;
  check_tensors(fn, tensors);
  if (first->dtype() != DType::f32)
    throw std::invalid_argument(std::string(fn) + ": " + first->describe() +
                                ": the GPU kernels are float32 (float64 runs on the CPU)");
  const KernelTimer timer(fn);
  f();
  return true;
}

const float* fp(const Tensor* t) { return t ? t->data<float>() : nullptr; }
float* fp(Tensor* t) { return t ? t->data<float>() : nullptr; }
#endif

void require_dense_i64(const char* fn, const Tensor& t) {
  if (!t.defined() || t.dtype() != DType::i64 || !t.is_contiguous())
    throw std::invalid_argument(std::string(fn) + ": argmax must be a dense i64 tensor, got " +
                                t.describe());
}

template <typename T>
T* ptr(Tensor* t) {
  return t ? t->data<T>() : nullptr;
}
template <typename T>
const T* ptr(const Tensor* t) {
  return t ? t->data<T>() : nullptr;
}

auto n_of(const Tensor& t) { return static_cast<std::size_t>(t.numel()); }

}  // namespace

void set_kernel_timing(bool on) { g_timing.store(on); }

void reset_kernel_times() {
  const std::lock_guard<std::mutex> lock(g_times_mutex);
  g_times.clear();
}

std::vector<KernelTime> kernel_times() {
  std::vector<KernelTime> rows;
  {
    const std::lock_guard<std::mutex> lock(g_times_mutex);
    for (const auto& [fn, row] : g_times) rows.push_back(row);
  }
  std::sort(rows.begin(), rows.end(), [](const KernelTime& a, const KernelTime& b) {
    return a.seconds != b.seconds ? a.seconds > b.seconds : a.kernel < b.kernel;
  });
  return rows;
}

void set_cpu_kernels(CpuKernels k) { g_cpu_kernels.store(k); }
CpuKernels cpu_kernels() { return g_cpu_kernels.load(); }
const char* cpu_kernels_name(CpuKernels k) { return k == CpuKernels::fast ? "fast" : "reference"; }

void add_inplace(Tensor& y, const Tensor& x) {
  if (x.shape() != y.shape())
    throw std::invalid_argument("add_inplace: " + x.describe() + " into " + y.describe());
#if CTV_HAVE_CUDA
  if (cuda_call("add_inplace", {&y, &x},
                [&] { kc::add_inplace(y.numel(), x.data<float>(), y.data<float>()); }))
    return;
#endif
  on_float("add_inplace", {&y, &x}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) return fast::add_inplace(n_of(y), x.data<T>(), y.data<T>());
    ref::add_inplace<T>(n_of(y), x.data<T>(), y.data<T>());
  });
}

void sum_rows(const Tensor& x, Tensor& out) {
#if CTV_HAVE_CUDA
  if (cuda_call("sum_rows", {&x, &out},
                [&] { kc::sum_rows(x.rows(), x.shape().last(), x.data<float>(), out.data<float>()); }))
    return;
#endif
  on_float("sum_rows", {&x, &out}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) return fast::sum_rows(x.rows(), x.shape().last(), x.data<T>(), out.data<T>());
    ref::sum_rows<T>(x.rows(), x.shape().last(), x.data<T>(), out.data<T>());
  });
}

void concat_channels(const Tensor* const* inputs, std::size_t count, Tensor& dst) {
  // Inputs may be views: check device and dtype only.
  for (std::size_t i = 0; i < count; ++i)
    if (inputs[i]->dtype() != dst.dtype() || inputs[i]->device() != dst.device())
      throw std::invalid_argument("concat_channels: " + inputs[i]->describe() + " into " +
                                  dst.describe());
#if CTV_HAVE_CUDA
  if (cuda_call("concat_channels", {&dst}, [&] {
        std::vector<const float*> src(count);
        std::vector<std::size_t> widths(count), pitches(count);
        for (std::size_t i = 0; i < count; ++i) {
          src[i] = inputs[i]->data<float>();
          widths[i] = static_cast<std::size_t>(inputs[i]->shape().last());
          pitches[i] = static_cast<std::size_t>(inputs[i]->pitch());
        }
        kc::concat_channels(static_cast<std::size_t>(dst.rows()), count, src.data(),
                            widths.data(), pitches.data(), dst.data<float>(),
                            static_cast<std::size_t>(dst.pitch()));
      }))
    return;
#endif
  on_float("concat_channels", {&dst}, [&](auto tag) {
    using T = decltype(tag);
    std::vector<const T*> src(count);
    std::vector<std::size_t> widths(count), pitches(count);
    for (std::size_t i = 0; i < count; ++i) {
      src[i] = inputs[i]->data<T>();
      widths[i] = static_cast<std::size_t>(inputs[i]->shape().last());
      pitches[i] = static_cast<std::size_t>(inputs[i]->pitch());
    }
    const auto rows = static_cast<std::size_t>(dst.rows());
    const auto pitch = static_cast<std::size_t>(dst.pitch());
    if constexpr (std::is_same_v<T, float>)
      if (use_fast())
        return fast::concat_channels(rows, count, src.data(), widths.data(), pitches.data(),
                                     dst.data<T>(), pitch);
    ref::concat_channels<T>(rows, count, src.data(), widths.data(), pitches.data(), dst.data<T>(),
                            pitch);
  });
}

void conv3d_fprop(const Conv3dShape& s, const Tensor& x, const Tensor& w, const Tensor* bias,
                  Tensor& y) {
#if CTV_HAVE_CUDA
  if (cuda_call("conv3d_fprop", {&x, &w, bias, &y},
                [&] { kc::conv3d_fprop(s, x.data<float>(), w.data<float>(), fp(bias), y.data<float>()); }))
    return;
#endif
  on_float("conv3d_fprop", {&x, &w, bias, &y}, [&](auto tag) {
    using T = decltype(tag);
    if (use_fast())
      fast::conv3d_fprop(s, x.data<T>(), w.data<T>(), ptr<T>(bias), y.data<T>());
    else
      ref::conv3d_fprop<T>(s, x.data<T>(), w.data<T>(), ptr<T>(bias), y.data<T>());
  });
}

void conv3d_dgrad(const Conv3dShape& s, const Tensor& dy, const Tensor& w, Tensor& dx) {
#if CTV_HAVE_CUDA
  if (cuda_call("conv3d_dgrad", {&dy, &w, &dx},
                [&] { kc::conv3d_dgrad(s, dy.data<float>(), w.data<float>(), dx.data<float>()); }))
    return;
#endif
  on_float("conv3d_dgrad", {&dy, &w, &dx}, [&](auto tag) {
    using T = decltype(tag);
    if (use_fast())
      fast::conv3d_dgrad(s, dy.data<T>(), w.data<T>(), dx.data<T>());
    else
      ref::conv3d_dgrad<T>(s, dy.data<T>(), w.data<T>(), dx.data<T>());
  });
}

void conv3d_wgrad(const Conv3dShape& s, const Tensor& x, const Tensor& dy, Tensor& dw) {
#if CTV_HAVE_CUDA
  if (cuda_call("conv3d_wgrad", {&x, &dy, &dw}, [&] {
        kc::conv3d_wgrad(s, x.data<float>(), dy.data<float>(), dw.data<float>(), nullptr);
      }))
    return;
#endif
  on_float("conv3d_wgrad", {&x, &dy, &dw}, [&](auto tag) {
    using T = decltype(tag);
    if (use_fast())
      fast::conv3d_wgrad(s, x.data<T>(), dy.data<T>(), dw.data<T>(), static_cast<T*>(nullptr));
    else
      ref::conv3d_wgrad<T>(s, x.data<T>(), dy.data<T>(), dw.data<T>(), nullptr);
  });
}

void conv_transpose3d_fprop(const ConvTranspose3dShape& s, const Tensor& x, const Tensor& w,
                            const Tensor* bias, Tensor& y) {
#if CTV_HAVE_CUDA
  if (cuda_call("conv_transpose3d_fprop", {&x, &w, bias, &y}, [&] {
        kc::conv_transpose3d_fprop(s, x.data<float>(), w.data<float>(), fp(bias), y.data<float>());
      }))
    return;
#endif
  on_float("conv_transpose3d_fprop", {&x, &w, bias, &y}, [&](auto tag) {
    using T = decltype(tag);
    if (use_fast())
      fast::conv_transpose3d_fprop(s, x.data<T>(), w.data<T>(), ptr<T>(bias), y.data<T>());
    else
      ref::conv_transpose3d_fprop<T>(s, x.data<T>(), w.data<T>(), ptr<T>(bias), y.data<T>());
  });
}

void conv_transpose3d_dgrad(const ConvTranspose3dShape& s, const Tensor& dy, const Tensor& w,
                            Tensor& dx) {
#if CTV_HAVE_CUDA
  if (cuda_call("conv_transpose3d_dgrad", {&dy, &w, &dx}, [&] {
        kc::conv_transpose3d_dgrad(s, dy.data<float>(), w.data<float>(), dx.data<float>());
      }))
    return;
#endif
  on_float("conv_transpose3d_dgrad", {&dy, &w, &dx}, [&](auto tag) {
    using T = decltype(tag);
    if (use_fast())
      fast::conv_transpose3d_dgrad(s, dy.data<T>(), w.data<T>(), dx.data<T>());
    else
      ref::conv_transpose3d_dgrad<T>(s, dy.data<T>(), w.data<T>(), dx.data<T>());
  });
}

void conv_transpose3d_wgrad(const ConvTranspose3dShape& s, const Tensor& x, const Tensor& dy,
                            Tensor& dw) {
#if CTV_HAVE_CUDA
  if (cuda_call("conv_transpose3d_wgrad", {&x, &dy, &dw}, [&] {
        kc::conv_transpose3d_wgrad(s, x.data<float>(), dy.data<float>(), dw.data<float>(), nullptr);
      }))
    return;
#endif
  on_float("conv_transpose3d_wgrad", {&x, &dy, &dw}, [&](auto tag) {
    using T = decltype(tag);
    if (use_fast())
      fast::conv_transpose3d_wgrad(s, x.data<T>(), dy.data<T>(), dw.data<T>(),
                                   static_cast<T*>(nullptr));
    else
      ref::conv_transpose3d_wgrad<T>(s, x.data<T>(), dy.data<T>(), dw.data<T>(), nullptr);
  });
}

void max_pool3d_fprop(const MaxPool3dShape& s, const Tensor& x, Tensor& y, Tensor* argmax) {
  if (argmax) require_dense_i64("max_pool3d_fprop", *argmax);
#if CTV_HAVE_CUDA
  if (cuda_call("max_pool3d_fprop", {&x, &y}, [&] {
        kc::max_pool3d_fprop(s, x.data<float>(), y.data<float>(),
                             argmax ? argmax->data<std::int64_t>() : nullptr);
      }))
    return;
#endif
  on_float("max_pool3d_fprop", {&x, &y}, [&](auto tag) {
    using T = decltype(tag);
    std::int64_t* am = argmax ? argmax->data<std::int64_t>() : nullptr;
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) return fast::max_pool3d_fprop(s, x.data<T>(), y.data<T>(), am);
    ref::max_pool3d_fprop<T>(s, x.data<T>(), y.data<T>(), am);
  });
}

void max_pool3d_bprop(const MaxPool3dShape& s, const Tensor& dy, const Tensor& argmax, Tensor& dx) {
  require_dense_i64("max_pool3d_bprop", argmax);
#if CTV_HAVE_CUDA
  if (cuda_call("max_pool3d_bprop", {&dy, &dx}, [&] {
        kc::max_pool3d_bprop(s, dy.data<float>(), argmax.data<std::int64_t>(), dx.data<float>());
      }))
    return;
#endif
  on_float("max_pool3d_bprop", {&dy, &dx}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast())
        return fast::max_pool3d_bprop(s, dy.data<T>(), argmax.data<std::int64_t>(), dx.data<T>());
    ref::max_pool3d_bprop<T>(s, dy.data<T>(), argmax.data<std::int64_t>(), dx.data<T>());
  });
}

void relu_fwd(const Tensor& x, Tensor& y) {
#if CTV_HAVE_CUDA
  if (cuda_call("relu_fwd", {&x, &y}, [&] { kc::relu_fwd(x.numel(), x.data<float>(), y.data<float>()); }))
    return;
#endif
  on_float("relu_fwd", {&x, &y}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) return fast::relu_fwd(n_of(x), x.data<T>(), y.data<T>());
    ref::relu_fwd<T>(n_of(x), x.data<T>(), y.data<T>());
  });
}

void relu_bwd(const Tensor& y, const Tensor& dy, Tensor& dx) {
#if CTV_HAVE_CUDA
  if (cuda_call("relu_bwd", {&y, &dy, &dx}, [&] {
        kc::relu_bwd(y.numel(), y.data<float>(), dy.data<float>(), dx.data<float>());
      }))
    return;
#endif
  on_float("relu_bwd", {&y, &dy, &dx}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) return fast::relu_bwd(n_of(y), y.data<T>(), dy.data<T>(), dx.data<T>());
    ref::relu_bwd<T>(n_of(y), y.data<T>(), dy.data<T>(), dx.data<T>());
  });
}

void sigmoid_fwd(const Tensor& x, Tensor& y) {
#if CTV_HAVE_CUDA
  if (cuda_call("sigmoid_fwd", {&x, &y},
                [&] { kc::sigmoid_fwd(x.numel(), x.data<float>(), y.data<float>()); }))
    return;
#endif
  on_float("sigmoid_fwd", {&x, &y}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) return fast::sigmoid_fwd(n_of(x), x.data<T>(), y.data<T>());
    ref::sigmoid_fwd<T>(n_of(x), x.data<T>(), y.data<T>());
  });
}

void sigmoid_bwd(const Tensor& y, const Tensor& dy, Tensor& dx) {
#if CTV_HAVE_CUDA
  if (cuda_call("sigmoid_bwd", {&y, &dy, &dx}, [&] {
        kc::sigmoid_bwd(y.numel(), y.data<float>(), dy.data<float>(), dx.data<float>());
      }))
    return;
#endif
  on_float("sigmoid_bwd", {&y, &dy, &dx}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) return fast::sigmoid_bwd(n_of(y), y.data<T>(), dy.data<T>(), dx.data<T>());
    ref::sigmoid_bwd<T>(n_of(y), y.data<T>(), dy.data<T>(), dx.data<T>());
  });
}

void batch_norm_stats(const Tensor& x, Tensor& mean, Tensor& var) {
#if CTV_HAVE_CUDA
  if (cuda_call("batch_norm_stats", {&x}, [&] {
        kc::batch_norm_stats(x.rows(), x.shape().last(), x.data<float>(), mean.data<double>(),
                             var.data<double>());
      }))
    return;
#endif
  on_float("batch_norm_stats", {&x}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast())
        return fast::batch_norm_stats(x.rows(), x.shape().last(), x.data<T>(), mean.data<double>(),
                                      var.data<double>());
    ref::batch_norm_stats<T>(x.rows(), x.shape().last(), x.data<T>(), mean.data<double>(),
                             var.data<double>());
  });
}

void batch_norm_invstd(const Tensor& var, double eps, Tensor& invstd) {
  if (var.device() != Device::cpu || invstd.device() != Device::cpu) {
    // C values: on the host, through copies.
    Tensor out = Tensor::empty(invstd.shape(), invstd.dtype(), Device::cpu);
    batch_norm_invstd(var.to(Device::cpu), eps, out);
    invstd.copy_from(out);
    return;
  }
  if (var.dtype() == DType::f64) {
    on_float("batch_norm_invstd", {&var, &invstd}, [&](auto) {
      ref::batch_norm_invstd(var.numel(), var.data<double>(), eps, invstd.data<double>());
    });
    return;
  }
  const Tensor v64 = var.to(DType::f64);
  batch_norm_invstd(v64, eps, invstd);
}

void batch_norm_fwd(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& gamma,
                    const Tensor& beta, Tensor& y) {
#if CTV_HAVE_CUDA
  if (cuda_call("batch_norm_fwd", {&x, &gamma, &beta, &y}, [&] {
        kc::batch_norm_fwd(x.rows(), x.shape().last(), false, x.data<float>(), mean.data<double>(),
                           invstd.data<double>(), gamma.data<float>(), beta.data<float>(),
                           y.data<float>());
      }))
    return;
#endif
  on_float("batch_norm_fwd", {&x, &gamma, &beta, &y}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast())
        return fast::batch_norm_fwd(x.rows(), x.shape().last(), x.data<T>(), mean.data<double>(),
                                    invstd.data<double>(), gamma.data<T>(), beta.data<T>(),
                                    y.data<T>());
    ref::batch_norm_fwd<T>(x.rows(), x.shape().last(), x.data<T>(), mean.data<double>(),
                           invstd.data<double>(), gamma.data<T>(), beta.data<T>(), y.data<T>());
  });
}

void batch_norm_relu_fwd(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                         const Tensor& gamma, const Tensor& beta, Tensor& y) {
#if CTV_HAVE_CUDA
  if (cuda_call("batch_norm_relu_fwd", {&x, &gamma, &beta, &y}, [&] {
        kc::batch_norm_fwd(x.rows(), x.shape().last(), true, x.data<float>(), mean.data<double>(),
                           invstd.data<double>(), gamma.data<float>(), beta.data<float>(),
                           y.data<float>());
      }))
    return;
#endif
  on_float("batch_norm_relu_fwd", {&x, &gamma, &beta, &y}, [&](auto tag) {
    using T = decltype(tag);
    const std::int64_t M = x.rows(), C = x.shape().last();
    if constexpr (std::is_same_v<T, float>)
      if (use_fast())
        return fast::batch_norm_relu_fwd(M, C, x.data<T>(), mean.data<double>(),
                                         invstd.data<double>(), gamma.data<T>(), beta.data<T>(),
                                         y.data<T>());
    // The reference pair, each allowed in place.
    ref::batch_norm_fwd<T>(M, C, x.data<T>(), mean.data<double>(), invstd.data<double>(),
                           gamma.data<T>(), beta.data<T>(), y.data<T>());
    ref::relu_fwd<T>(n_of(y), y.data<T>(), y.data<T>());
  });
}

void batch_norm_bwd(bool training, const Tensor& x, const Tensor& dy, const Tensor& mean,
                    const Tensor& invstd, const Tensor& gamma, Tensor* dx, Tensor* dgamma,
                    Tensor* dbeta) {
#if CTV_HAVE_CUDA
  if (cuda_call("batch_norm_bwd", {&x, &dy, &gamma, dx, dgamma, dbeta}, [&] {
        kc::batch_norm_bwd(x.rows(), x.shape().last(), training, false, x.data<float>(), nullptr,
                           dy.data<float>(), mean.data<double>(), invstd.data<double>(),
                           gamma.data<float>(), fp(dx), fp(dgamma), fp(dbeta));
      }))
    return;
#endif
  on_float("batch_norm_bwd", {&x, &dy, &gamma, dx, dgamma, dbeta}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) {
        auto* k = training ? &fast::batch_norm_bwd_train : &fast::batch_norm_bwd_eval;
        return k(x.rows(), x.shape().last(), x.data<T>(), dy.data<T>(), mean.data<double>(),
                 invstd.data<double>(), gamma.data<T>(), ptr<T>(dx), ptr<T>(dgamma),
                 ptr<T>(dbeta));
      }
    auto* k = training ? &ref::batch_norm_bwd_train<T> : &ref::batch_norm_bwd_eval<T>;
    k(x.rows(), x.shape().last(), x.data<T>(), dy.data<T>(), mean.data<double>(),
      invstd.data<double>(), gamma.data<T>(), ptr<T>(dx), ptr<T>(dgamma), ptr<T>(dbeta));
  });
}

void batch_norm_relu_bwd(bool training, const Tensor& x, const Tensor& y, const Tensor& dy,
                         const Tensor& mean, const Tensor& invstd, const Tensor& gamma, Tensor* dx,
                         Tensor* dgamma, Tensor* dbeta) {
#if CTV_HAVE_CUDA
  if (cuda_call("batch_norm_relu_bwd", {&x, &y, &dy, &gamma, dx, dgamma, dbeta}, [&] {
        kc::batch_norm_bwd(x.rows(), x.shape().last(), training, true, x.data<float>(),
                           y.data<float>(), dy.data<float>(), mean.data<double>(),
                           invstd.data<double>(), gamma.data<float>(), fp(dx), fp(dgamma),
                           fp(dbeta));
      }))
    return;
#endif
  on_float("batch_norm_relu_bwd", {&x, &y, &dy, &gamma, dx, dgamma, dbeta}, [&](auto tag) {
    using T = decltype(tag);
    const std::int64_t M = x.rows(), C = x.shape().last();
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) {
        auto* k = training ? &fast::batch_norm_relu_bwd_train : &fast::batch_norm_relu_bwd_eval;
        return k(M, C, x.data<T>(), y.data<T>(), dy.data<T>(), mean.data<double>(),
                 invstd.data<double>(), gamma.data<T>(), ptr<T>(dx), ptr<T>(dgamma),
                 ptr<T>(dbeta));
      }
    // The reference pair: dz = relu_bwd(y, dy) stored, then the batch-norm backward.
    Tensor dz = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
    ref::relu_bwd<T>(n_of(y), y.data<T>(), dy.data<T>(), dz.data<T>());
    auto* k = training ? &ref::batch_norm_bwd_train<T> : &ref::batch_norm_bwd_eval<T>;
    k(M, C, x.data<T>(), dz.data<T>(), mean.data<double>(), invstd.data<double>(),
      gamma.data<T>(), ptr<T>(dx), ptr<T>(dgamma), ptr<T>(dbeta));
  });
}

void batch_norm_update_running(std::int64_t M, const Tensor& mean, const Tensor& var,
                               double momentum, Tensor& running_mean, Tensor& running_var) {
  if (running_mean.device() != Device::cpu) {
    // C values: on the host, through copies.
    Tensor rm = running_mean.to(Device::cpu), rv = running_var.to(Device::cpu);
    batch_norm_update_running(M, mean.to(Device::cpu), var.to(Device::cpu), momentum, rm, rv);
    running_mean.copy_from(rm);
    running_var.copy_from(rv);
    return;
  }
  on_float("batch_norm_update_running", {&running_mean, &running_var}, [&](auto tag) {
    using T = decltype(tag);
    ref::batch_norm_update_running<T>(M, running_mean.numel(), mean.data<double>(),
                                      var.data<double>(), momentum, running_mean.data<T>(),
                                      running_var.data<T>());
  });
}

AmgmSums amgm_sums(const Tensor& p, const Tensor& g) {
  AmgmSums s;
#if CTV_HAVE_CUDA
  if (cuda_call("amgm_sums", {&p, &g}, [&] { s = kc::amgm_sums(p.numel(), p.data<float>(), g.data<float>()); }))
    return s;
#endif
  on_float("amgm_sums", {&p, &g}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) {
        s = fast::amgm_sums(p.numel(), p.data<T>(), g.data<T>());
        return;
      }
    s = ref::amgm_sums<T>(p.numel(), p.data<T>(), g.data<T>());
  });
  return s;
}

void amgm_bwd(const Tensor& p, const Tensor& g, const AmgmSums& s, double eps, double dL,
              Tensor* dp, Tensor* dg) {
#if CTV_HAVE_CUDA
  if (cuda_call("amgm_bwd", {&p, &g, dp, dg}, [&] {
        kc::amgm_bwd(p.numel(), p.data<float>(), g.data<float>(), s, eps, dL, fp(dp), fp(dg));
      }))
    return;
#endif
  on_float("amgm_bwd", {&p, &g, dp, dg}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast())
        return fast::amgm_bwd(p.numel(), p.data<T>(), g.data<T>(), s, eps, dL, ptr<T>(dp),
                              ptr<T>(dg));
    ref::amgm_bwd<T>(p.numel(), p.data<T>(), g.data<T>(), s, eps, dL, ptr<T>(dp), ptr<T>(dg));
  });
}

double bce_value(const Tensor& p, const Tensor& g, double w_bg) {
  double v = 0.0;
#if CTV_HAVE_CUDA
  if (cuda_call("bce_value", {&p, &g},
                [&] { v = kc::bce_value(p.numel(), p.data<float>(), g.data<float>(), w_bg); }))
    return v;
#endif
  on_float("bce_value", {&p, &g}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) {
        v = fast::bce_value(p.numel(), p.data<T>(), g.data<T>(), w_bg);
        return;
      }
    v = ref::bce_value<T>(p.numel(), p.data<T>(), g.data<T>(), w_bg);
  });
  return v;
}

void bce_bwd(const Tensor& p, const Tensor& g, double w_bg, double dL, Tensor* dp, Tensor* dg) {
#if CTV_HAVE_CUDA
  if (cuda_call("bce_bwd", {&p, &g, dp, dg}, [&] {
        kc::bce_bwd(p.numel(), p.data<float>(), g.data<float>(), w_bg, dL, fp(dp), fp(dg));
      }))
    return;
#endif
  on_float("bce_bwd", {&p, &g, dp, dg}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast())
        return fast::bce_bwd(p.numel(), p.data<T>(), g.data<T>(), w_bg, dL, ptr<T>(dp),
                             ptr<T>(dg));
    ref::bce_bwd<T>(p.numel(), p.data<T>(), g.data<T>(), w_bg, dL, ptr<T>(dp), ptr<T>(dg));
  });
}

void adam_step(Tensor& theta, const Tensor& g, Tensor& m, Tensor& v, std::int64_t t,
               const AdamHyper& h) {
#if CTV_HAVE_CUDA
  if (cuda_call("adam_step", {&theta, &g, &m, &v}, [&] {
        kc::adam_step(theta.numel(), theta.data<float>(), g.data<float>(), m.data<float>(),
                      v.data<float>(), t, h);
      }))
    return;
#endif
  on_float("adam_step", {&theta, &g, &m, &v}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast())
        return fast::adam_step(theta.numel(), theta.data<T>(), g.data<T>(), m.data<T>(),
                               v.data<T>(), t, h);
    ref::adam_step<T>(theta.numel(), theta.data<T>(), g.data<T>(), m.data<T>(), v.data<T>(), t, h);
  });
}

}  // namespace ctv::dispatch
