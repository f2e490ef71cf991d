// The training configuration as JSON: see train_config.h for the keys.
#include "unet3d/train_config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <set>
#include <stdexcept>

namespace ctv::unet3d {

namespace {

using nlohmann::json;

struct Reader {
  const std::string& where;

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw std::invalid_argument(where + ": \"" + key + "\" " + what);
  }
  void only_keys(const json& obj, const std::string& prefix,
                 const std::set<std::string>& allowed) const {
    if (!obj.is_object()) fail(prefix, "must be an object");
    for (const auto& [k, v] : obj.items())
      if (!allowed.count(k)) fail(prefix.empty() ? k : prefix + "." + k, "is not a known key");
  }
  double number(const json& v, const std::string& key) const {
    if (!v.is_number()) fail(key, "must be a number");
    return v.get<double>();
  }
  std::int64_t integer(const json& v, const std::string& key) const {
    if (!v.is_number_integer()) fail(key, "must be an integer");
    return v.get<std::int64_t>();
  }
  bool boolean(const json& v, const std::string& key) const {
    if (!v.is_boolean()) fail(key, "must be true or false");
    return v.get<bool>();
  }
  std::string text(const json& v, const std::string& key) const {
    if (!v.is_string()) fail(key, "must be a string");
    return v.get<std::string>();
  }
  template <class T, std::size_t N>
  std::array<T, N> array(const json& v, const std::string& key) const {
    if (!v.is_array() || v.size() != N) fail(key, "must be an array of " + std::to_string(N));
    std::array<T, N> out{};
    for (std::size_t i = 0; i < N; ++i)
      out[i] = std::is_integral_v<T> ? T(integer(v[i], key)) : T(number(v[i], key));
    return out;
  }
};

LossKind parse_loss(const std::string& s, const Reader& r) {
  if (s == "amgm") return LossKind::amgm;
  if (s == "bce") return LossKind::bce;
  if (s == "wbce") return LossKind::wbce;
  r.fail("loss", "'" + s + "' is not amgm, bce or wbce");
}

}  // namespace

const char* loss_name(LossKind k) {
  switch (k) {
    case LossKind::amgm:
      return "amgm";
    case LossKind::bce:
      return "bce";
    case LossKind::wbce:
      return "wbce";
  }
  return "?";
}

std::string TrainConfig::fault() const {
  UNetConfig m = model;
  try {
    m.validate();
  } catch (const std::exception& e) {
    return std::string("model: ") + e.what();
  }
  if (std::string f = data::preprocess_config_fault(data); !f.empty()) return "data: " + f;
  const std::int64_t div = m.size_divisor();
  for (int a = 0; a < 3; ++a)
    if (data.grid[a] % div != 0)
      return "data.grid " + std::to_string(data.grid[a]) + " is not a multiple of " +
             std::to_string(div) + " (2^(levels-1))";
  if (!(wbce_background_weight > 0 && wbce_background_weight <= 1))
    return "wbce_background_weight must be in (0, 1]";
  if (copies < 0 || copies > 1000) return "elastic.copies must be in 0..1000";
  if (!(sigma_px >= 0 && sigma_px <= 1000)) return "elastic.sigma_px must be in [0, 1000]";
  if (!(optimizer.lr > 0 && std::isfinite(optimizer.lr))) return "optimizer.lr must be > 0";
  if (!(optimizer.beta1 >= 0 && optimizer.beta1 < 1)) return "optimizer.beta1 must be in [0, 1)";
  if (!(optimizer.beta2 >= 0 && optimizer.beta2 < 1)) return "optimizer.beta2 must be in [0, 1)";
  if (!(optimizer.eps > 0 && std::isfinite(optimizer.eps))) return "optimizer.eps must be > 0";
  if (batch < 1 || batch > 1024) return "batch " + std::to_string(batch) + " is not in 1..1024";
  if (epochs < 1 || epochs > 100000) return "epochs must be in 1..100000";
  if (selection_window < 1) return "selection.window must be >= 1";
  if (!(selection_delta >= 0 && std::isfinite(selection_delta)))
    return "selection.delta must be >= 0";
  if (checkpoint_every_steps < 0) return "checkpoint_every_steps must be >= 0";
  if (device != "cpu" && device != "cuda") return "device '" + device + "' is not cpu or cuda";
  if (precision != "fp32" && precision != "tf32" && precision != "bf16")
    return "precision '" + precision + "' is not fp32, tf32 or bf16";
  if (threads < 0 || threads > 1024) return "threads must be in 0..1024 (0: all cores)";
  return {};
}

