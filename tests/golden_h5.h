// Reader for the golden reference files under tests/data (written by tools/ scripts with
// h5py), on the HDF5 C API. Header-only, for the tests only.
//
//   golden::File f(std::string(CTV_TEST_DATA_DIR) + "/golden_unet.h5");
//   golden::GoldenArray x = f.read("/input");        // shape {N, C, D, H, W}, row-major
//   double lr = f.attr_number("adam_lr");            // numeric root attribute
//   std::string order = f.attr_string("concat_order");
//   std::vector<std::string> keys = f.list("/init");  // member names, sorted by name
//
// Every failure throws std::runtime_error naming the file and the path; HDF5's own error
// stack printing is switched off so the exception is the one message a test shows.
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace golden {

// A numeric dataset read as double, in the file's row-major (C) order. A scalar dataset
// has an empty shape and one value.
struct GoldenArray {
  std::vector<std::size_t> shape;
  std::vector<double> values;

  std::size_t size() const {
    std::size_t n = 1;
    for (std::size_t d : shape) n *= d;
    return n;
  }
};

namespace detail {

// Closes an HDF5 identifier with the given function when it leaves scope.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      close_ = o.close_;
    }
    return *this;
  }
  ~Handle() { reset(); }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  void reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = H5I_INVALID_HID;
  }
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

inline void silence_hdf5_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

}  // namespace detail

class File {
 public:
  explicit File(std::string path) : path_(std::move(path)) {
    detail::silence_hdf5_errors();
    file_ = detail::Handle(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!file_.valid()) throw std::runtime_error(path_ + ": cannot open as an HDF5 file");
  }

  const std::string& path() const { return path_; }

  // True when a link of that name exists (every group on the way must exist too).
  bool exists(const std::string& name) const {
    std::string partial;
    std::size_t start = name.empty() || name[0] != '/' ? 0 : 1;
    partial = start ? "/" : "";
    while (start <= name.size()) {
      std::size_t end = name.find('/', start);
      if (end == std::string::npos) end = name.size();
      if (end > start) {
        partial += name.substr(start, end - start);
        if (H5Lexists(file_.get(), partial.c_str(), H5P_DEFAULT) <= 0) return false;
        partial += "/";
      }
      start = end + 1;
    }
    return true;
  }

  // A numeric (floating-point or integer) dataset, converted to double by HDF5.
  GoldenArray read(const std::string& name) const {
    detail::Handle ds = open_dataset(name);
    detail::Handle type(H5Dget_type(ds.get()), H5Tclose);
    H5T_class_t cls = type.valid() ? H5Tget_class(type.get()) : H5T_NO_CLASS;
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) fail(name, "is not a numeric dataset");
    detail::Handle space(H5Dget_space(ds.get()), H5Sclose);
    GoldenArray out;
    out.shape = extent(space, name);
    out.values.resize(out.size());
    if (!out.values.empty() &&
        H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.values.data()) < 0)
      fail(name, "cannot be read");
    return out;
  }

  // A numeric attribute of the root group, holding one value.
  double attr_number(const std::string& attr) const {
    detail::Handle a = open_attribute(attr);
    detail::Handle type(H5Aget_type(a.get()), H5Tclose);
    H5T_class_t cls = type.valid() ? H5Tget_class(type.get()) : H5T_NO_CLASS;
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) fail_attr(attr, "is not numeric");
    detail::Handle space(H5Aget_space(a.get()), H5Sclose);
    if (H5Sget_simple_extent_npoints(space.get()) != 1) fail_attr(attr, "is not one value");
    double v = 0.0;
    if (H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v) < 0) fail_attr(attr, "cannot be read");
    return v;
  }

  // A string attribute of the root group (variable- or fixed-length, as h5py writes).
  std::string attr_string(const std::string& attr) const {
    detail::Handle a = open_attribute(attr);
    detail::Handle type(H5Aget_type(a.get()), H5Tclose);
    if (!type.valid() || H5Tget_class(type.get()) != H5T_STRING) fail_attr(attr, "is not a string");
    detail::Handle space(H5Aget_space(a.get()), H5Sclose);
    if (H5Sget_simple_extent_npoints(space.get()) != 1) fail_attr(attr, "is not one string");
    if (H5Tis_variable_str(type.get()) > 0) {
      detail::Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mem.get(), H5T_VARIABLE);
      H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
      char* s = nullptr;
      if (H5Aread(a.get(), mem.get(), &s) < 0) fail_attr(attr, "cannot be read");
      std::string out = s != nullptr ? s : "";
#if H5_VERSION_GE(1, 12, 0)
      H5Treclaim(mem.get(), space.get(), H5P_DEFAULT, &s);
#else
      H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, &s);
#endif
      return out;
    }
    std::size_t n = H5Tget_size(type.get());
    detail::Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), n + 1);
    H5Tset_strpad(mem.get(), H5T_STR_NULLTERM);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    std::string buf(n + 1, '\0');
    if (H5Aread(a.get(), mem.get(), buf.data()) < 0) fail_attr(attr, "cannot be read");
    return std::string(buf.c_str());
  }

  // Names of the members of a group, sorted by name.
  std::vector<std::string> list(const std::string& group) const {
    if (!exists(group)) fail(group, "does not exist");
    detail::Handle g(H5Gopen2(file_.get(), group.c_str(), H5P_DEFAULT), H5Gclose);
    if (!g.valid()) fail(group, "is not a group");
    H5G_info_t info;
    if (H5Gget_info(g.get(), &info) < 0) fail(group, "cannot be listed");
    std::vector<std::string> names;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      ssize_t len =
          H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (len < 0) fail(group, "cannot be listed");
      std::string name(static_cast<std::size_t>(len) + 1, '\0');
      H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                         H5P_DEFAULT);
      name.resize(static_cast<std::size_t>(len));
      names.push_back(std::move(name));
    }
    return names;
  }

 private:
  [[noreturn]] void fail(const std::string& name, const std::string& what) const {
    throw std::runtime_error(path_ + ": " + name + " " + what);
  }
  [[noreturn]] void fail_attr(const std::string& attr, const std::string& what) const {
    throw std::runtime_error(path_ + ": root attribute " + attr + " " + what);
  }

  detail::Handle open_dataset(const std::string& name) const {
    if (!exists(name)) fail(name, "does not exist");
    detail::Handle ds(H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.valid()) fail(name, "is not a dataset");
    return ds;
  }

  detail::Handle open_attribute(const std::string& attr) const {
    if (H5Aexists(file_.get(), attr.c_str()) <= 0) fail_attr(attr, "does not exist");
    detail::Handle a(H5Aopen(file_.get(), attr.c_str(), H5P_DEFAULT), H5Aclose);
    if (!a.valid()) fail_attr(attr, "cannot be opened");
    return a;
  }

  std::vector<std::size_t> extent(const detail::Handle& space, const std::string& name) const {
    if (!space.valid()) fail(name, "has no dataspace");
    if (H5Sget_simple_extent_type(space.get()) == H5S_NULL) fail(name, "is empty (null dataspace)");
    int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0) fail(name, "has no simple dataspace");
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    return std::vector<std::size_t>(dims.begin(), dims.end());
  }

  std::string path_;
  detail::Handle file_;
};

}  // namespace golden
