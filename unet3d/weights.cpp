// UNet3D <-> weights file (see unet3d/weights.h). The expected tensors come from the layer
// table (unet3d_layers), not from a built model, so a file is checked before anything the
// size of the network is allocated.
#include "unet3d/weights.h"

#include <cstring>
#include <limits>
#include <stdexcept>

namespace ctv::unet3d {

namespace fs = std::filesystem;
using data::WeightsError;
using data::WeightsFile;
using data::WeightsTensor;

namespace {

// Larger networks than this are refused before they are built (about 16 GiB in float32).
constexpr std::int64_t kMaxParameters = std::int64_t{1} << 32;

struct Expected {
  std::vector<std::int64_t> shape;
  std::string layout;
  bool trainable = true;
  bool optional = false;  // num_batches_tracked may be left out by outside writers
};

std::vector<std::int64_t> dims(const Shape& s) {
  return std::vector<std::int64_t>(s.dims.begin(), s.dims.begin() + s.rank);
}

std::string shape_str(const std::vector<std::int64_t>& s) {
  return data::h5::Array{data::h5::ElementType::f32, s, {}}.shape_str();
}

// Every tensor the network described by `config` has, by state_dict name.
std::map<std::string, Expected> expected_tensors(const UNetConfig& config) {
  std::map<std::string, Expected> out;
  for (const LayerSpec& s : unet3d_layers(config)) {
    const std::vector<std::int64_t> c{s.out_channels};
    if (s.kind == LayerKind::batch_norm) {
      out[s.name + ".weight"] = {c, "C"};
      out[s.name + ".bias"] = {c, "C"};
      out[s.name + ".running_mean"] = {c, "C", false};
      out[s.name + ".running_var"] = {c, "C", false};
      out[s.name + ".num_batches_tracked"] = {{}, "scalar", false, true};
    } else {
      out[s.name + ".weight"] = {dims(s.weight_shape()),
                                 s.kind == LayerKind::conv_transpose3d ? "CTRSK" : "KTRSC"};
      out[s.name + ".bias"] = {c, "C"};
    }
  }
  return out;
}

std::string config_words(const data::ModelRecord& m) {
  std::string f;
  for (std::size_t i = 0; i < m.filters.size(); ++i) {
    if (i > 0) f += ',';
    f += std::to_string(m.filters[i]);
  }
  return "levels " + std::to_string(m.filters.size()) + ", filters " + f + ", in_channels " +
         std::to_string(m.in_channels) + ", norm " + m.norm;
}

// Checks one group's tensors (model, Adam m or v) against the expected set.
void check_group(const std::string& group, const std::map<std::string, WeightsTensor>& have,
                 const std::map<std::string, Expected>& want, bool trainable_only,
                 const data::ModelRecord& m) {
  for (const auto& [name, e] : want) {
    if (trainable_only && !e.trainable) continue;
    auto it = have.find(name);
    if (it == have.end()) {
      if (e.optional) continue;
      throw WeightsError("dataset " + group + "/" + name +
                         " is missing (the config: " + config_words(m) + ")");
    }
    if (it->second.values.shape != e.shape || it->second.layout != e.layout)
      throw WeightsError("dataset " + group + "/" + name + " has shape " +
                         it->second.values.shape_str() + " (" + it->second.layout +
                         "), the config (" + config_words(m) + ") needs " + shape_str(e.shape) +
                         " (" + e.layout + ")");
  }
  for (const auto& [name, t] : have) {
    auto it = want.find(name);
    if (it == want.end() || (trainable_only && !it->second.trainable))
      throw WeightsError("dataset " + group + "/" + name + " is not a tensor of the network (" +
                         config_words(m) + ")");
  }
}

// The header check: config buildable and not absurdly large, every tensor as the config says.
UNetConfig check_file(const WeightsFile& w) {
  UNetConfig config;
  try {
    config = config_from_record(w.model);
    config.validate();
  } catch (const std::invalid_argument& e) {
    throw WeightsError(std::string("the model config cannot be built: ") + e.what());
  }
  const std::int64_t n = count_parameters(config).total();
  if (n > kMaxParameters)
    throw WeightsError("the model config has " + std::to_string(n) + " parameters, more than " +
                       std::to_string(kMaxParameters) + " accepted");
  const std::map<std::string, Expected> want = expected_tensors(config);
  check_group("/model", w.tensors, want, false, w.model);
  if (const auto& c = w.checkpoint) {
    check_group("/optimizer/m", c->adam_m, want, true, w.model);
    check_group("/optimizer/v", c->adam_v, want, true, w.model);
    for (const auto& [name, e] : want)
      if (e.trainable && !c->adam_steps.contains(name))
        throw WeightsError("dataset /optimizer/step/" + name + " is missing");
    for (const auto& [name, step] : c->adam_steps) {
      auto it = want.find(name);
      if (it == want.end() || !it->second.trainable)
        throw WeightsError("dataset /optimizer/step/" + name + " is not a parameter's");
    }
  }
  return config;
}

WeightsTensor to_record(const Tensor& t, const std::string& layout) {
  const Tensor d = t.device() == Device::cpu ? t.contiguous() : t.to(Device::cpu);
  WeightsTensor w;
  w.values.type = d.dtype() == DType::f64 ? data::h5::ElementType::f64 : data::h5::ElementType::f32;
  w.values.shape = dims(d.shape());
  w.values.bytes.resize(std::size_t(d.numel()) * dtype_size(d.dtype()));
  std::memcpy(w.values.bytes.data(), d.raw_data(), w.values.bytes.size());
  w.layout = layout;
  return w;
}

void from_record(const WeightsTensor& w, Tensor& t) {
  if (!t.is_contiguous() || w.values.bytes.size() != std::size_t(t.numel()) * dtype_size(t.dtype()))
    throw std::logic_error("weights: tensor size changed after the header check");
  std::memcpy(t.raw_data(), w.values.bytes.data(), w.values.bytes.size());
}

std::string layout_of(const std::map<std::string, Expected>& want, const std::string& name) {
  return want.at(name).layout;
}

WeightsFile model_file(const UNet3D& model, const data::PreprocessConfig& preprocessing) {
  const std::map<std::string, Expected> want = expected_tensors(model.config());
  WeightsFile w;
  w.model = model_record(model.config());
  w.preprocessing = preprocessing;
  for (const NamedParameter& p : model.named_parameters())
    w.tensors[p.name] = to_record(p.var.value(), layout_of(want, p.name));
  for (const std::string& bn : model.batch_norm_names()) {
    const BatchNormState& s = model.batch_norm_state(bn);
    w.tensors[bn + ".running_mean"] = to_record(s.running_mean, "C");
    w.tensors[bn + ".running_var"] = to_record(s.running_var, "C");
    WeightsTensor n;
    n.values.type = data::h5::ElementType::i64;
    n.values.bytes.resize(8);
    std::memcpy(n.values.bytes.data(), &s.num_batches_tracked, 8);
    n.layout = "scalar";
    w.tensors[bn + ".num_batches_tracked"] = std::move(n);
  }
  return w;
}

UNet3D model_from_file(const WeightsFile& w, const UNetConfig& config) {
  UNet3D model(config);
  for (const NamedParameter& p : model.named_parameters()) {
    Var v = p.var;
    from_record(w.tensors.at(p.name), v.value());
  }
  for (const std::string& bn : model.batch_norm_names()) {
    BatchNormState& s = model.batch_norm_state(bn);
    from_record(w.tensors.at(bn + ".running_mean"), s.running_mean);
    from_record(w.tensors.at(bn + ".running_var"), s.running_var);
    auto it = w.tensors.find(bn + ".num_batches_tracked");
    s.num_batches_tracked = 0;
    if (it != w.tensors.end())
      std::memcpy(&s.num_batches_tracked, it->second.values.bytes.data(), 8);
  }
  return model;
}

// The name of each of adam's parameters, in adam's order.
std::vector<std::string> adam_names(const UNet3D& model, const Adam& adam) {
  std::vector<std::string> names;
  for (const Var& v : adam.params()) {
    std::string found;
    for (const NamedParameter& p : model.named_parameters())
      if (p.var.same(v)) found = p.name;
    if (found.empty())
      throw std::invalid_argument("save_checkpoint: the optimizer holds a parameter (" +
                                  v.value().describe() + ") that is not the model's");
    names.push_back(found);
  }
  return names;
}

}  // namespace

data::ModelRecord model_record(const UNetConfig& config) {
  data::ModelRecord m;
  m.in_channels = config.in_channels;
  m.filters = config.level_filters();
  m.norm = norm_name(config.norm);
  m.bn_momentum = config.bn_momentum;
  m.bn_eps = config.bn_eps;
  m.dtype = config.dtype == DType::f64 ? "float64" : "float32";
  m.init_seed = config.seed;
  return m;
}

UNetConfig config_from_record(const data::ModelRecord& m) {
  UNetConfig c;
  if (m.in_channels < 1 || m.in_channels > std::numeric_limits<int>::max())
    throw std::invalid_argument("in_channels = " + std::to_string(m.in_channels));
  c.in_channels = int(m.in_channels);
  c.levels = int(m.filters.size());
  c.filters = m.filters;
  if (m.norm == "batch")
    c.norm = Norm::batch;
  else if (m.norm == "none")
    c.norm = Norm::none;
  else
    throw std::invalid_argument("norm = \"" + m.norm + "\"");
  c.bn_momentum = m.bn_momentum;
  c.bn_eps = m.bn_eps;
  if (m.dtype == "float32")
    c.dtype = DType::f32;
  else if (m.dtype == "float64")
    c.dtype = DType::f64;
  else
    throw std::invalid_argument("dtype = \"" + m.dtype + "\"");
  c.seed = m.init_seed;
  c.validate();
  return c;
}

std::string save_weights(const fs::path& file, const UNet3D& model,
                         const data::PreprocessConfig& preprocessing, bool overwrite) {
  return data::write_weights(file, model_file(model, preprocessing), overwrite);
}

std::string save_checkpoint(const fs::path& file, const UNet3D& model, const Adam& adam,
                            const data::PreprocessConfig& preprocessing,
                            const TrainingProgress& progress, bool overwrite) {
  WeightsFile w = model_file(model, preprocessing);
  const std::map<std::string, Expected> want = expected_tensors(model.config());
  const std::vector<std::string> names = adam_names(model, adam);
  data::CheckpointRecord c;
  c.step = progress.step;
  c.adam = {adam.config().lr, adam.config().beta1, adam.config().beta2, adam.config().eps};
  c.training_config = progress.training_config;
  c.training_state = progress.training_state;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const AdamParamState& s = adam.state()[i];
    c.adam_m[names[i]] = to_record(s.m, layout_of(want, names[i]));
    c.adam_v[names[i]] = to_record(s.v, layout_of(want, names[i]));
    c.adam_steps[names[i]] = s.step;
  }
  for (const auto& [name, rng] : progress.rngs)
    c.rngs[name] = {rng.seed(), rng.stream(), rng.state()};
  w.checkpoint = std::move(c);
  return data::write_weights(file, w, overwrite);
}

