// HDF5 files as sorted object lists (see data/h5_tree.h), on the HDF5 C API.
//
// Reading walks the groups by link index (name order), opens each link's object by name and
// asks its kind with H5Iget_type: these calls mean the same in HDF5 1.10, 1.12 and 1.14, so
// no versioned API macro decides what this file does.
#include "data/h5_tree.h"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

#include "data/sha256.h"

static_assert(std::endian::native == std::endian::little,
              "the weights format stores little-endian bytes and copies them verbatim");

namespace ctv::data::h5 {

namespace fs = std::filesystem;

namespace {

// Closes an HDF5 identifier when it leaves scope.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_;
  Closer close_;
};

void silence() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
  throw H5FileError(file.string() + ": " + what);
}

// HDF5's superblock signature at byte `at` of an image.
bool signature_at(std::span<const std::uint8_t> image, std::size_t at) {
  static constexpr unsigned char kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  return at + 8 <= image.size() && std::memcmp(image.data() + at, kSignature, 8) == 0;
}

// HDF5's rule: the superblock at byte 0 or after a user block of 512 * 2^k bytes.
bool has_hdf5_signature(std::span<const std::uint8_t> image) {
  for (std::size_t at = 0; at + 8 <= image.size(); at = at == 0 ? 512 : 2 * at)
    if (signature_at(image, at)) return true;
  return false;
}

// The innermost HDF5 error description, e.g. "truncated file: eof = 1000, ...".
std::string hdf5_error_text() {
  std::string text;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* out) -> herr_t {
        auto& s = *static_cast<std::string*>(out);
        if (n == 0 && e->desc != nullptr) s = e->desc;
        return 0;
      },
      &text);
  H5Eclear2(H5E_DEFAULT);
  // A failed system call reads "file write failed: time = ...\n, filename = ..., errno = 27,
  // error message = 'File too large', ...": keep the system's message, on one line.
  const std::size_t at = text.find("error message = '");
  if (at != std::string::npos) {
    const std::size_t from = at + 17, to = text.find('\'', from);
    return text.substr(from, to == std::string::npos ? std::string::npos : to - from);
  }
  return text.substr(0, text.find('\n'));
}

hid_t memory_type(ElementType t) {
  switch (t) {
    case ElementType::f32:
      return H5T_NATIVE_FLOAT;
    case ElementType::f64:
      return H5T_NATIVE_DOUBLE;
    case ElementType::i64:
      return H5T_NATIVE_INT64;
    case ElementType::u64:
      return H5T_NATIVE_UINT64;
  }
  return H5T_NATIVE_DOUBLE;
}

hid_t file_type(ElementType t) {
  switch (t) {
    case ElementType::f32:
      return H5T_IEEE_F32LE;
    case ElementType::f64:
      return H5T_IEEE_F64LE;
    case ElementType::i64:
      return H5T_STD_I64LE;
    case ElementType::u64:
      return H5T_STD_U64LE;
  }
  return H5T_IEEE_F64LE;
}

// ---- reading --------------------------------------------------------------------------------

class Reader {
 public:
  Reader(const fs::path& file, const ReadLimits& limits) : file_(file), limits_(limits) {}

