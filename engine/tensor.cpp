// Tensor, storage and memory accounting. Invariants: see engine/tensor.h.
#include "engine/tensor.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <sstream>
#include <stdexcept>

#include "engine/backend.h"
#include "kernels/cpu/host_memory.h"
#include "kernels/cpu/reference/concat.h"
#include "kernels/cpu/reference/elementwise.h"
#if CTV_HAVE_CUDA
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/runtime.h"
#endif

namespace ctv {

// ---- dtypes and shapes --------------------------------------------------------------------

std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32:
      return 4;
    case DType::f64:
    case DType::i64:
      return 8;
  }
  throw std::invalid_argument("dtype_size: unknown dtype");
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "f32";
    case DType::f64:
      return "f64";
    case DType::i64:
      return "i64";
  }
  return "?";
}

namespace {
void check_dims(int rank, const std::int64_t* d) {
  if (rank > kMaxRank)
    throw std::invalid_argument("Shape: rank " + std::to_string(rank) + " exceeds the maximum " +
                                std::to_string(kMaxRank));
  for (int i = 0; i < rank; ++i)
    if (d[i] < 0)
      throw std::invalid_argument("Shape: dimension " + std::to_string(i) + " is negative (" +
                                  std::to_string(d[i]) + ")");
}
}  // namespace

Shape::Shape(std::initializer_list<std::int64_t> d) : rank(static_cast<int>(d.size())) {
  check_dims(rank, d.begin());
  std::copy(d.begin(), d.end(), dims.begin());
}

Shape::Shape(const std::vector<std::int64_t>& d) : rank(static_cast<int>(d.size())) {
  check_dims(rank, d.data());
  std::copy(d.begin(), d.end(), dims.begin());
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= dims[static_cast<std::size_t>(i)];
  return n;
}

std::int64_t Shape::rows() const { return last() == 0 ? 0 : numel() / last(); }

bool Shape::operator==(const Shape& o) const {
  if (rank != o.rank) return false;
  for (int i = 0; i < rank; ++i)
    if (dims[static_cast<std::size_t>(i)] != o.dims[static_cast<std::size_t>(i)]) return false;
  return true;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) {
    if (i) s += ',';
    s += std::to_string(dims[static_cast<std::size_t>(i)]);
  }
  return s + "]";
}

// ---- storage and accounting ---------------------------------------------------------------

namespace {
constexpr unsigned char kGuardByte = 0xA5;

struct Counters {
  std::atomic<std::int64_t> live{0}, peak{0}, storages{0}, allocations{0};
};
Counters& counters(Device d) {
  static Counters c[2];
  return c[d == Device::cpu ? 0 : 1];
}
std::atomic<bool> g_guards{false};
std::atomic<std::int64_t> g_guard_violations{0};

void count_alloc(Device d, std::int64_t bytes) {
  Counters& c = counters(d);
  const std::int64_t now = c.live.fetch_add(bytes) + bytes;
  std::int64_t peak = c.peak.load();
  while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
  }
  c.storages.fetch_add(1);
  c.allocations.fetch_add(1);
}
}  // namespace

Storage::Storage(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device == Device::cuda) {
#if CTV_HAVE_CUDA
    if (!backend_info().gpu_found)
      throw std::runtime_error("Storage: no GPU for a CUDA tensor: " + backend_info().why_no_gpu);
    data_ = kernels::cuda::device_alloc(bytes_);
    count_alloc(device_, static_cast<std::int64_t>(bytes_));
    return;
#else
    throw std::runtime_error(
        "Storage: a CUDA tensor needs the CUDA backend, which this build does not have");
#endif
  }
  guard_bytes_ = g_guards.load() ? kStorageGuardBytes : 0;
  data_ = kernels::host_alloc(bytes_ + guard_bytes_);
  if (guard_bytes_) std::memset(static_cast<char*>(data_) + bytes_, kGuardByte, guard_bytes_);
  count_alloc(device_, static_cast<std::int64_t>(bytes_));
}

bool Storage::guard_intact() const {
  if (guard_bytes_ == 0) return true;
  const auto* g = static_cast<const unsigned char*>(data_) + bytes_;
  for (std::size_t i = 0; i < guard_bytes_; ++i)
    if (g[i] != kGuardByte) return false;
  return true;
}

Storage::~Storage() {
#if CTV_HAVE_CUDA
  if (device_ == Device::cuda)
    kernels::cuda::device_free(data_, bytes_);
  else
#endif
  {
    if (!guard_intact()) g_guard_violations.fetch_add(1);
    kernels::host_free(data_, bytes_ + guard_bytes_);
  }
  Counters& c = counters(device_);
  c.live.fetch_sub(static_cast<std::int64_t>(bytes_));
  c.storages.fetch_sub(1);
}

MemoryStats memory_stats(Device device) {
  const Counters& c = counters(device);
  return {c.live.load(), c.peak.load(), c.storages.load(), c.allocations.load()};
}

