// The golden-file reader (tests/golden_h5.h) on the PyTorch U-Net reference
// tests/data/golden_unet.h5 (made by tools/make_golden_unet.py; layout in
// tests/data/README.md): shapes, keys, attributes, the stored loss against the stored
// output and target, and the error messages.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "golden_h5.h"

namespace {

const std::string kGolden = std::string(CTV_TEST_DATA_DIR) + "/golden_unet.h5";

using Shape = std::vector<std::size_t>;

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The message of the exception f throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

// Every convolution of the levels=3 network and its weight shape in PyTorch's layout.
struct Conv {
  std::string name;
  Shape weight;
};

std::vector<Conv> convolutions() {
  const std::size_t f[3] = {4, 8, 16};
  std::vector<Conv> convs;
  std::size_t cin = 2;
  for (int l = 0; l < 3; ++l) {
    std::string p = "enc." + std::to_string(l);
    convs.push_back({p + ".conv1", {f[l], cin, 3, 3, 3}});
    convs.push_back({p + ".conv2", {f[l], f[l], 3, 3, 3}});
    cin = f[l];
  }
  for (int l = 1; l >= 0; --l) {
    std::string up = "up." + std::to_string(l);
    std::string dec = "dec." + std::to_string(l);
    convs.push_back({up, {f[l + 1], f[l], 2, 2, 2}});  // ConvTranspose3d: (C_in, C_out, ...)
    convs.push_back({dec + ".conv1", {f[l], 2 * f[l], 3, 3, 3}});
    convs.push_back({dec + ".conv2", {f[l], f[l], 3, 3, 3}});
  }
  convs.push_back({"head", {1, 4, 1, 1, 1}});
  return convs;
}

std::vector<std::string> batch_norms() {
  std::vector<std::string> bns;
  for (std::string p : {"enc.0", "enc.1", "enc.2", "dec.1", "dec.0"}) {
    bns.push_back(p + ".bn1");
    bns.push_back(p + ".bn2");
  }
  return bns;
}

std::size_t channels_of(const std::string& bn) {
  char level = bn[4];
  return level == '0' ? 4 : level == '1' ? 8 : 16;
}

}  // namespace

TEST_CASE("golden reader: root attributes") {
  golden::File f(kGolden);
  CHECK(f.attr_number("levels") == 3);
  CHECK(f.attr_number("base_filters") == 4);
  CHECK(f.attr_number("in_channels") == 2);
  CHECK(f.attr_number("N") == 2);
  CHECK(f.attr_number("D") == 16);
  CHECK(f.attr_number("H") == 20);
  CHECK(f.attr_number("W") == 24);
  CHECK(f.attr_number("bn_momentum") == 0.1);
  CHECK(f.attr_number("bn_eps") == 1e-5);
  CHECK(f.attr_number("loss_eps") == 1e-5);
  CHECK(f.attr_number("adam_lr") == 1e-3);
  CHECK(f.attr_number("adam_beta1") == 0.9);
  CHECK(f.attr_number("adam_beta2") == 0.999);
  CHECK(f.attr_number("adam_eps") == 1e-7);
  CHECK(f.attr_number("adam_steps") == 10);
  CHECK(f.attr_string("concat_order") == "skip,up");
  CHECK(f.attr_string("torch_version").rfind("1.", 0) == 0);
}

TEST_CASE("golden reader: array shapes") {
  golden::File f(kGolden);
  CHECK(f.read("/input").shape == Shape{2, 2, 16, 20, 24});
  CHECK(f.read("/target").shape == Shape{2, 1, 16, 20, 24});
  CHECK(f.read("/output").shape == Shape{2, 1, 16, 20, 24});
  CHECK(f.read("/eval_output").shape == Shape{2, 1, 16, 20, 24});
  golden::GoldenArray loss = f.read("/loss");
  CHECK(loss.shape.empty());
  REQUIRE(loss.values.size() == 1);
  golden::GoldenArray adam = f.read("adam_losses");  // the leading '/' is optional
  CHECK(adam.shape == Shape{10});
  CHECK(adam.values[0] == loss.values[0]);
  // Training moves the loss visibly and downwards.
  CHECK(adam.values[9] < adam.values[0] - 0.05);
}