  void walk(hid_t group, const std::string& path, int depth, Tree& tree) {
    if (depth > limits_.max_depth)
      fail(file_, "groups nest deeper than " + std::to_string(limits_.max_depth) + " levels");
    H5G_info_t info;
    if (H5Gget_info(group, &info) < 0) fail(file_, "group " + path + " cannot be listed");
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      const std::string name = link_name(group, path, i);
      const std::string child = path == "/" ? "/" + name : path + "/" + name;
      H5L_info_t link;
      if (H5Lget_info(group, name.c_str(), &link, H5P_DEFAULT) < 0)
        fail(file_, child + " cannot be inspected");
      if (link.type != H5L_TYPE_HARD)
        fail(file_, child + " is a soft or external link; the format has hard links only");
      if (tree.nodes.size() >= limits_.max_nodes)
        fail(file_, "more than " + std::to_string(limits_.max_nodes) + " objects");
      Handle obj(H5Oopen(group, name.c_str(), H5P_DEFAULT), H5Oclose);
      if (!obj.valid()) fail(file_, child + " cannot be opened");
      const H5I_type_t kind = H5Iget_type(obj.get());
      if (kind == H5I_GROUP) {
        Node& n = tree.add(child, false);
        n.attributes = attributes(obj.get(), child);
        walk(obj.get(), child, depth + 1, tree);
      } else if (kind == H5I_DATASET) {
        Node& n = tree.add(child, true);
        n.attributes = attributes(obj.get(), child);
        n.array = dataset_header(obj.get(), child);
      } else {
        fail(file_, child + " is neither a group nor a dataset");
      }
    }
  }

  std::vector<Attribute> attributes(hid_t obj, const std::string& path) {
    std::vector<std::string> names;
    hsize_t idx = 0;
    const herr_t rc = H5Aiterate2(
        obj, H5_INDEX_NAME, H5_ITER_INC, &idx,
        [](hid_t, const char* name, const H5A_info_t*, void* out) -> herr_t {
          static_cast<std::vector<std::string>*>(out)->push_back(name);
          return 0;
        },
        &names);
    if (rc < 0) fail(file_, path + ": its attributes cannot be listed");
    if (names.size() > limits_.max_attribute_elements)
      fail(file_, path + " has more than " + std::to_string(limits_.max_attribute_elements) +
                      " attributes");
    std::vector<Attribute> out;
    for (const std::string& name : names) out.push_back(attribute(obj, path, name));
    std::sort(out.begin(), out.end(),
              [](const Attribute& a, const Attribute& b) { return a.name < b.name; });
    return out;
  }

  Attribute attribute(hid_t obj, const std::string& path, const std::string& name) {
    const std::string where = "attribute " + name + " of " + path;
    Handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
    if (!a.valid()) fail(file_, where + " cannot be opened");
    Handle type(H5Aget_type(a.get()), H5Tclose);
    Handle space(H5Aget_space(a.get()), H5Sclose);
    if (!type.valid() || !space.valid()) fail(file_, where + " cannot be inspected");
    const hssize_t points = H5Sget_simple_extent_npoints(space.get());
    if (points < 1 || std::size_t(points) > limits_.max_attribute_elements)
      fail(file_, where + " has " + std::to_string(points) + " elements");
    const std::size_t n = std::size_t(points);
    Attribute out;
    out.name = name;
    switch (H5Tget_class(type.get())) {
      case H5T_STRING:
        if (n != 1) fail(file_, where + " is an array of strings; the format has one string");
        out.kind = Attribute::Kind::string;
        out.text = read_string(a.get(), type.get(), space.get(), where);
        break;
      case H5T_INTEGER: {
        out.kind = Attribute::Kind::integer;
        out.is_signed = H5Tget_sign(type.get()) != H5T_SGN_NONE;
        out.integers.resize(n);
        if (H5Aread(a.get(), out.is_signed ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64,
                    out.integers.data()) < 0)
          fail(file_, where + " cannot be read");
        break;
      }
      case H5T_FLOAT:
        out.kind = Attribute::Kind::floating;
        out.floats.resize(n);
        if (H5Aread(a.get(), H5T_NATIVE_DOUBLE, out.floats.data()) < 0)
          fail(file_, where + " cannot be read");
        break;
      default:
        fail(file_, where + " is not a string, an integer or a float");
    }
    return out;
  }

  // Variable- or fixed-length, as h5py writes either.
  std::string read_string(hid_t attr, hid_t type, hid_t space, const std::string& where) {
    Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_cset(mem.get(), H5Tget_cset(type));
    if (H5Tis_variable_str(type) > 0) {
      H5Tset_size(mem.get(), H5T_VARIABLE);
      char* s = nullptr;
      if (H5Aread(attr, mem.get(), &s) < 0) fail(file_, where + " cannot be read");
      std::string out = s != nullptr ? s : "";
#if H5_VERSION_GE(1, 12, 0)
      H5Treclaim(mem.get(), space, H5P_DEFAULT, &s);
#else
      H5Dvlen_reclaim(mem.get(), space, H5P_DEFAULT, &s);
#endif
      if (out.size() > limits_.max_string_bytes) fail(file_, where + " is too long");
      return out;
    }
    const std::size_t n = H5Tget_size(type);
    if (n > limits_.max_string_bytes) fail(file_, where + " is too long");
    H5Tset_size(mem.get(), n + 1);
    H5Tset_strpad(mem.get(), H5T_STR_NULLTERM);
    std::string buf(n + 1, '\0');
    if (H5Aread(attr, mem.get(), buf.data()) < 0) fail(file_, where + " cannot be read");
    return std::string(buf.c_str());
  }

  Array dataset_header(hid_t ds, const std::string& path) {
    Handle type(H5Dget_type(ds), H5Tclose);
    Handle space(H5Dget_space(ds), H5Sclose);
    if (!type.valid() || !space.valid()) fail(file_, "dataset " + path + " cannot be inspected");
    Array a;
    const H5T_class_t cls = H5Tget_class(type.get());
    const std::size_t size = H5Tget_size(type.get());
    if (cls == H5T_FLOAT && size == 4)
      a.type = ElementType::f32;
    else if (cls == H5T_FLOAT && size == 8)
      a.type = ElementType::f64;
    else if (cls == H5T_INTEGER && size == 8)
      a.type = H5Tget_sign(type.get()) == H5T_SGN_NONE ? ElementType::u64 : ElementType::i64;
    else
      fail(file_, "dataset " + path +
                      " is not float32, float64, int64 or uint64 (the types the format allows)");
    if (H5Sget_simple_extent_type(space.get()) == H5S_NULL)
      fail(file_, "dataset " + path + " has no values (null dataspace)");
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0 || rank > limits_.max_rank)
      fail(file_, "dataset " + path + " has rank " + std::to_string(rank) + ", at most " +
                      std::to_string(limits_.max_rank) + " allowed");
    std::vector<hsize_t> dims(std::size_t(rank), 0);
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    std::int64_t numel = 1;
    for (hsize_t d : dims) {
      // Checked one factor at a time, so the product never overflows.
      if (d > hsize_t(limits_.max_array_elements) ||
          (d > 0 && numel > limits_.max_array_elements / std::int64_t(d)))
        fail(file_, "dataset " + path + " claims more than " +
                        std::to_string(limits_.max_array_elements) + " elements");
      numel *= std::int64_t(d);
      a.shape.push_back(std::int64_t(d));
    }
    return a;
  }

  void read_values(hid_t root, Tree& tree) {
    std::int64_t total = 0;
    for (Node& n : tree.nodes) {
      if (!n.is_dataset) continue;
      const std::int64_t bytes = n.array.numel() * std::int64_t(element_size(n.array.type));
      total += bytes;
      if (total > limits_.max_total_bytes)
        fail(file_, "datasets hold more than " + std::to_string(limits_.max_total_bytes) +
                        " bytes in all");
      Handle ds(H5Dopen2(root, n.path.c_str(), H5P_DEFAULT), H5Dclose);
      if (!ds.valid()) fail(file_, "dataset " + n.path + " cannot be opened");
      // The bytes must be in the file before we allocate for them (compression aside:
      // deflate cannot expand more than about 1032 times).
      const std::int64_t stored = std::int64_t(H5Dget_storage_size(ds.get()));
      if (bytes > 0 && stored == 0) fail(file_, "dataset " + n.path + " has no values written");
      if (bytes > stored * 1100)
        fail(file_, "dataset " + n.path + " stores " + std::to_string(stored) +
                        " bytes, too few for its shape " + n.array.shape_str());
      n.array.bytes.resize(std::size_t(bytes));
      if (bytes > 0 && H5Dread(ds.get(), memory_type(n.array.type), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                               n.array.bytes.data()) < 0)
        fail(file_, "dataset " + n.path + " cannot be read (" + hdf5_error_text() + ")");
    }
  }

 private:
  std::string link_name(hid_t group, const std::string& path, hsize_t i) {
    const ssize_t len =
        H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0 || std::size_t(len) > 4096) fail(file_, "group " + path + " cannot be listed");
    std::string name(std::size_t(len) + 1, '\0');
    H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                       H5P_DEFAULT);
    name.resize(std::size_t(len));
    return name;
  }

  const fs::path& file_;
  const ReadLimits& limits_;
};

