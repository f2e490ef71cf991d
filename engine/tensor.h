// Tensors: a shape, a dtype, a device tag and a view into reference-counted storage.
//
// Invariants and conventions:
// - Rank 0..5. Rank 0 is a scalar (numel 1). Activations are NDHWC (channels last, D = z,
//   H = y, W = x), conv weights KTRSC, transposed-conv weights CTRSK (see kernels/cpu/reference).
// - Layout: element (i_0, ..., i_{r-1}) lives at storage element
//       offset + row * pitch + i_{r-1},   row = flat index over all dimensions but the last,
//   i.e. the last (channel) dimension is dense and rows are `pitch` elements apart. A dense
//   tensor has pitch == dim(rank-1); a channel slice of an NDHWC tensor keeps the parent's
//   pitch and moves the offset. No other strides exist: kernels see either dense buffers or
//   (rows, width, pitch) triples.
// - Storage is shared (std::shared_ptr): copying a Tensor, reshaping or slicing it never copies
//   data. clone()/contiguous()/to() make dense copies (contiguous() only when needed).
// - Storage is 64-byte aligned and counted: memory_stats() reports live and peak bytes per
//   device, so tests can prove that memory is released.
// - Guards (tests): with storage guards on, every allocation carries trailing sentinel bytes
//   that are checked when the storage is freed and by check_storage_guards().
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"

namespace ctv {

// Element types. f32/f64 are the floating types ops accept; i64 holds indices (max-pool
// argmax). Reserved for later: bf16 storage (its value is kept free below).
enum class DType : std::uint8_t { f32 = 0, f64 = 1, i64 = 2 /*, bf16 = 3 (reserved) */ };

std::size_t dtype_size(DType t);
const char* dtype_name(DType t);
inline bool is_floating(DType t) { return t == DType::f32 || t == DType::f64; }

// The C++ type of a dtype and back: dtype_of<float>() == DType::f32.
template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}
template <>
constexpr DType dtype_of<std::int64_t>() {
  return DType::i64;
}

inline constexpr int kMaxRank = 5;

struct Shape {
  int rank = 0;
  std::array<std::int64_t, kMaxRank> dims{};

  Shape() = default;
  // requires: at most kMaxRank dimensions, each >= 0 (checked: std::invalid_argument).
  Shape(std::initializer_list<std::int64_t> d);
  explicit Shape(const std::vector<std::int64_t>& d);

  std::int64_t operator[](int i) const { return dims[static_cast<std::size_t>(i)]; }
  std::int64_t& operator[](int i) { return dims[static_cast<std::size_t>(i)]; }
  // Product of the dimensions (1 for rank 0).
  std::int64_t numel() const;
  // Last dimension (1 for rank 0): the channel count of an NDHWC shape.
  std::int64_t last() const { return rank == 0 ? 1 : dims[static_cast<std::size_t>(rank - 1)]; }
  // numel() / last() (0 when last() == 0).
  std::int64_t rows() const;
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const;  // "[2,5,4,3,1]"
};

// Raw, aligned, counted bytes on one device: host memory (kernels/cpu/host_memory.h), or GPU
// memory from the caching allocator (kernels/cuda/device_memory.h) in a CUDA build with a GPU.
class Storage {
 public:
  // requires: a CUDA device only in a CUDA build with a GPU (checked: std::runtime_error
  //           saying which is missing).
  // ensures: bytes are allocated (uninitialised), counted in memory_stats(device).
  Storage(std::size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  // True when the trailing sentinel bytes (if this storage has any) are unchanged.
  bool guard_intact() const;

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  std::size_t guard_bytes_ = 0;
  Device device_ = Device::cpu;
};

struct MemoryStats {
  std::int64_t live_bytes = 0;     // bytes held by storages alive now
  std::int64_t peak_bytes = 0;     // max of live_bytes since the last reset_peak_memory()
  std::int64_t live_storages = 0;  // storages alive now
  std::int64_t allocations = 0;    // storages ever created
};
// ensures: thread-safe snapshot (counters are atomic; the fields may be from slightly
//          different instants under concurrent allocation).
MemoryStats memory_stats(Device device = Device::cpu);
// ensures: peak_bytes = live_bytes for the device.
void reset_peak_memory(Device device = Device::cpu);

// Sentinel guards (testing aid; off by default). While on, each new storage gets
// kStorageGuardBytes trailing bytes of a fixed pattern. A damaged guard is counted when the
// storage is freed; storage_guard_violations() returns the count since the process started.
inline constexpr std::size_t kStorageGuardBytes = 64;
void set_storage_guards(bool on);
bool storage_guards_enabled();
std::int64_t storage_guard_violations();

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() == false