TrainConfig parse_train_config(const std::string& json_text, const TrainConfig& base,
                               const std::string& where) {
  const Reader r{where};
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw std::invalid_argument(where + ": not valid JSON (" + e.what() + ")");
  }
  r.only_keys(
      j, "",
      {"model", "data", "loss", "wbce_background_weight", "elastic", "optimizer", "batch", "epochs",
       "seed", "selection", "checkpoint_every_steps", "device", "precision", "threads"});
  TrainConfig c = base;
  if (j.contains("model")) {
    const json& m = j["model"];
    r.only_keys(m, "model", {"levels", "base_filters", "filters", "norm"});
    if (m.contains("levels")) c.model.levels = int(r.integer(m["levels"], "model.levels"));
    if (m.contains("base_filters"))
      c.model.base_filters = r.integer(m["base_filters"], "model.base_filters");
    if (m.contains("filters")) {
      if (!m["filters"].is_array()) r.fail("model.filters", "must be an array");
      c.model.filters.clear();
      for (const json& f : m["filters"]) c.model.filters.push_back(r.integer(f, "model.filters"));
    }
    if (m.contains("norm")) {
      const std::string n = r.text(m["norm"], "model.norm");
      if (n != "batch" && n != "none") r.fail("model.norm", "'" + n + "' is not batch or none");
      c.model.norm = n == "batch" ? Norm::batch : Norm::none;
    }
  }
  if (j.contains("data")) {
    const json& d = j["data"];
    r.only_keys(d, "data", {"spacing_mm", "grid", "crop", "hu_window", "hu_offset", "hu_scale"});
    if (d.contains("spacing_mm"))
      c.data.spacing = r.array<double, 3>(d["spacing_mm"], "data.spacing_mm");
    if (d.contains("grid")) c.data.grid = r.array<int, 3>(d["grid"], "data.grid");
    if (d.contains("crop")) {
      try {
        c.data.crop = data::parse_crop_rule(r.text(d["crop"], "data.crop"));
      } catch (const std::invalid_argument& e) {
        r.fail("data.crop", e.what());
      }
    }
    if (d.contains("hu_window")) {
      const auto w = r.array<double, 2>(d["hu_window"], "data.hu_window");
      c.data.window.lo = w[0];
      c.data.window.hi = w[1];
    }
    if (d.contains("hu_offset")) c.data.window.offset = r.number(d["hu_offset"], "data.hu_offset");
    if (d.contains("hu_scale")) c.data.window.scale = r.number(d["hu_scale"], "data.hu_scale");
  }
  if (j.contains("loss")) c.loss = parse_loss(r.text(j["loss"], "loss"), r);
  if (j.contains("wbce_background_weight"))
    c.wbce_background_weight = r.number(j["wbce_background_weight"], "wbce_background_weight");
  if (j.contains("elastic")) {
    const json& e = j["elastic"];
    r.only_keys(e, "elastic", {"enabled", "copies", "sigma_px"});
    if (e.contains("enabled")) c.elastic = r.boolean(e["enabled"], "elastic.enabled");
    if (e.contains("copies")) c.copies = int(r.integer(e["copies"], "elastic.copies"));
    if (e.contains("sigma_px")) c.sigma_px = r.number(e["sigma_px"], "elastic.sigma_px");
  }
  if (j.contains("optimizer")) {
    const json& o = j["optimizer"];
    r.only_keys(o, "optimizer", {"lr", "beta1", "beta2", "eps"});
    if (o.contains("lr")) c.optimizer.lr = r.number(o["lr"], "optimizer.lr");
    if (o.contains("beta1")) c.optimizer.beta1 = r.number(o["beta1"], "optimizer.beta1");
    if (o.contains("beta2")) c.optimizer.beta2 = r.number(o["beta2"], "optimizer.beta2");
    if (o.contains("eps")) c.optimizer.eps = r.number(o["eps"], "optimizer.eps");
  }
  if (j.contains("batch")) c.batch = int(r.integer(j["batch"], "batch"));
  if (j.contains("epochs")) c.epochs = int(r.integer(j["epochs"], "epochs"));
  if (j.contains("seed")) {
    if (!j["seed"].is_number_unsigned() && !(j["seed"].is_number_integer() && j["seed"] >= 0))
      r.fail("seed", "must be an integer >= 0");
    c.seed = j["seed"].get<std::uint64_t>();
  }
  if (j.contains("selection")) {
    const json& s = j["selection"];
    r.only_keys(s, "selection", {"window", "delta", "stop_when_saturated"});
    if (s.contains("window")) c.selection_window = int(r.integer(s["window"], "selection.window"));
    if (s.contains("delta")) c.selection_delta = r.number(s["delta"], "selection.delta");
    if (s.contains("stop_when_saturated"))
      c.stop_when_saturated = r.boolean(s["stop_when_saturated"], "selection.stop_when_saturated");
  }
  if (j.contains("checkpoint_every_steps"))
    c.checkpoint_every_steps =
        int(r.integer(j["checkpoint_every_steps"], "checkpoint_every_steps"));
  if (j.contains("device")) c.device = r.text(j["device"], "device");
  if (j.contains("precision")) c.precision = r.text(j["precision"], "precision");
  if (j.contains("threads")) c.threads = int(r.integer(j["threads"], "threads"));
  c.model.seed = c.seed;
  if (const std::string f = c.fault(); !f.empty()) throw std::invalid_argument(where + ": " + f);
  return c;
}