// ---- writing --------------------------------------------------------------------------------

void write_attribute(const fs::path& file, hid_t obj, const std::string& path, const Attribute& a) {
  const std::string where = "attribute " + a.name + " of " + path;
  const std::size_t n = a.kind == Attribute::Kind::string    ? 1
                        : a.kind == Attribute::Kind::integer ? a.integers.size()
                                                             : a.floats.size();
  const hsize_t dims[1] = {hsize_t(n)};
  Handle space(n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, nullptr), H5Sclose);
  hid_t ftype = H5T_IEEE_F64LE, mtype = H5T_NATIVE_DOUBLE;
  Handle str(H5Tcopy(H5T_C_S1), H5Tclose);
  const void* data = a.floats.data();
  const char* text = a.text.c_str();
  if (a.kind == Attribute::Kind::string) {
    H5Tset_size(str.get(), H5T_VARIABLE);
    H5Tset_cset(str.get(), H5T_CSET_UTF8);
    ftype = mtype = str.get();
    data = &text;
  } else if (a.kind == Attribute::Kind::integer) {
    ftype = a.is_signed ? H5T_STD_I64LE : H5T_STD_U64LE;
    mtype = a.is_signed ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64;
    data = a.integers.data();
  }
  Handle attr(H5Acreate2(obj, a.name.c_str(), ftype, space.get(), H5P_DEFAULT, H5P_DEFAULT),
              H5Aclose);
  if (!space.valid() || !attr.valid() || H5Awrite(attr.get(), mtype, data) < 0)
    fail(file, where + " cannot be written");
}

}  // namespace