void reset_peak_memory(Device device) {
  Counters& c = counters(device);
  c.peak.store(c.live.load());
}

void set_storage_guards(bool on) { g_guards.store(on); }
bool storage_guards_enabled() { return g_guards.load(); }
std::int64_t storage_guard_violations() { return g_guard_violations.load(); }

// ---- tensor -------------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.storage_ = std::make_shared<Storage>(
      static_cast<std::size_t>(shape.numel()) * dtype_size(dtype), device);
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  t.offset_ = 0;
  t.pitch_ = shape.last();
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
#if CTV_HAVE_CUDA
  if (device == Device::cuda) {
    kernels::cuda::fill_device_bytes(t.storage_->data(), 0, t.storage_->bytes());
    return t;
  }
#endif
  std::memset(t.storage_->data(), 0, t.storage_->bytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill(value);
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<double>& values, DType dtype) {
  if (static_cast<std::int64_t>(values.size()) != shape.numel())
    throw std::invalid_argument("Tensor::from_vector: " + std::to_string(values.size()) +
                                " values for shape " + shape.str() + " (" +
                                std::to_string(shape.numel()) + " elements)");
  Tensor t = empty(shape, dtype);
  for (std::int64_t i = 0; i < shape.numel(); ++i) t.set(i, values[static_cast<std::size_t>(i)]);
  return t;
}

std::int64_t Tensor::dim(int i) const {
  const int r = shape_.rank;
  if (i < -r || i >= r)
    throw std::invalid_argument("Tensor::dim: index " + std::to_string(i) + " out of range for " +
                                shape_.str());
  return shape_[i < 0 ? i + r : i];
}

void Tensor::require_dtype(DType t) const {
  if (!defined()) throw std::invalid_argument("Tensor: access to an undefined tensor");
  if (t != dtype_)
    throw std::invalid_argument(std::string("Tensor: element type ") + dtype_name(t) +
                                " requested from a " + dtype_name(dtype_) + " tensor " +
                                shape_.str());
}

void* Tensor::raw_data() {
  if (!defined()) throw std::invalid_argument("Tensor: access to an undefined tensor");
  return static_cast<char*>(storage_->data()) +
         static_cast<std::size_t>(offset_) * dtype_size(dtype_);
}

const void* Tensor::raw_data() const { return const_cast<Tensor*>(this)->raw_data(); }

Tensor Tensor::channel_slice(std::int64_t c0, std::int64_t c1) const {
  if (!defined() || rank() < 1)
    throw std::invalid_argument("Tensor::channel_slice: needs a defined tensor of rank >= 1");
  const std::int64_t C = shape_.last();
  if (c0 < 0 || c0 >= c1 || c1 > C)
    throw std::invalid_argument("Tensor::channel_slice: channels [" + std::to_string(c0) + ", " +
                                std::to_string(c1) + ") are not inside [0, " + std::to_string(C) +
                                ") of " + shape_.str());
  Tensor v = *this;
  v.shape_[rank() - 1] = c1 - c0;
  v.offset_ = offset_ + c0;
  return v;
}