LoadedWeights load_weights(const fs::path& file) {
  UNetConfig config;
  WeightsFile w = data::read_weights(file, [&](const WeightsFile& h) { config = check_file(h); });
  return LoadedWeights{model_from_file(w, config), w.preprocessing, w.checksum,
                       w.checkpoint.has_value()};
}

LoadedCheckpoint load_checkpoint(const fs::path& file) {
  UNetConfig config;
  WeightsFile w = data::read_weights(file, [&](const WeightsFile& h) {
    if (!h.checkpoint)
      throw WeightsError("is shipped weights, not a checkpoint (no optimizer state)");
    config = check_file(h);
  });
  const data::CheckpointRecord& c = *w.checkpoint;
  UNet3D model = model_from_file(w, config);
  Adam adam(model.parameters(), AdamConfig{c.adam.lr, c.adam.beta1, c.adam.beta2, c.adam.eps});
  const std::vector<std::string> names = adam_names(model, adam);
  for (std::size_t i = 0; i < names.size(); ++i) {
    AdamParamState& s = adam.state()[i];
    from_record(c.adam_m.at(names[i]), s.m);
    from_record(c.adam_v.at(names[i]), s.v);
    s.step = c.adam_steps.at(names[i]);
  }
  TrainingProgress progress;
  progress.step = c.step;
  progress.training_config = c.training_config;
  progress.training_state = c.training_state;
  for (const auto& [name, r] : c.rngs)
    progress.rngs.emplace(name, Rng::restore(r.seed, r.stream, r.state));
  return LoadedCheckpoint{std::move(model), std::move(adam), w.preprocessing, std::move(progress),
                          w.checksum};
}

}  // namespace ctv::unet3d