// ---- small pieces ---------------------------------------------------------------------------

const char* element_type_name(ElementType t) {
  switch (t) {
    case ElementType::f32:
      return "float32";
    case ElementType::f64:
      return "float64";
    case ElementType::i64:
      return "int64";
    case ElementType::u64:
      return "uint64";
  }
  return "?";
}

std::size_t element_size(ElementType t) { return t == ElementType::f32 ? 4 : 8; }

std::int64_t Array::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

std::string Array::shape_str() const {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Attribute Attribute::make_string(std::string name, std::string value) {
  Attribute a;
  a.name = std::move(name);
  a.kind = Kind::string;
  a.text = std::move(value);
  return a;
}

Attribute Attribute::make_int(std::string name, std::vector<std::int64_t> values) {
  Attribute a;
  a.name = std::move(name);
  a.kind = Kind::integer;
  for (std::int64_t v : values) a.integers.push_back(std::uint64_t(v));
  return a;
}

Attribute Attribute::make_uint(std::string name, std::vector<std::uint64_t> values) {
  Attribute a;
  a.name = std::move(name);
  a.kind = Kind::integer;
  a.is_signed = false;
  a.integers = std::move(values);
  return a;
}

Attribute Attribute::make_float(std::string name, std::vector<double> values) {
  Attribute a;
  a.name = std::move(name);
  a.kind = Kind::floating;
  a.floats = std::move(values);
  return a;
}

const Attribute* Node::attribute(const std::string& name) const {
  for (const Attribute& a : attributes)
    if (a.name == name) return &a;
  return nullptr;
}

const Node* Tree::find(const std::string& path) const {
  auto it = std::lower_bound(nodes.begin(), nodes.end(), path,
                             [](const Node& n, const std::string& p) { return n.path < p; });
  return it != nodes.end() && it->path == path ? &*it : nullptr;
}

Node* Tree::find(const std::string& path) {
  return const_cast<Node*>(static_cast<const Tree*>(this)->find(path));
}

Node& Tree::add(const std::string& path, bool is_dataset) {
  if (path.empty() || path[0] != '/') throw std::invalid_argument("h5 tree: path " + path);
  if (find(path) != nullptr) throw std::invalid_argument("h5 tree: " + path + " added twice");
  if (path != "/") {
    const std::size_t slash = path.rfind('/');
    const std::string parent = slash == 0 ? "/" : path.substr(0, slash);
    if (find(parent) == nullptr) add(parent, false);
  }
  auto it = std::lower_bound(nodes.begin(), nodes.end(), path,
                             [](const Node& n, const std::string& p) { return n.path < p; });
  Node n;
  n.path = path;
  n.is_dataset = is_dataset;
  return *nodes.insert(it, std::move(n));
}

// ---- read, write, hash ----------------------------------------------------------------------

Tree read_tree(const fs::path& file, std::span<const std::uint8_t> image,
               const std::function<void(const Tree&)>& before_values, const ReadLimits& limits) {
  silence();
  if (!has_hdf5_signature(image)) fail(file, "is not an HDF5 file (no HDF5 signature)");
  // The core driver opens a copy of the bytes in memory; HDF5 never reads the file itself. It
  // refuses an image whose name exists on disk, and HDF5 keeps open files by name: a fresh
  // name that no file can have (nothing lies under /dev/null).
  static unsigned long images_opened = 0;
  const std::string name = "/dev/null/ctvnet-image-" + std::to_string(++images_opened);
  std::string why;  // HDF5's reason, taken before closing fapl clears it
  Handle f(
      [&] {
        Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);  // its copy of the image goes with it
        void* bytes = const_cast<std::uint8_t*>(image.data());  // HDF5 copies, never writes
        hid_t id = H5I_INVALID_HID;
        if (H5Pset_fapl_core(fapl.get(), std::size_t{1} << 20, /*backing_store=*/0) >= 0 &&
            H5Pset_file_image(fapl.get(), bytes, image.size()) >= 0)
          id = H5Fopen(name.c_str(), H5F_ACC_RDONLY, fapl.get());
        if (id < 0) why = hdf5_error_text();  // e.g. "truncated file: eof = N, ..."
        return id;
      }(),
      H5Fclose);
  if (!f.valid())
    fail(file, "is a damaged HDF5 file (" + (why.empty() ? "cannot be opened" : why) + ")");
  Tree tree;
  Reader reader(file, limits);
  Node& root = tree.add("/", false);
  {
    Handle g(H5Gopen2(f.get(), "/", H5P_DEFAULT), H5Gclose);
    if (!g.valid()) fail(file, "its root group cannot be opened");
    root.attributes = reader.attributes(g.get(), "/");
    reader.walk(g.get(), "/", 1, tree);
  }
  if (before_values) before_values(tree);
  reader.read_values(f.get(), tree);
  return tree;
}

