// The weights format of weights/FORMAT.md, mapped onto an HDF5 object tree (data/h5_tree.h).
//
// One table of root attributes serves both directions: to_tree writes what from_tree reads,
// and from_tree refuses any attribute, group or dataset the format does not define, so a typo
// in an outside writer's attribute name is an error rather than a silently ignored field.
#include "data/weights_h5.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "data/atomic_file.h"
#include "data/weights_integrity.h"

namespace ctv::data {

namespace fs = std::filesystem;
using h5::Attribute;
using h5::ElementType;
using h5::Node;
using h5::Tree;

namespace {

constexpr const char* kChecksumAttribute = "checksum_sha256";

// Attributes of the root, by the kind of file that carries them.
const std::set<std::string> kCommonAttributes = {"format",
                                                 "format_version",
                                                 "kind",
                                                 "model.in_channels",
                                                 "model.levels",
                                                 "model.filters",
                                                 "model.norm",
                                                 "model.bn_momentum",
                                                 "model.bn_eps",
                                                 "model.dtype",
                                                 "model.init_seed",
                                                 "preprocess.channels",
                                                 "preprocess.spacing_mm",
                                                 "preprocess.grid",
                                                 "preprocess.crop",
                                                 "preprocess.hu_window",
                                                 "preprocess.hu_offset",
                                                 "preprocess.hu_scale",
                                                 "preprocess.ct_pad_hu",
                                                 kChecksumAttribute};
const std::set<std::string> kCheckpointAttributes = {
    "train.step", "train.config", "train.state", "adam.lr", "adam.beta1", "adam.beta2", "adam.eps"};
const std::set<std::string> kLayouts = {"KTRSC", "CTRSK", "C", "scalar"};

// Reads typed values out of a node's attributes; every fault names the attribute.
class AttributeReader {
 public:
  explicit AttributeReader(const Node& node) : node_(node) {}