TEST_CASE("golden reader: every layer's tensors in init, grad, final") {
  golden::File f(kGolden);
  const std::vector<std::string> init = f.list("/init");
  const std::vector<std::string> grad = f.list("/grad");
  const std::vector<std::string> fin = f.list("/final");
  CHECK(std::is_sorted(init.begin(), init.end()));
  CHECK(init == fin);
  for (const Conv& c : convolutions()) {
    CAPTURE(c.name);
    // Output channels: weight[0] for Conv3d, weight[1] for ConvTranspose3d.
    const std::size_t out = c.name.rfind("up.", 0) == 0 ? c.weight[1] : c.weight[0];
    for (const char* group : {"/init/", "/grad/", "/final/"}) {
      CAPTURE(group);
      CHECK(f.read(group + c.name + ".weight").shape == c.weight);
      CHECK(f.read(group + c.name + ".bias").shape == Shape{out});
    }
    for (double v : f.read("/init/" + c.name + ".bias").values) CHECK(v == 0.0);
  }
  const std::vector<std::string> after = f.list("/after_first_forward");
  for (const std::string& bn : batch_norms()) {
    CAPTURE(bn);
    const Shape ch{channels_of(bn)};
    for (const char* t : {".weight", ".bias"}) {
      CHECK(contains(init, bn + t));
      CHECK(contains(grad, bn + t));
      CHECK(f.read("/init/" + bn + t).shape == ch);
    }
    for (const char* t : {".running_mean", ".running_var"}) {
      CHECK(contains(init, bn + t));
      CHECK(!contains(grad, bn + t));  // buffers have no gradient
      CHECK(contains(after, bn + t));
      CHECK(f.read("/after_first_forward/" + bn + t).shape == ch);
    }
    // Initial BN state: gamma 1, beta 0, running mean 0, running variance 1.
    for (double v : f.read("/init/" + bn + ".weight").values) CHECK(v == 1.0);
    for (double v : f.read("/init/" + bn + ".bias").values) CHECK(v == 0.0);
    for (double v : f.read("/init/" + bn + ".running_mean").values) CHECK(v == 0.0);
    for (double v : f.read("/init/" + bn + ".running_var").values) CHECK(v == 1.0);
  }
  // 13 convolutions (6 encoder, 2 transposed, 4 decoder, head) x 2 tensors, 10 batch norms
  // x 4; num_batches_tracked is not stored.
  REQUIRE(convolutions().size() == 13);
  CHECK(init.size() == 13 * 2 + 10 * 4);
  CHECK(grad.size() == 13 * 2 + 10 * 2);
  CHECK(after.size() == 10 * 2);
}

TEST_CASE("golden reader: stored loss is the AM-GM loss of the stored output and target") {
  golden::File f(kGolden);
  const golden::GoldenArray p = f.read("/output");
  const golden::GoldenArray g = f.read("/target");
  const double eps = f.attr_number("loss_eps");
  REQUIRE(p.values.size() == g.values.size());
  double pg = 0.0;
  double sq = 0.0;
  for (std::size_t i = 0; i < p.values.size(); ++i) {
    pg += p.values[i] * g.values[i];
    sq += p.values[i] * p.values[i] + g.values[i] * g.values[i];
  }
  const double loss = 1.0 - (2.0 * pg + eps) / (sq + eps);
  CHECK(std::abs(loss - f.read("/loss").values[0]) < 1e-12);
  CHECK(loss > 0.5);  // random initial weights: far from the target

  // The input's mask channel lies inside the target, which extends beyond it; the output
  // is a probability strictly inside (0, 1).
  const golden::GoldenArray x = f.read("/input");
  const std::size_t vox = 16 * 20 * 24;
  for (std::size_t n = 0; n < 2; ++n) {
    CAPTURE(n);
    std::size_t inner = 0;
    std::size_t outer = 0;
    std::size_t not_binary = 0;
    std::size_t outside_target = 0;
    for (std::size_t i = 0; i < vox; ++i) {
      const double m = x.values[(n * 2 + 1) * vox + i];
      const double t = g.values[n * vox + i];
      not_binary += (m != 0.0 && m != 1.0) + (t != 0.0 && t != 1.0);
      outside_target += (m == 1.0 && t != 1.0);
      inner += (m == 1.0);
      outer += (t == 1.0);
    }
    CHECK(not_binary == 0);
    CHECK(outside_target == 0);
    CHECK(inner > 0);
    CHECK(outer > inner);
  }
  CHECK(std::all_of(p.values.begin(), p.values.end(), [](double v) { return v > 0.0 && v < 1.0; }));
}

TEST_CASE("golden reader: errors name the file and the path") {
  golden::File f(kGolden);
  std::string e = error_of([&] { f.read("/init/no_such_layer.weight"); });
  CHECK(e.find(kGolden) != std::string::npos);
  CHECK(e.find("/init/no_such_layer.weight") != std::string::npos);
  e = error_of([&] { f.read("/no_such_group/x"); });
  CHECK(e.find("/no_such_group/x") != std::string::npos);
  e = error_of([&] { f.read("/init"); });  // a group, not a dataset
  CHECK(e.find("/init") != std::string::npos);
  e = error_of([&] { f.attr_number("no_such_attribute"); });
  CHECK(e.find("no_such_attribute") != std::string::npos);
  e = error_of([&] { f.attr_number("concat_order"); });  // a string, not a number
  CHECK(e.find("concat_order") != std::string::npos);
  e = error_of([&] { f.attr_string("levels"); });
  CHECK(e.find("levels") != std::string::npos);
  e = error_of([&] { f.list("/input"); });  // a dataset, not a group
  CHECK(e.find("/input") != std::string::npos);
  e = error_of([] { golden::File missing(std::string(CTV_TEST_DATA_DIR) + "/missing.h5"); });
  CHECK(e.find("missing.h5") != std::string::npos);
}