namespace {

// The whole file built in memory by HDF5's core driver (no backing store): HDF5 itself never
// touches the disk, so a full disk cannot leave a half-closed file inside the library (which
// would then crash flushing it at exit); the bytes are written out by write_tree below.
std::vector<unsigned char> file_image(const fs::path& file, const Tree& tree,
                                      std::size_t user_block_bytes) {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  // The oldest format that holds everything: any HDF5 >= 1.8 (and h5py) reads it.
  H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST);
  H5Pset_fapl_core(fapl.get(), std::size_t{1} << 20, /*backing_store=*/0);
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  if (user_block_bytes > 0 && H5Pset_userblock(fcpl.get(), user_block_bytes) < 0)
    fail(file, "user block of " + std::to_string(user_block_bytes) + " bytes refused by HDF5");
  Handle f(H5Fcreate(file.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), H5Fclose);
  if (!f.valid()) fail(file, "cannot be created (" + hdf5_error_text() + ")");
  // No timestamps: the same content gives the same bytes.
  Handle gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(gcpl.get(), 0);
  H5Pset_obj_track_times(dcpl.get(), 0);
  for (const Node& n : tree.nodes) {
    hid_t id = H5I_INVALID_HID;
    herr_t (*close)(hid_t) = H5Gclose;
    if (n.path == "/") {
      id = H5Gopen2(f.get(), "/", H5P_DEFAULT);
    } else if (!n.is_dataset) {
      id = H5Gcreate2(f.get(), n.path.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT);
    } else {
      std::vector<hsize_t> dims(n.array.shape.begin(), n.array.shape.end());
      Handle space(dims.empty() ? H5Screate(H5S_SCALAR)
                                : H5Screate_simple(int(dims.size()), dims.data(), nullptr),
                   H5Sclose);
      close = H5Dclose;
      id = H5Dcreate2(f.get(), n.path.c_str(), file_type(n.array.type), space.get(), H5P_DEFAULT,
                      dcpl.get(), H5P_DEFAULT);
      if (id >= 0 && !n.array.bytes.empty() &&
          H5Dwrite(id, memory_type(n.array.type), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                   n.array.bytes.data()) < 0) {
        H5Dclose(id);
        fail(file, "dataset " + n.path + " cannot be written (" + hdf5_error_text() + ")");
      }
    }
    if (id < 0) fail(file, n.path + " cannot be created (" + hdf5_error_text() + ")");
    Handle obj(id, close);
    for (const Attribute& a : n.attributes) write_attribute(file, obj.get(), n.path, a);
  }
  if (H5Fflush(f.get(), H5F_SCOPE_GLOBAL) < 0)
    fail(file, "cannot be completed in memory (" + hdf5_error_text() + ")");
  const ssize_t size = H5Fget_file_image(f.get(), nullptr, 0);
  if (size <= 0) fail(file, "cannot be completed in memory (" + hdf5_error_text() + ")");
  // HDF5 1.10 leaves the user block out of the image (its superblock still records it): put
  // the room back in front, unless a later HDF5 already includes it.
  std::vector<unsigned char> image(std::size_t(size), 0);
  if (H5Fget_file_image(f.get(), image.data(), image.size()) != size)
    fail(file, "cannot be completed in memory (" + hdf5_error_text() + ")");
  if (user_block_bytes > 0 && signature_at(image, 0))
    image.insert(image.begin(), user_block_bytes, 0);
  return image;
}

}  // namespace

