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

// Checks the common contract and calls f(T{}) with T the element type of the CPU kernel.
template <typename F>
void on_float(const char* fn, std::initializer_list<const Tensor*> tensors, F&& f) {
  const KernelTimer timer(fn);
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
  if (first->device() != Device::cpu)
    throw std::runtime_error(std::string(fn) + ": no kernel for device '" +
                             device_name(first->device()) + "' in this build yet");
  switch (first->dtype()) {
    case DType::f32:
      f(float{});
      return;
    case DType::f64:
      f(double{});
      return;
    default:
      throw std::invalid_argument(std::string(fn) + ": " + first->describe() +
                                  " is not a floating tensor");
  }
}

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
  on_float("add_inplace", {&y, &x}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) return fast::add_inplace(n_of(y), x.data<T>(), y.data<T>());
    ref::add_inplace<T>(n_of(y), x.data<T>(), y.data<T>());
  });
}

void sum_rows(const Tensor& x, Tensor& out) {
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
  on_float("conv3d_fprop", {&x, &w, bias, &y}, [&](auto tag) {
    using T = decltype(tag);
    if (use_fast())
      fast::conv3d_fprop(s, x.data<T>(), w.data<T>(), ptr<T>(bias), y.data<T>());
    else
      ref::conv3d_fprop<T>(s, x.data<T>(), w.data<T>(), ptr<T>(bias), y.data<T>());
  });
}

void conv3d_dgrad(const Conv3dShape& s, const Tensor& dy, const Tensor& w, Tensor& dx) {
  on_float("conv3d_dgrad", {&dy, &w, &dx}, [&](auto tag) {
    using T = decltype(tag);
    if (use_fast())
      fast::conv3d_dgrad(s, dy.data<T>(), w.data<T>(), dx.data<T>());
    else
      ref::conv3d_dgrad<T>(s, dy.data<T>(), w.data<T>(), dx.data<T>());
  });
}

void conv3d_wgrad(const Conv3dShape& s, const Tensor& x, const Tensor& dy, Tensor& dw) {
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
  on_float("max_pool3d_bprop", {&dy, &dx}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast())
        return fast::max_pool3d_bprop(s, dy.data<T>(), argmax.data<std::int64_t>(), dx.data<T>());
    ref::max_pool3d_bprop<T>(s, dy.data<T>(), argmax.data<std::int64_t>(), dx.data<T>());
  });
}

void relu_fwd(const Tensor& x, Tensor& y) {
  on_float("relu_fwd", {&x, &y}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) return fast::relu_fwd(n_of(x), x.data<T>(), y.data<T>());
    ref::relu_fwd<T>(n_of(x), x.data<T>(), y.data<T>());
  });
}

void relu_bwd(const Tensor& y, const Tensor& dy, Tensor& dx) {
  on_float("relu_bwd", {&y, &dy, &dx}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) return fast::relu_bwd(n_of(y), y.data<T>(), dy.data<T>(), dx.data<T>());
    ref::relu_bwd<T>(n_of(y), y.data<T>(), dy.data<T>(), dx.data<T>());
  });
}

void sigmoid_fwd(const Tensor& x, Tensor& y) {
  on_float("sigmoid_fwd", {&x, &y}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) return fast::sigmoid_fwd(n_of(x), x.data<T>(), y.data<T>());
    ref::sigmoid_fwd<T>(n_of(x), x.data<T>(), y.data<T>());
  });
}

void sigmoid_bwd(const Tensor& y, const Tensor& dy, Tensor& dx) {
  on_float("sigmoid_bwd", {&y, &dy, &dx}, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>)
      if (use_fast()) return fast::sigmoid_bwd(n_of(y), y.data<T>(), dy.data<T>(), dx.data<T>());
    ref::sigmoid_bwd<T>(n_of(y), y.data<T>(), dy.data<T>(), dx.data<T>());
  });
}

void batch_norm_stats(const Tensor& x, Tensor& mean, Tensor& var) {
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
  on_float("batch_norm_update_running", {&running_mean, &running_var}, [&](auto tag) {
    using T = decltype(tag);
    ref::batch_norm_update_running<T>(M, running_mean.numel(), mean.data<double>(),
                                      var.data<double>(), momentum, running_mean.data<T>(),
                                      running_var.data<T>());
  });
}

AmgmSums amgm_sums(const Tensor& p, const Tensor& g) {
  AmgmSums s;
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
