// An HDF5 file as a flat, sorted list of objects (groups and datasets) with their attributes,
// read and written through the HDF5 C API. The weights format (data/weights_h5.h) maps its
// records onto this model, and its checksum is computed over it (canonical_sha256), so the
// bytes hashed when writing and when reading come from the same representation.
//
// Invariants of a Tree:
// - nodes are sorted by path (byte-wise), paths are absolute ("/", "/model",
//   "/model/enc.0.conv1.weight"); "/" is always the first node; every parent group is a node.
// - Array bytes are the values in C (row-major) order, little-endian (the host's order: the
//   build refuses big-endian hosts); element types are those the format allows, nothing else.
// - Attribute integers keep their 64 bits whatever their signedness (is_signed says which HDF5
//   type they were or will be stored as); floats are held as double (float32 widens exactly).
// - Nothing is printed: HDF5's own error printing is switched off before every call.
// - Not thread-safe: Debian's serial HDF5 has one global state; read and write from one
//   thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace ctv::data::h5 {

// A fault reading or writing an HDF5 file: one line, "FILE: fault".
class H5FileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ElementType : std::uint8_t { f32, f64, i64, u64 };
const char* element_type_name(ElementType t);  // "float32", "float64", "int64", "uint64"
std::size_t element_size(ElementType t);       // 4 or 8

struct Array {
  ElementType type = ElementType::f32;
  std::vector<std::int64_t> shape;  // empty: a scalar (one value)
  std::vector<std::uint8_t> bytes;  // numel() * element_size(type) once values are read

  std::int64_t numel() const;
  std::string shape_str() const;  // "[4,3,3,3,2]", "[]" for a scalar
};

struct Attribute {
  enum class Kind : std::uint8_t { string, integer, floating };
  std::string name;
  Kind kind = Kind::string;
  std::string text;                     // string
  std::vector<std::uint64_t> integers;  // integer: one entry per element (bits)
  bool is_signed = true;                // integer: stored as int64 (true) or uint64
  std::vector<double> floats;           // floating: one entry per element

  static Attribute make_string(std::string name, std::string value);
  static Attribute make_int(std::string name, std::vector<std::int64_t> values);
  static Attribute make_uint(std::string name, std::vector<std::uint64_t> values);
  static Attribute make_float(std::string name, std::vector<double> values);
};

struct Node {
  std::string path;
  bool is_dataset = false;
  Array array;                        // datasets only
  std::vector<Attribute> attributes;  // sorted by name

  // requires: nothing. ensures: the attribute of that name, or nullptr.
  const Attribute* attribute(const std::string& name) const;
};

struct Tree {
  std::vector<Node> nodes;

  // ensures: the node at that path, or nullptr.
  const Node* find(const std::string& path) const;
  Node* find(const std::string& path);
  // Adds a node (and its missing parent groups); keeps the invariants.
  // requires: path absolute, not already present (std::invalid_argument otherwise).
  Node& add(const std::string& path, bool is_dataset);
};

// Limits applied while reading, so that a hostile header cannot make us allocate at will.
struct ReadLimits {
  std::size_t max_nodes = 100000;
  int max_depth = 8;
  int max_rank = 5;
  std::int64_t max_array_elements = std::int64_t{1} << 31;
  std::int64_t max_total_bytes = std::int64_t{16} << 30;
  std::size_t max_attribute_elements = 4096;
  std::size_t max_string_bytes = std::size_t{16} << 20;
};

// Reads every group, dataset and attribute reachable from the root by hard links, from a whole
// file already in memory (`image`, e.g. data/weights_integrity.h read_sealed_file): HDF5's core
// driver parses those bytes and never opens `file`, which only names the file in messages.
// HDF5 finds its superblock at byte 0, 512, 1024, ... (after a user block).
// `before_values` (optional) sees the tree with every array's type and shape but no bytes,
// and may throw to refuse the file before any array is read.
// ensures: the Tree invariants; every array's bytes read.
// throws H5FileError naming the file when: it is not HDF5 (no signature); HDF5 cannot open it
//   ("is a damaged HDF5 file (HDF5's reason)", e.g. "truncated file: eof = ..."); a link is
//   soft or external; an element or attribute type is outside the allowed set; a limit is
//   exceeded; a dataset holds fewer bytes than its shape needs or cannot be read. Rethrows
//   what before_values throws.
Tree read_tree(const std::filesystem::path& file, std::span<const std::uint8_t> image,
               const std::function<void(const Tree&)>& before_values = {},
               const ReadLimits& limits = {});

// Creates `file` (which must not exist: it is a temporary name) and writes every node:
// groups, datasets (contiguous, little-endian types, no timestamps) and attributes (strings as
// variable-length UTF-8 scalars, numbers as int64/uint64/float64, scalar when one value).
// The file is built in memory and then written with plain POSIX calls, so a disk fault is an
// exception here and leaves nothing open inside HDF5. The caller removes `file` on failure.
// With user_block_bytes > 0 (512, 1024, ...: HDF5's rule) the HDF5 part starts after a user
// block of that size, zero until fill_user_block (given the whole image) fills it in.
// requires: the Tree invariants; every array's bytes complete.
// throws H5FileError naming the file on any fault; rethrows what fill_user_block throws.
void write_tree(const std::filesystem::path& file, const Tree& tree,
                std::size_t user_block_bytes = 0,
                const std::function<void(std::span<std::uint8_t> image)>& fill_user_block = {});

// SHA-256 of the canonical byte stream of weights/FORMAT.md ("Checksum") over every node and
// attribute except the root attribute `excluded_root_attribute`.
// requires: every array's bytes complete.
std::string canonical_sha256(const Tree& tree, const std::string& excluded_root_attribute);

}  // namespace ctv::data::h5