  std::string text(const std::string& name) const {
    const Attribute& a = get(name);
    if (a.kind != Attribute::Kind::string) bad(name, "is not a string");
    return a.text;
  }
  std::vector<std::int64_t> ints(const std::string& name, std::size_t count) const {
    const Attribute& a = get(name);
    if (a.kind != Attribute::Kind::integer) bad(name, "is not an integer");
    if (count > 0 && a.integers.size() != count) bad(name, "does not hold " + n_values(count));
    std::vector<std::int64_t> out;
    for (std::uint64_t v : a.integers) {
      if (!a.is_signed && v > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
        bad(name, "is too large");
      out.push_back(std::int64_t(v));
    }
    return out;
  }
  std::int64_t integer(const std::string& name) const { return ints(name, 1)[0]; }
  std::uint64_t uinteger(const std::string& name) const {
    const Attribute& a = get(name);
    if (a.kind != Attribute::Kind::integer || a.integers.size() != 1)
      bad(name, "is not one integer");
    return a.integers[0];
  }
  // Integers are accepted where a float is expected (h5py stores [-1000, 400] as int64).
  std::vector<double> floats(const std::string& name, std::size_t count) const {
    const Attribute& a = get(name);
    std::vector<double> out;
    if (a.kind == Attribute::Kind::floating)
      out = a.floats;
    else if (a.kind == Attribute::Kind::integer)
      for (std::uint64_t v : a.integers)
        out.push_back(a.is_signed ? double(std::int64_t(v)) : double(v));
    else
      bad(name, "is not a number");
    if (out.size() != count) bad(name, "does not hold " + n_values(count));
    for (double v : out)
      if (!std::isfinite(v)) bad(name, "is not finite");
    return out;
  }
  double number(const std::string& name) const { return floats(name, 1)[0]; }

 private:
  const Attribute& get(const std::string& name) const {
    const Attribute* a = node_.attribute(name);
    if (a == nullptr) throw WeightsError("attribute " + name + " is missing");
    return *a;
  }
  [[noreturn]] static void bad(const std::string& name, const std::string& what) {
    throw WeightsError("attribute " + name + " " + what);
  }
  static std::string n_values(std::size_t n) {
    return std::to_string(n) + (n == 1 ? " value" : " values");
  }
  const Node& node_;
};

ElementType float_type(const ModelRecord& m) {
  return m.dtype == "float64" ? ElementType::f64 : ElementType::f32;
}

// Ranges every file must respect; the network's own rules (unet3d) come on top.
void validate_records(const ModelRecord& m, const PreprocessConfig& p,
                      const std::optional<CheckpointRecord>& c) {
  auto bad = [](const std::string& what) { throw WeightsError(what); };
  if (m.in_channels < 1) bad("model.in_channels = " + std::to_string(m.in_channels));
  if (m.filters.empty() || m.filters.size() > 12)
    bad("model.filters lists " + std::to_string(m.filters.size()) + " levels, need 1 .. 12");
  for (std::int64_t f : m.filters)
    if (f < 1) bad("model.filters holds " + std::to_string(f) + ", need >= 1");
  if (m.norm != "batch" && m.norm != "none")
    bad("model.norm = \"" + m.norm + "\", need \"batch\" or \"none\"");
  if (m.dtype != "float32" && m.dtype != "float64")
    bad("model.dtype = \"" + m.dtype + "\", need \"float32\" or \"float64\"");
  if (!(m.bn_momentum >= 0 && m.bn_momentum <= 1)) bad("model.bn_momentum outside 0 .. 1");
  if (!(m.bn_eps > 0)) bad("model.bn_eps must be > 0");
  if (const std::string fault = preprocess_config_fault(p); !fault.empty())
    bad("preprocessing record: " + fault);
  if (c) {
    if (c->step < 0) bad("train.step is negative");
    if (!(c->adam.lr > 0) || !(c->adam.eps > 0) || !(c->adam.beta1 >= 0 && c->adam.beta1 < 1) ||
        !(c->adam.beta2 >= 0 && c->adam.beta2 < 1))
      bad("adam.lr/beta1/beta2/eps out of range");
  }
}

std::string check_name(const std::string& group, const std::string& name) {
  if (name.empty() || name.find_first_of("/\\") != std::string::npos)
    throw WeightsError(group + " holds a dataset named \"" + name + "\"");
  return name;
}

void add_tensor(Tree& t, const std::string& path, const WeightsTensor& w) {
  Node& n = t.add(path, true);
  n.array = w.values;
  n.attributes.push_back(Attribute::make_string("layout", w.layout));
}

void add_scalar(Tree& t, const std::string& path, ElementType type, std::vector<std::uint64_t> v,
                std::vector<std::int64_t> shape) {
  Node& n = t.add(path, true);
  n.array.type = type;
  n.array.shape = std::move(shape);
  n.array.bytes.resize(v.size() * 8);
  std::memcpy(n.array.bytes.data(), v.data(), n.array.bytes.size());
}

Tree to_tree(const WeightsFile& w) {
  validate_records(w.model, w.preprocessing, w.checkpoint);
  Tree t;
  t.add("/", false);
  std::vector<Attribute> a;  // the root's; nodes move as the tree grows, so set at the end
  const ModelRecord& m = w.model;
  const PreprocessConfig& p = w.preprocessing;
  a.push_back(Attribute::make_string("format", kWeightsFormatName));
  a.push_back(Attribute::make_int("format_version", {kWeightsFormatVersion}));
  a.push_back(Attribute::make_string("kind", w.checkpoint ? "checkpoint" : "weights"));
  a.push_back(Attribute::make_int("model.in_channels", {m.in_channels}));
  a.push_back(Attribute::make_int("model.levels", {std::int64_t(m.filters.size())}));
  a.push_back(Attribute::make_int("model.filters", m.filters));
  a.push_back(Attribute::make_string("model.norm", m.norm));
  a.push_back(Attribute::make_float("model.bn_momentum", {m.bn_momentum}));
  a.push_back(Attribute::make_float("model.bn_eps", {m.bn_eps}));
  a.push_back(Attribute::make_string("model.dtype", m.dtype));
  a.push_back(Attribute::make_uint("model.init_seed", {m.init_seed}));
  a.push_back(Attribute::make_string("preprocess.channels", "ct,igtv"));
  a.push_back(
      Attribute::make_float("preprocess.spacing_mm", {p.spacing[0], p.spacing[1], p.spacing[2]}));
  a.push_back(Attribute::make_int("preprocess.grid", {p.grid[0], p.grid[1], p.grid[2]}));
  a.push_back(Attribute::make_string("preprocess.crop", crop_rule_name(p.crop)));
  a.push_back(Attribute::make_float("preprocess.hu_window", {p.window.lo, p.window.hi}));
  a.push_back(Attribute::make_float("preprocess.hu_offset", {p.window.offset}));
  a.push_back(Attribute::make_float("preprocess.hu_scale", {p.window.scale}));
  a.push_back(Attribute::make_float("preprocess.ct_pad_hu", {double(p.ct_pad_hu)}));
  t.add("/model", false);
  for (const auto& [name, tensor] : w.tensors)
    add_tensor(t, "/model/" + check_name("/model", name), tensor);
  if (const auto& c = w.checkpoint) {
    a.push_back(Attribute::make_int("train.step", {c->step}));
    a.push_back(Attribute::make_string("train.config", c->training_config));
    a.push_back(Attribute::make_string("train.state", c->training_state));
    a.push_back(Attribute::make_float("adam.lr", {c->adam.lr}));
    a.push_back(Attribute::make_float("adam.beta1", {c->adam.beta1}));
    a.push_back(Attribute::make_float("adam.beta2", {c->adam.beta2}));
    a.push_back(Attribute::make_float("adam.eps", {c->adam.eps}));
    for (const char* g : {"/optimizer", "/optimizer/m", "/optimizer/v", "/optimizer/step", "/rng"})
      t.add(g, false);
    for (const auto& [name, tensor] : c->adam_m)
      add_tensor(t, "/optimizer/m/" + check_name("/optimizer/m", name), tensor);
    for (const auto& [name, tensor] : c->adam_v)
      add_tensor(t, "/optimizer/v/" + check_name("/optimizer/v", name), tensor);
    for (const auto& [name, step] : c->adam_steps)
      add_scalar(t, "/optimizer/step/" + check_name("/optimizer/step", name), ElementType::i64,
                 {std::uint64_t(step)}, {});
    for (const auto& [name, r] : c->rngs)
      add_scalar(t, "/rng/" + check_name("/rng", name), ElementType::u64,
                 {r.seed, r.stream, r.state}, {3});
  }
  std::sort(a.begin(), a.end(),
            [](const Attribute& x, const Attribute& y) { return x.name < y.name; });
  t.find("/")->attributes = std::move(a);
  for (const Node& n : t.nodes)
    if (n.is_dataset && std::int64_t(n.array.bytes.size()) !=
                            n.array.numel() * std::int64_t(h5::element_size(n.array.type)))
      throw WeightsError("dataset " + n.path + " holds " + std::to_string(n.array.bytes.size()) +
                         " bytes, its shape " + n.array.shape_str() + " needs " +
                         std::to_string(n.array.numel() * h5::element_size(n.array.type)));
  return t;
}

std::string leaf(const std::string& path) { return path.substr(path.rfind('/') + 1); }

std::string parent(const std::string& path) {
  const std::size_t s = path.rfind('/');
  return s == 0 ? "/" : path.substr(0, s);
}

WeightsTensor float_tensor(const Node& n, const ModelRecord& m) {
  if (n.array.type != float_type(m))
    throw WeightsError("dataset " + n.path + " is " + h5::element_type_name(n.array.type) +
                       "; model.dtype is " + m.dtype);
  AttributeReader r(n);
  WeightsTensor w{n.array, r.text("layout")};
  if (!kLayouts.contains(w.layout))
    throw WeightsError("dataset " + n.path + " has layout \"" + w.layout +
                       "\", need KTRSC, CTRSK, C or scalar");
  if (n.attributes.size() != 1)
    throw WeightsError("dataset " + n.path + " has attributes besides layout");
  return w;
}

// Reads one int64 / uint64 dataset of the given shape; values once read, zeros before.
std::vector<std::uint64_t> integer_values(const Node& n, ElementType type,
                                          const std::vector<std::int64_t>& shape) {
  if (n.array.type != type || n.array.shape != shape)
    throw WeightsError("dataset " + n.path + " is " + h5::element_type_name(n.array.type) + " " +
                       n.array.shape_str() + ", need " + h5::element_type_name(type) + " " +
                       h5::Array{type, shape, {}}.shape_str());
  if (!n.attributes.empty()) throw WeightsError("dataset " + n.path + " has attributes");
  std::vector<std::uint64_t> v(std::size_t(n.array.numel()), 0);
  if (n.array.bytes.size() == v.size() * 8)
    std::memcpy(v.data(), n.array.bytes.data(), v.size() * 8);
  return v;
}

WeightsFile from_tree(const Tree& t) {
  const Node& root = t.nodes.front();
  AttributeReader r(root);
  if (root.attribute("format") == nullptr)
    throw WeightsError("is HDF5 but not a ctvnet weights file (no format attribute)");
  if (r.text("format") != kWeightsFormatName)
    throw WeightsError("is not a ctvnet weights file (format \"" + r.text("format") + "\")");
  if (r.integer("format_version") != kWeightsFormatVersion)
    throw WeightsError("has format version " + std::to_string(r.integer("format_version")) +
                       "; this ctvnet reads version " + std::to_string(kWeightsFormatVersion));
  const std::string kind = r.text("kind");
  if (kind != "weights" && kind != "checkpoint")
    throw WeightsError("attribute kind = \"" + kind + "\", need \"weights\" or \"checkpoint\"");
  const bool is_checkpoint = kind == "checkpoint";
  for (const Attribute& a : root.attributes)
    if (!kCommonAttributes.contains(a.name) &&
        !(is_checkpoint && kCheckpointAttributes.contains(a.name)))
      throw WeightsError("attribute " + a.name +
                         (kCheckpointAttributes.contains(a.name)
                              ? " belongs to checkpoints, but kind is \"weights\""
                              : " is not part of format version 1"));

  WeightsFile w;
  ModelRecord& m = w.model;
  m.in_channels = r.integer("model.in_channels");
  const std::int64_t levels = r.integer("model.levels");
  if (levels < 1 || levels > 12)
    throw WeightsError("attribute model.levels = " + std::to_string(levels) + ", need 1 .. 12");
  m.filters = r.ints("model.filters", std::size_t(levels));
  m.norm = r.text("model.norm");
  m.bn_momentum = r.number("model.bn_momentum");
  m.bn_eps = r.number("model.bn_eps");
  m.dtype = r.text("model.dtype");
  m.init_seed = r.uinteger("model.init_seed");
  PreprocessConfig& p = w.preprocessing;
  if (r.text("preprocess.channels") != "ct,igtv")
    throw WeightsError("attribute preprocess.channels = \"" + r.text("preprocess.channels") +
                       "\", need \"ct,igtv\"");
  const std::vector<double> spacing = r.floats("preprocess.spacing_mm", 3);
  const std::vector<std::int64_t> grid = r.ints("preprocess.grid", 3);
  for (std::size_t i = 0; i < 3; ++i) {
    p.spacing[i] = spacing[i];
    if (grid[i] < 1 || grid[i] > 4096)
      throw WeightsError("attribute preprocess.grid holds " + std::to_string(grid[i]) +
                         ", need 1 .. 4096");
    p.grid[i] = int(grid[i]);
  }
  try {
    p.crop = parse_crop_rule(r.text("preprocess.crop"));
  } catch (const std::invalid_argument& e) {
    throw WeightsError(std::string("attribute preprocess.crop: ") + e.what());
  }
  const std::vector<double> window = r.floats("preprocess.hu_window", 2);
  p.window.lo = window[0];
  p.window.hi = window[1];
  p.window.offset = r.number("preprocess.hu_offset");
  p.window.scale = r.number("preprocess.hu_scale");
  p.ct_pad_hu = float(r.number("preprocess.ct_pad_hu"));
  if (is_checkpoint) {
    CheckpointRecord c;
    c.step = r.integer("train.step");
    c.training_config = r.text("train.config");
    c.training_state = r.text("train.state");
    c.adam = {r.number("adam.lr"), r.number("adam.beta1"), r.number("adam.beta2"),
              r.number("adam.eps")};
    w.checkpoint = std::move(c);
  }
  validate_records(m, p, w.checkpoint);

  std::set<std::string> groups = {"/", "/model"};
  if (is_checkpoint)
    groups.insert({"/optimizer", "/optimizer/m", "/optimizer/v", "/optimizer/step", "/rng"});
  for (const std::string& g : groups)
    if (t.find(g) == nullptr || t.find(g)->is_dataset)
      throw WeightsError("group " + g + " is missing");
  for (const Node& n : t.nodes) {
    if (!n.is_dataset) {
      if (!groups.contains(n.path))
        throw WeightsError((n.path == "/optimizer" || n.path == "/rng")
                               ? "holds " + n.path + ", but kind is \"weights\" (shipped " +
                                     "weights hold no optimizer state)"
                               : "group " + n.path + " is not part of format version 1");
      if (n.path != "/" && !n.attributes.empty())
        throw WeightsError("group " + n.path + " has attributes; the format defines none");
      continue;
    }
    const std::string dir = parent(n.path), name = leaf(n.path);
    if (dir == "/model") {
      if (n.array.type == ElementType::i64) {
        if (name.ends_with(".num_batches_tracked") && n.array.shape.empty() &&
            AttributeReader(n).text("layout") == "scalar" && n.attributes.size() == 1) {
          w.tensors[name] = {n.array, "scalar"};
          continue;
        }
        throw WeightsError("dataset " + n.path +
                           " is int64; only <layer>.num_batches_tracked scalars may be");
      }
      w.tensors[name] = float_tensor(n, m);
    } else if (dir == "/optimizer/m" || dir == "/optimizer/v") {
      (dir == "/optimizer/m" ? w.checkpoint->adam_m : w.checkpoint->adam_v)[name] =
          float_tensor(n, m);
    } else if (dir == "/optimizer/step") {
      w.checkpoint->adam_steps[name] = std::int64_t(integer_values(n, ElementType::i64, {})[0]);
    } else if (dir == "/rng") {
      const std::vector<std::uint64_t> v = integer_values(n, ElementType::u64, {3});
      w.checkpoint->rngs[name] = {v[0], v[1], v[2]};
    } else {
      throw WeightsError("dataset " + n.path + " is not part of format version 1");
    }
  }
  return w;
}

}  // namespace

WeightsFile read_weights(const fs::path& file, const WeightsCheck& check) {
  const std::string where = file.string() + ": ";
  try {
    // The fence: HDF5 sees no byte of a file whose integrity block does not vouch for it.
    SealedFile sealed = read_sealed_file(file);
    const Tree tree = h5::read_tree(file, sealed.bytes, [&](const Tree& header) {
      const WeightsFile w = from_tree(header);
      if (check) check(w);
    });
    const std::uint64_t file_bytes = sealed.bytes.size();
    std::vector<std::uint8_t>().swap(sealed.bytes);  // the tree holds the values now
    WeightsFile w = from_tree(tree);
    w.file_sha256 = std::move(sealed.sha256);
    w.file_bytes = file_bytes;
    const Attribute* stored = tree.nodes.front().attribute(kChecksumAttribute);
    if (stored == nullptr || stored->kind != Attribute::Kind::string)
      throw WeightsError(std::string("attribute ") + kChecksumAttribute + " is missing");
    w.checksum = h5::canonical_sha256(tree, kChecksumAttribute);
    if (stored->text != w.checksum)
      throw WeightsError("checksum mismatch (stored " + stored->text.substr(0, 16) +
                         "..., computed " + w.checksum.substr(0, 16) +
                         "...): the file was altered or damaged");
    return w;
  } catch (const IntegrityError& e) {
    throw WeightsError(e.what());  // already names the file
  } catch (const h5::H5FileError& e) {
    throw WeightsError(e.what());  // already names the file
  } catch (const WeightsError& e) {
    const std::string what = e.what();
    throw WeightsError(what.rfind(where, 0) == 0 ? what : where + what);
  }
}

std::string weights_checksum(const WeightsFile& weights) {
  return h5::canonical_sha256(to_tree(weights), kChecksumAttribute);
}

std::string write_weights(const fs::path& file, const WeightsFile& weights, bool overwrite) {
  const std::string where = file.string() + ": ";
  try {
    Tree tree = to_tree(weights);
    const std::string checksum = h5::canonical_sha256(tree, kChecksumAttribute);
    Node& root = tree.nodes.front();
    root.attributes.push_back(Attribute::make_string(kChecksumAttribute, checksum));
    std::sort(root.attributes.begin(), root.attributes.end(),
              [](const Attribute& x, const Attribute& y) { return x.name < y.name; });
    write_file_atomically(
        file,
        [&](const fs::path& tmp) {
          try {
            h5::write_tree(tmp, tree, kIntegrityBlockBytes, seal_image);
          } catch (const h5::H5FileError& e) {
            // Name the file the user asked for, not the temporary one.
            const std::string what = e.what(), tmp_where = tmp.string() + ": ";
            throw WeightsError(
                where + (what.rfind(tmp_where, 0) == 0 ? what.substr(tmp_where.size()) : what));
          }
        },
        overwrite);
    return checksum;
  } catch (const FileWriteError& e) {
    throw WeightsError(e.what());  // names the file
  } catch (const WeightsError& e) {
    const std::string what = e.what();
    throw WeightsError(what.rfind(where, 0) == 0 ? what : where + what);
  }
}

}  // namespace ctv::data