  // ensures: a dense tensor of `shape`; empty() leaves values uninitialised.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = Device::cpu);
  // requires: values.size() == shape.numel() (checked). Values are rounded to dtype.
  static Tensor from_vector(const Shape& shape, const std::vector<double>& values,
                            DType dtype = DType::f32);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank; }
  // requires: -rank <= i < rank (negative counts from the end; checked).
  std::int64_t dim(int i) const;
  std::int64_t numel() const { return shape_.numel(); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }

  // Layout (see the top of this file).
  std::int64_t offset() const { return offset_; }
  std::int64_t pitch() const { return pitch_; }
  std::int64_t rows() const { return shape_.rows(); }
  bool is_contiguous() const { return pitch_ == shape_.last(); }

  // Pointer to element 0 (offset applied). requires: defined(), dtype() == dtype_of<T>()
  // (checked: std::invalid_argument). Rows are pitch() elements apart.
  template <typename T>
  T* data();
  template <typename T>
  const T* data() const;
  void* raw_data();
  const void* raw_data() const;

  // A view of channels [c0, c1) of the last dimension, sharing storage.
  // requires: rank >= 1, 0 <= c0 < c1 <= dim(-1) (checked).
  // ensures: shape = shape() with last dim c1 - c0; same pitch; offset + c0.
  Tensor channel_slice(std::int64_t c0, std::int64_t c1) const;
  // A view of base's storage with any shape, offset and pitch (elements) of base's dtype.
  // requires: base defined; pitch >= shape.last(); the view's last element inside the storage
  //           (checked: std::invalid_argument). Used to merge adjacent channel slices.
  static Tensor view_of(const Tensor& base, const Shape& shape, std::int64_t offset,
                        std::int64_t pitch);
  // ensures: *this when already dense, else a dense copy.
  Tensor contiguous() const;
  // ensures: a dense copy that shares nothing with *this.
  Tensor clone() const;
  // ensures: a dense copy converted to dtype (values rounded as static_cast does).
  Tensor to(DType dtype) const;
  // ensures: *this when already dense on `device`, else a dense copy there (same dtype). A
  //          CUDA device needs the CUDA backend and a GPU (else std::runtime_error saying which
  //          is missing).
  Tensor to(Device device) const;
  // requires: is_contiguous(), shape.numel() == numel() (checked). ensures: shares storage.
  Tensor reshape(const Shape& shape) const;

  // requires: src.shape() == shape() (checked); floating or equal dtypes. Views allowed on both
  // sides. ensures: element-wise copy (converted); src and *this must not partially overlap.
  void copy_from(const Tensor& src);
  void fill(double value);

  // Logical (dense, row-major) flat indexing; for tests and small bookkeeping, not hot paths.
  double at(std::int64_t flat) const;
  void set(std::int64_t flat, double value);
  std::vector<double> to_vector() const;
  // requires: numel() == 1 (checked).
  double item() const;

  bool shares_storage(const Tensor& other) const {
    return storage_ != nullptr && storage_ == other.storage_;
  }
  long storage_use_count() const { return storage_.use_count(); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  // "f32[2,5,4,3,1] cpu" (+ " view(offset=3,pitch=8)" for non-dense views).
  std::string describe() const;

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  DType dtype_ = DType::f32;
  Device device_ = Device::cpu;
  std::int64_t offset_ = 0;  // elements
  std::int64_t pitch_ = 0;   // elements between consecutive rows
  std::int64_t element_index(std::int64_t flat) const;
  // Row `row` of the [rows][last] view, as a rank-1 view of last() elements.
  Tensor row_view(std::int64_t row) const;
  void require_dtype(DType t) const;
};

template <typename T>
T* Tensor::data() {
  require_dtype(dtype_of<T>());
  return static_cast<T*>(raw_data());
}
template <typename T>
const T* Tensor::data() const {
  require_dtype(dtype_of<T>());
  return static_cast<const T*>(raw_data());
}

}  // namespace ctv