void write_tree(const fs::path& file, const Tree& tree, std::size_t user_block_bytes,
                const std::function<void(std::span<std::uint8_t> image)>& fill_user_block) {
  silence();
  std::vector<unsigned char> image = file_image(file, tree, user_block_bytes);
  if (!signature_at(image, user_block_bytes))
    fail(file, "HDF5 built an image without its superblock after the user block");
  if (fill_user_block) fill_user_block(image);
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail(file, std::string("cannot be created: ") + std::strerror(errno));
  std::size_t done = 0;
  while (done < image.size()) {
    const ssize_t n = ::write(fd, image.data() + done, image.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int saved = n < 0 ? errno : ENOSPC;
      ::close(fd);
      fail(file, std::string("cannot be written out: ") + std::strerror(saved));
    }
    done += std::size_t(n);
  }
  if (::close(fd) != 0) fail(file, std::string("cannot be written out: ") + std::strerror(errno));
}

namespace {

void put_u64(Sha256& h, std::uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
  h.update(b, 8);
}

void put_text(Sha256& h, const std::string& s) {
  put_u64(h, s.size());
  h.update(s);
}

}  // namespace

std::string canonical_sha256(const Tree& tree, const std::string& excluded_root_attribute) {
  Sha256 h;
  h.update(std::string("ctvnet-weights-checksum-v1", 26));
  h.update("\n", 1);
  for (const Node& n : tree.nodes) {
    h.update(n.is_dataset ? "D" : "G", 1);
    put_text(h, n.path);
    if (n.is_dataset) {
      static const char* const codes[] = {"f4", "f8", "i8", "u8"};
      h.update(codes[static_cast<int>(n.array.type)], 2);
      put_u64(h, n.array.shape.size());
      for (std::int64_t d : n.array.shape) put_u64(h, std::uint64_t(d));
      h.update(n.array.bytes.data(), n.array.bytes.size());
    }
    for (const Attribute& a : n.attributes) {
      if (n.path == "/" && a.name == excluded_root_attribute) continue;
      h.update("A", 1);
      put_text(h, a.name);
      if (a.kind == Attribute::Kind::string) {
        h.update("s", 1);
        put_text(h, a.text);
      } else if (a.kind == Attribute::Kind::integer) {
        h.update("i", 1);
        put_u64(h, a.integers.size());
        for (std::uint64_t v : a.integers) put_u64(h, v);
      } else {
        h.update("f", 1);
        put_u64(h, a.floats.size());
        for (double v : a.floats) put_u64(h, std::bit_cast<std::uint64_t>(v));
      }
    }
  }
  return h.hex();
}

}  // namespace ctv::data::h5
