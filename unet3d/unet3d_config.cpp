// UNetConfig validation, the layer table and the parameter count (see unet3d_config.h).
#include "unet3d/unet3d_config.h"

#include <sstream>
#include <stdexcept>

namespace ctv::unet3d {

namespace {

// The largest levels value accepted: 2^(levels-1) must stay a sane size divisor.
constexpr int kMaxLevels = 12;

[[noreturn]] void config_error(const std::string& what) {
  throw std::invalid_argument("UNetConfig: " + what);
}

// 5648289 -> "5,648,289".
std::string grouped(std::int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

}  // namespace

const char* norm_name(Norm n) { return n == Norm::batch ? "batch" : "none"; }

void UNetConfig::validate() const {
  if (in_channels < 1) config_error("in_channels = " + std::to_string(in_channels) + ", need >= 1");
  if (levels < 1 || levels > kMaxLevels)
    config_error("levels = " + std::to_string(levels) + ", need 1 .. " +
                 std::to_string(kMaxLevels));
  if (filters.empty()) {
    // base * 2^(levels-1) must fit comfortably: cap the widest level at 2^20 channels.
    if (base_filters < 1 || base_filters > (std::int64_t{1} << 20) >> (levels - 1))
      config_error("base_filters = " + std::to_string(base_filters) + ", need 1 .. " +
                   std::to_string((std::int64_t{1} << 20) >> (levels - 1)) +
                   " for levels = " + std::to_string(levels));
  } else {
    if (static_cast<int>(filters.size()) != levels)
      config_error("filters lists " + std::to_string(filters.size()) +
                   " levels but levels = " + std::to_string(levels));
    for (std::size_t l = 0; l < filters.size(); ++l)
      if (filters[l] < 1 || filters[l] > (std::int64_t{1} << 20))
        config_error("filters[" + std::to_string(l) + "] = " + std::to_string(filters[l]) +
                     ", need 1 .. 1048576");
  }
  if (norm == Norm::batch) {
    if (!(bn_momentum >= 0.0 && bn_momentum <= 1.0))
      config_error("bn_momentum = " + std::to_string(bn_momentum) + ", need 0 .. 1");
    if (!(bn_eps > 0.0)) config_error("bn_eps = " + std::to_string(bn_eps) + ", need > 0");
  }
  if (!is_floating(dtype))
    config_error(std::string("dtype = ") + dtype_name(dtype) + ", need f32 or f64");
}

std::vector<std::int64_t> UNetConfig::level_filters() const {
  if (!filters.empty()) return filters;
  std::vector<std::int64_t> f(static_cast<std::size_t>(levels));
  for (int l = 0; l < levels; ++l) f[static_cast<std::size_t>(l)] = base_filters << l;
  return f;
}

std::int64_t UNetConfig::size_divisor() const { return std::int64_t{1} << (levels - 1); }

Shape LayerSpec::weight_shape() const {
  const std::int64_t k = kernel;
  switch (kind) {
    case LayerKind::conv3d:
      return Shape{out_channels, k, k, k, in_channels};
    case LayerKind::conv_transpose3d:
      return Shape{in_channels, k, k, k, out_channels};
    case LayerKind::batch_norm:
      break;
  }
  return Shape{out_channels};
}

std::vector<LayerSpec> unet3d_layers(const UNetConfig& config) {
  config.validate();
  const std::vector<std::int64_t> f = config.level_filters();
  const bool bn = config.norm == Norm::batch;
  std::vector<LayerSpec> layers;
  // Two (conv 3x3x3 -> norm) pairs; the ReLUs have no parameters.
  auto two_convs = [&](const std::string& prefix, std::int64_t c_in, std::int64_t c) {
    layers.push_back({prefix + ".conv1", LayerKind::conv3d, c_in, c, 3});
    if (bn) layers.push_back({prefix + ".bn1", LayerKind::batch_norm, c, c, 0});
    layers.push_back({prefix + ".conv2", LayerKind::conv3d, c, c, 3});
    if (bn) layers.push_back({prefix + ".bn2", LayerKind::batch_norm, c, c, 0});
  };
  std::int64_t c_in = config.in_channels;
  for (std::size_t l = 0; l < f.size(); ++l) {
    two_convs("enc." + std::to_string(l), c_in, f[l]);
    c_in = f[l];
  }
  for (int l = config.levels - 2; l >= 0; --l) {
    const auto u = static_cast<std::size_t>(l);
    layers.push_back({"up." + std::to_string(l), LayerKind::conv_transpose3d, f[u + 1], f[u], 2});
    two_convs("dec." + std::to_string(l), 2 * f[u], f[u]);
  }
  layers.push_back({"head", LayerKind::conv3d, f[0], 1, 1});
  return layers;
}

ParameterCount count_parameters(const UNetConfig& config) {
  ParameterCount n;
  for (const LayerSpec& s : unet3d_layers(config)) {
    if (s.kind == LayerKind::batch_norm) {
      n.norm_affine += 2 * s.out_channels;
      n.norm_running += 2 * s.out_channels;
    } else {
      n.conv_weights += s.weight_shape().numel();
      n.conv_biases += s.out_channels;
    }
  }
  return n;
}

std::string describe(const UNetConfig& config) {
  const ParameterCount n = count_parameters(config);
  const std::vector<std::int64_t> f = config.level_filters();
  std::ostringstream o;
  o << "UNet3D: " << config.levels << " levels, filters ";
  for (std::size_t l = 0; l < f.size(); ++l) o << (l ? "-" : "") << f[l];
  o << ", " << config.in_channels << " input channels, ";
  if (config.norm == Norm::batch)
    o << "batch norm (momentum " << config.bn_momentum << ", eps " << config.bn_eps << ")";
  else
    o << "no normalisation";
  o << ", " << dtype_name(config.dtype) << ", seed " << config.seed << "\n";
  o << "  input N x D x H x W x " << config.in_channels << " with D, H, W multiples of "
    << config.size_divisor() << "; output N x D x H x W x 1 (sigmoid)\n";
  o << "  trainable parameters " << grouped(n.trainable()) << " = conv weights "
    << grouped(n.conv_weights) << " + conv biases " << grouped(n.conv_biases)
    << " + batch-norm gamma/beta " << grouped(n.norm_affine) << "\n";
  o << "  batch-norm running estimates " << grouped(n.norm_running) << " (not trained; total "
    << grouped(n.total()) << ")\n";
  return o.str();
}

}  // namespace ctv::unet3d