Tensor Tensor::view_of(const Tensor& base, const Shape& shape, std::int64_t offset,
                       std::int64_t pitch) {
  if (!base.defined()) throw std::invalid_argument("Tensor::view_of: undefined base");
  const std::int64_t rows = shape.rows();
  const std::int64_t capacity =
      static_cast<std::int64_t>(base.storage_->bytes() / dtype_size(base.dtype_));
  const std::int64_t end = rows == 0 ? offset : offset + (rows - 1) * pitch + shape.last();
  if (offset < 0 || pitch < shape.last() || end > capacity)
    throw std::invalid_argument("Tensor::view_of: shape " + shape.str() + " offset " +
                                std::to_string(offset) + " pitch " + std::to_string(pitch) +
                                " does not fit a storage of " + std::to_string(capacity) +
                                " elements");
  Tensor v = base;
  v.shape_ = shape;
  v.offset_ = offset;
  v.pitch_ = pitch;
  return v;
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const { return to(dtype_); }

Tensor Tensor::to(DType dtype) const {
  if (!defined()) throw std::invalid_argument("Tensor::to: undefined tensor");
  Tensor out = empty(shape_, dtype, device_);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::to(Device device) const {
  if (!defined()) throw std::invalid_argument("Tensor::to: undefined tensor");
  if (device == device_ && is_contiguous()) return *this;
  Tensor out = empty(shape_, dtype_, device);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::row_view(std::int64_t row) const {
  return view_of(*this, Shape{shape_.last()}, offset_ + row * pitch_, shape_.last());
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (!is_contiguous())
    throw std::invalid_argument("Tensor::reshape: " + describe() +
                                " is a strided view; call contiguous() first");
  if (shape.numel() != numel())
    throw std::invalid_argument("Tensor::reshape: " + shape_.str() + " has " +
                                std::to_string(numel()) + " elements, " + shape.str() + " has " +
                                std::to_string(shape.numel()));
  Tensor v = *this;
  v.shape_ = shape;
  v.pitch_ = shape.last();
  return v;
}

void Tensor::copy_from(const Tensor& src) {
  if (!defined() || !src.defined()) throw std::invalid_argument("Tensor::copy_from: undefined");
  if (src.shape_ != shape_)
    throw std::invalid_argument("Tensor::copy_from: shape " + src.shape_.str() + " into " +
                                shape_.str());
  const auto rows = static_cast<std::size_t>(shape_.rows());
  const auto width = static_cast<std::size_t>(shape_.last());
  const auto sp = static_cast<std::size_t>(src.pitch_), dp = static_cast<std::size_t>(pitch_);
  if (rows == 0 || width == 0) return;
  if (device_ != Device::cpu || src.device_ != Device::cpu) {
#if CTV_HAVE_CUDA
    if (src.dtype_ != dtype_) {
      // Conversions on the host: the source there in its own type, then converted on the way.
      Tensor host = empty(shape_, src.dtype_, Device::cpu);
      host.copy_from(src);
      Tensor converted = host.to(dtype_);
      copy_from(converted);
      return;
    }
    const std::size_t e = dtype_size(dtype_);
    kernels::cuda::copy_rows_2d(raw_data(), dp * e, src.raw_data(), sp * e, width * e, rows);
    return;
#else
    throw std::runtime_error("Tensor::copy_from: a CUDA tensor in a build without CUDA");
#endif
  }
  namespace k = kernels::ref;
  if (src.dtype_ == dtype_) {
    if (dtype_ == DType::f32)
      k::copy_rows(rows, width, src.data<float>(), sp, data<float>(), dp);
    else if (dtype_ == DType::f64)
      k::copy_rows(rows, width, src.data<double>(), sp, data<double>(), dp);
    else
      k::copy_rows(rows, width, src.data<std::int64_t>(), sp, data<std::int64_t>(), dp);
    return;
  }
  if (src.dtype_ == DType::f32 && dtype_ == DType::f64)
    k::convert_rows(rows, width, src.data<float>(), sp, data<double>(), dp);
  else if (src.dtype_ == DType::f64 && dtype_ == DType::f32)
    k::convert_rows(rows, width, src.data<double>(), sp, data<float>(), dp);
  else
    throw std::invalid_argument(std::string("Tensor::copy_from: no conversion from ") +
                                dtype_name(src.dtype_) + " to " + dtype_name(dtype_));
}

std::int64_t Tensor::element_index(std::int64_t flat) const {
  if (flat < 0 || flat >= numel())
    throw std::out_of_range("Tensor: flat index " + std::to_string(flat) + " outside " +
                            shape_.str());
  const std::int64_t w = shape_.last();
  return (flat / w) * pitch_ + flat % w;
}

void Tensor::fill(double value) {
  if (device_ != Device::cpu) {
    copy_from(full(shape_, value, dtype_, Device::cpu));
    return;
  }
  for (std::int64_t i = 0; i < numel(); ++i) set(i, value);
}

double Tensor::at(std::int64_t flat) const {
  if (device_ != Device::cpu) return to(Device::cpu).at(flat);
  const std::int64_t e = element_index(flat);
  switch (dtype_) {
    case DType::f32:
      return data<float>()[e];
    case DType::f64:
      return data<double>()[e];
    case DType::i64:
      return static_cast<double>(data<std::int64_t>()[e]);
  }
  return 0.0;
}

void Tensor::set(std::int64_t flat, double value) {
  if (device_ != Device::cpu) {
    // One element through the host: its row copied there, changed and copied back.
    const std::int64_t w = shape_.last(), row = flat / w;
    Tensor r = row_view(row);
    Tensor h = r.to(Device::cpu);
    h.set(flat % w, value);
    r.copy_from(h);
    return;
  }
  const std::int64_t e = element_index(flat);
  switch (dtype_) {
    case DType::f32:
      data<float>()[e] = static_cast<float>(value);
      break;
    case DType::f64:
      data<double>()[e] = value;
      break;
    case DType::i64:
      data<std::int64_t>()[e] = static_cast<std::int64_t>(value);
      break;
  }
}

std::vector<double> Tensor::to_vector() const {
  if (device_ != Device::cpu) return to(Device::cpu).to_vector();
  std::vector<double> v(static_cast<std::size_t>(numel()));
  for (std::int64_t i = 0; i < numel(); ++i) v[static_cast<std::size_t>(i)] = at(i);
  return v;
}

double Tensor::item() const {
  if (numel() != 1)
    throw std::invalid_argument("Tensor::item: " + shape_.str() + " is not a single element");
  return at(0);
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined";
  std::ostringstream os;
  os << dtype_name(dtype_) << shape_.str() << ' ' << device_name(device_);
  if (!is_contiguous()) os << " view(offset=" << offset_ << ",pitch=" << pitch_ << ")";
  return os.str();
}

}  // namespace ctv