std::string to_json(const TrainConfig& c) {
  json j;
  json m = {{"levels", c.model.levels},
            {"base_filters", c.model.base_filters},
            {"norm", c.model.norm == Norm::batch ? "batch" : "none"}};
  if (!c.model.filters.empty()) m["filters"] = c.model.filters;
  j["model"] = m;
  j["data"] = {{"spacing_mm", c.data.spacing},
               {"grid", c.data.grid},
               {"crop", data::crop_rule_name(c.data.crop)},
               {"hu_window", {c.data.window.lo, c.data.window.hi}},
               {"hu_offset", c.data.window.offset},
               {"hu_scale", c.data.window.scale}};
  j["loss"] = loss_name(c.loss);
  j["wbce_background_weight"] = c.wbce_background_weight;
  j["elastic"] = {{"enabled", c.elastic}, {"copies", c.copies}, {"sigma_px", c.sigma_px}};
  j["optimizer"] = {{"lr", c.optimizer.lr},
                    {"beta1", c.optimizer.beta1},
                    {"beta2", c.optimizer.beta2},
                    {"eps", c.optimizer.eps}};
  j["batch"] = c.batch;
  j["epochs"] = c.epochs;
  j["seed"] = c.seed;
  j["selection"] = {{"window", c.selection_window},
                    {"delta", c.selection_delta},
                    {"stop_when_saturated", c.stop_when_saturated}};
  j["checkpoint_every_steps"] = c.checkpoint_every_steps;
  j["device"] = c.device;
  j["precision"] = c.precision;
  j["threads"] = c.threads;
  return j.dump(2) + "\n";
}

}  // namespace ctv::unet3d
