// Weights and checkpoints (weights/FORMAT.md): a file written outside ctvnet loads with every
// value in place; models and checkpoints round-trip bit for bit; damaged, altered and
// mismatched files are refused with one line naming the file and the fault; writes are atomic.
#include <doctest/doctest.h>
#include <hdf5.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "data/h5_tree.h"
#include "data/weights_h5.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "unet3d/weights.h"

namespace fs = std::filesystem;
using ctv::Adam;
using ctv::DType;
using ctv::Rng;
using ctv::Shape;
using ctv::Tensor;
using ctv::Var;
using ctv::data::WeightsError;
using ctv::unet3d::UNet3D;
using ctv::unet3d::UNetConfig;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("ctv-weights-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::size_t entries() const {
    return std::size_t(std::distance(fs::directory_iterator(path), fs::directory_iterator()));
  }
};

UNetConfig small_config(DType dtype) {
  UNetConfig c;
  c.levels = 2;
  c.base_filters = 4;
  c.dtype = dtype;
  c.seed = 7;
  return c;
}

ctv::data::PreprocessConfig small_preprocessing() {
  ctv::data::PreprocessConfig p;
  p.spacing = {2, 2, 5};
  p.grid = {64, 48, 32};
  p.crop = ctv::data::CropRule::igtv_centroid;
  p.window = {-1000, 400, -1000, 1400};  // [-1000, 400] HU to [0, 1]
  p.ct_pad_hu = -1024;
  return p;
}

std::vector<unsigned char> bytes_of(const Tensor& t) {
  const Tensor d = t.contiguous();
  const auto* p = static_cast<const unsigned char*>(d.raw_data());
  return std::vector<unsigned char>(p, p + d.numel() * std::int64_t(ctv::dtype_size(d.dtype())));
}

// One training step whose batch is drawn from `rng`, so a restored generator matters.
void train_step(UNet3D& net, Adam& adam, Rng& rng) {
  const Shape s{1, 4, 4, 4, 2};
  std::vector<double> x(std::size_t(s.numel())), g(std::size_t(s.numel() / 2));
  for (double& v : x) v = rng.uniform(-1, 1);
  for (double& v : g) v = rng.uniform() > 0.5 ? 1 : 0;
  const DType t = net.config().dtype;
  adam.zero_grad();
  ctv::backward(ctv::amgm_loss(net.forward(Var(Tensor::from_vector(s, x, t)), true),
                               Var(Tensor::from_vector(Shape{1, 4, 4, 4, 1}, g, t))));
  adam.step();
}

// Every tensor of the model (parameters and batch-norm states) equal bit for bit.
void require_same_model(UNet3D& a, UNet3D& b) {
  REQUIRE(a.named_parameters().size() == b.named_parameters().size());
  for (std::size_t i = 0; i < a.named_parameters().size(); ++i) {
    const auto& pa = a.named_parameters()[i];
    INFO(pa.name);
    CHECK(pa.name == b.named_parameters()[i].name);
    CHECK(bytes_of(pa.var.value()) == bytes_of(b.named_parameters()[i].var.value()));
  }
  for (const std::string& bn : a.batch_norm_names()) {
    INFO(bn);
    CHECK(bytes_of(a.batch_norm_state(bn).running_mean) ==
          bytes_of(b.batch_norm_state(bn).running_mean));
    CHECK(bytes_of(a.batch_norm_state(bn).running_var) ==
          bytes_of(b.batch_norm_state(bn).running_var));
    CHECK(a.batch_norm_state(bn).num_batches_tracked == b.batch_norm_state(bn).num_batches_tracked);
  }
}

// The message of the WeightsError that f() throws ("" if it throws none).
template <typename F>
std::string refusal(F f) {
  try {
    f();
  } catch (const WeightsError& e) {
    return e.what();
  }
  return "";
}

// A saved small model, trained two steps so batch-norm states and weights are not initial.
fs::path saved_model(const TempDir& d, DType dtype, const std::string& name = "w.h5") {
  UNet3D net(small_config(dtype));
  Adam adam(net.parameters(), {1e-3});
  Rng rng(3);
  train_step(net, adam, rng);
  train_step(net, adam, rng);
  const fs::path f = d.path / name;
  ctv::unet3d::save_weights(f, net, small_preprocessing());
  return f;
}

// Byte offset in the file of a contiguous dataset's first value.
std::uint64_t dataset_offset(const fs::path& file, const std::string& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  const hid_t ds = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
  REQUIRE(ds >= 0);
  const haddr_t off = H5Dget_offset(ds);
  H5Dclose(ds);
  H5Fclose(f);
  REQUIRE(off != HADDR_UNDEF);
  return off;
}

std::vector<char> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

void spill(const fs::path& p, const std::vector<char>& b) {
  std::ofstream(p, std::ios::binary).write(b.data(), std::streamsize(b.size()));
}

// The formula of tools/write_weights_h5py.py.
double h5py_value(const std::string& name, std::int64_t i) {
  std::int64_t key = 0;
  for (unsigned char c : name) key += c;
  const std::int64_t r = (i * 7919 + key) % 1021;
  return name.ends_with(".running_var") ? 0.25 + double(r) / 1024 : double(r - 510) / 1024;
}

}  // namespace

TEST_CASE("weights: a file written by h5py from FORMAT.md alone loads with every value in place") {
  const fs::path f = fs::path(CTV_TEST_DATA_DIR) / "weights_h5py.h5";
  ctv::unet3d::LoadedWeights w = ctv::unet3d::load_weights(f);
  CHECK_FALSE(w.is_checkpoint);
  const UNetConfig& c = w.model.config();
  CHECK(c.levels == 2);
  CHECK(c.level_filters() == std::vector<std::int64_t>{4, 8});
  CHECK(c.in_channels == 2);
  CHECK(c.norm == ctv::unet3d::Norm::batch);
  CHECK(c.dtype == DType::f32);
  CHECK(c.bn_momentum == 0.1);
  CHECK(c.bn_eps == 1e-5);
  CHECK(c.seed == 20240601u);
  const ctv::data::PreprocessConfig& p = w.preprocessing;
  CHECK(p.spacing == std::array<double, 3>{2, 2, 5});
  CHECK(p.grid == ctv::data::Dim3{64, 48, 32});
  CHECK(p.crop == ctv::data::CropRule::igtv_centroid);
  CHECK(p.window.lo == -1000);  // the script stores the window as int64
  CHECK(p.window.hi == 400);
  CHECK(p.window.offset == -1000);
  CHECK(p.window.scale == 1400);
  CHECK(p.ct_pad_hu == -1000);
  CHECK(w.checksum == "18bd7b6a861fe9daee3b4c79b0ae9c4269cbd5e912e6690e54869aec39ade598");

  std::size_t checked = 0;
  auto check_values = [&](const std::string& name, const Tensor& t) {
    INFO(name);
    REQUIRE(t.dtype() == DType::f32);
    for (std::int64_t i = 0; i < t.numel(); ++i)
      if (t.at(i) != h5py_value(name, i)) {
        CHECK(t.at(i) == h5py_value(name, i));
        return;
      }
    ++checked;
  };
  for (const auto& np : w.model.named_parameters()) check_values(np.name, np.var.value());
  for (const std::string& bn : w.model.batch_norm_names()) {
    const ctv::BatchNormState& s = w.model.batch_norm_state(bn);
    check_values(bn + ".running_mean", s.running_mean);
    check_values(bn + ".running_var", s.running_var);
    CHECK(s.num_batches_tracked == 3);
  }
  CHECK(checked == 46 - 6);  // every float tensor (46 datasets less 6 num_batches_tracked)
  // The transposed conv is (C_in, T, R, S, C_out): f_1 = 8 in, f_0 = 4 out.
  CHECK(w.model.parameter("up.0.weight").shape() == Shape{8, 2, 2, 2, 4});

  // The network runs with them (eval mode reads the loaded running estimates).
  ctv::InferenceMode no_grad;
  const Var y = w.model.forward(Var(Tensor::full(Shape{1, 2, 2, 2, 2}, 0.5)), false);
  CHECK(y.shape() == Shape{1, 2, 2, 2, 1});
}

TEST_CASE("weights: a float32 and a float64 model round-trip bit for bit") {
  for (DType dtype : {DType::f32, DType::f64}) {
    CAPTURE(ctv::dtype_name(dtype));
    TempDir d;
    UNet3D net(small_config(dtype));
    Adam adam(net.parameters(), {1e-3});
    Rng rng(3);
    train_step(net, adam, rng);  // moves weights and running estimates off their initial values
    const fs::path f = d.path / "model.h5";
    const std::string sum = ctv::unet3d::save_weights(f, net, small_preprocessing());
    CHECK(sum.size() == 64);

    ctv::unet3d::LoadedWeights w = ctv::unet3d::load_weights(f);
    CHECK(w.checksum == sum);
    CHECK_FALSE(w.is_checkpoint);
    CHECK(w.model.config().dtype == dtype);
    CHECK(w.model.config().seed == 7u);
    CHECK(w.preprocessing.crop == ctv::data::CropRule::igtv_centroid);
    CHECK(w.preprocessing.grid == ctv::data::Dim3{64, 48, 32});
    CHECK(w.preprocessing.window.scale == 1400);
    CHECK(w.preprocessing.ct_pad_hu == -1024);
    CHECK(net.batch_norm_state("enc.0.bn1").num_batches_tracked == 1);
    require_same_model(net, w.model);
    // Shipped weights carry no optimizer state.
    CHECK(refusal([&] { ctv::unet3d::load_checkpoint(f); }).find("not a checkpoint") !=
          std::string::npos);
    // Same content, same checksum.
    CHECK(ctv::unet3d::save_weights(d.path / "again.h5", w.model, w.preprocessing) == sum);
  }
}

TEST_CASE("weights: a checkpoint resumes bit for bit: Adam moments and steps, RNG, progress") {
  TempDir d;
  UNet3D net(small_config(DType::f32));
  Adam adam(net.parameters(), {2e-3, 0.8, 0.99, 1e-6});
  Rng rng(11, 5);
  for (int i = 0; i < 3; ++i) train_step(net, adam, rng);
  ctv::unet3d::TrainingProgress progress;
  progress.step = 3;
  progress.rngs.emplace("batches", rng);
  progress.training_config = R"({"lr": 0.002, "batch": 1})";
  progress.training_state = R"({"epoch": 1})";
  const fs::path f = d.path / "latest.h5";
  const std::string sum =
      ctv::unet3d::save_checkpoint(f, net, adam, small_preprocessing(), progress);

  train_step(net, adam, rng);  // the uninterrupted run goes on

  ctv::unet3d::LoadedCheckpoint c = ctv::unet3d::load_checkpoint(f);
  CHECK(c.checksum == sum);
  CHECK(c.progress.step == 3);
  CHECK(c.progress.training_config == progress.training_config);
  CHECK(c.progress.training_state == progress.training_state);
  CHECK(c.adam.config().lr == 2e-3);
  CHECK(c.adam.config().beta1 == 0.8);
  CHECK(c.adam.config().beta2 == 0.99);
  CHECK(c.adam.config().eps == 1e-6);
  for (const auto& s : c.adam.state()) CHECK(s.step == 3);
  REQUIRE(c.progress.rngs.count("batches") == 1);
  Rng restored = c.progress.rngs.at("batches");
  train_step(c.model, c.adam, restored);  // the resumed run

  require_same_model(net, c.model);
  for (std::size_t i = 0; i < adam.state().size(); ++i) {
    CHECK(bytes_of(adam.state()[i].m) == bytes_of(c.adam.state()[i].m));
    CHECK(bytes_of(adam.state()[i].v) == bytes_of(c.adam.state()[i].v));
    CHECK(adam.state()[i].step == c.adam.state()[i].step);
  }
  CHECK(restored.next_u64() == rng.next_u64());

  // A checkpoint also loads as weights.
  ctv::unet3d::LoadedWeights w = ctv::unet3d::load_weights(f);
  CHECK(w.is_checkpoint);
}

TEST_CASE("weights: a file that is not HDF5, or truncated, is refused naming it") {
  TempDir d;
  const fs::path f = saved_model(d, DType::f32);
  const fs::path text = d.path / "notes.h5";
  std::ofstream(text) << "these are not weights\n";
  std::string why = refusal([&] { ctv::unet3d::load_weights(text); });
  CHECK(why == text.string() + ": is not an HDF5 file (no HDF5 signature)");

  const std::vector<char> all = slurp(f);
  for (std::size_t keep : {all.size() / 2, all.size() - 1}) {
    CAPTURE(keep);
    const fs::path cut = d.path / "cut.h5";
    spill(cut, std::vector<char>(all.begin(), all.begin() + std::ptrdiff_t(keep)));
    why = refusal([&] { ctv::unet3d::load_weights(cut); });
    CHECK(why.rfind(cut.string() + ": is truncated", 0) == 0);
    CHECK(why.find('\n') == std::string::npos);
  }
  why = refusal([&] { ctv::unet3d::load_weights(d.path / "absent.h5"); });
  CHECK(why.find("absent.h5: does not exist") != std::string::npos);
}

TEST_CASE("weights: one flipped byte in a dataset's values fails the checksum") {
  TempDir d;
  const fs::path f = saved_model(d, DType::f32);
  CHECK_NOTHROW(ctv::unet3d::load_weights(f));
  const std::uint64_t off = dataset_offset(f, "/model/enc.1.conv2.weight");
  std::vector<char> b = slurp(f);
  REQUIRE(off + 5 < b.size());
  b[off + 5] = char(b[off + 5] ^ 0x01);  // lowest bit of one float's second byte
  const fs::path altered = d.path / "altered.h5";
  spill(altered, b);
  const std::string why = refusal([&] { ctv::unet3d::load_weights(altered); });
  CHECK(why.rfind(altered.string() + ": checksum mismatch", 0) == 0);
  CHECK(why.find("altered or damaged") != std::string::npos);
}

TEST_CASE("weights: a missing, extra or misshapen tensor is refused naming it") {
  TempDir d;
  const fs::path f = saved_model(d, DType::f32);
  const ctv::data::WeightsFile good = ctv::data::read_weights(f);

  ctv::data::WeightsFile w = good;
  w.tensors.erase("dec.0.conv2.weight");
  ctv::data::write_weights(d.path / "missing.h5", w);
  std::string why = refusal([&] { ctv::unet3d::load_weights(d.path / "missing.h5"); });
  CHECK(why.find("missing.h5: dataset /model/dec.0.conv2.weight is missing") != std::string::npos);

  // PyTorch's (K, C, T, R, S) instead of ours (K, T, R, S, C): same bytes, wrong shape.
  w = good;
  w.tensors["enc.0.conv1.weight"].values.shape = {4, 2, 3, 3, 3};
  ctv::data::write_weights(d.path / "torch_layout.h5", w);
  why = refusal([&] { ctv::unet3d::load_weights(d.path / "torch_layout.h5"); });
  CHECK(why.find("dataset /model/enc.0.conv1.weight has shape [4,2,3,3,3] (KTRSC)") !=
        std::string::npos);
  CHECK(why.find("needs [4,3,3,3,2] (KTRSC)") != std::string::npos);

  w = good;
  w.tensors["up.0.weight"].layout = "KTRSC";  // the transposed conv is CTRSK
  ctv::data::write_weights(d.path / "layout.h5", w);
  why = refusal([&] { ctv::unet3d::load_weights(d.path / "layout.h5"); });
  CHECK(why.find("up.0.weight has shape [8,2,2,2,4] (KTRSC)") != std::string::npos);

  w = good;
  w.tensors["enc.2.conv1.weight"] = good.tensors.at("enc.1.conv1.weight");
  ctv::data::write_weights(d.path / "extra.h5", w);
  why = refusal([&] { ctv::unet3d::load_weights(d.path / "extra.h5"); });
  CHECK(why.find("/model/enc.2.conv1.weight is not a tensor of the network") != std::string::npos);

  // num_batches_tracked may be left out (outside writers); it then reads as 0.
  w = good;
  for (const char* bn :
       {"enc.0.bn1", "enc.0.bn2", "enc.1.bn1", "enc.1.bn2", "dec.0.bn1", "dec.0.bn2"})
    w.tensors.erase(std::string(bn) + ".num_batches_tracked");
  ctv::data::write_weights(d.path / "no_nbt.h5", w);
  CHECK(ctv::unet3d::load_weights(d.path / "no_nbt.h5")
            .model.batch_norm_state("enc.0.bn1")
            .num_batches_tracked == 0);
}

TEST_CASE("weights: a config the code cannot build is refused before any array is read") {
  TempDir d;
  const fs::path f = saved_model(d, DType::f32);
  const ctv::data::WeightsFile good = ctv::data::read_weights(f);

  ctv::data::WeightsFile w = good;
  w.model.filters = {4, 2000000};  // more channels than UNetConfig allows
  ctv::data::write_weights(d.path / "wide.h5", w);
  std::string why = refusal([&] { ctv::unet3d::load_weights(d.path / "wide.h5"); });
  CHECK(why.find("wide.h5: the model config cannot be built: UNetConfig: filters[1] = 2000000") !=
        std::string::npos);

  // Buildable in principle, but far beyond any real network: refused before allocating.
  w.model.filters = {1 << 20, 1 << 20};
  ctv::data::write_weights(d.path / "huge.h5", w);
  why = refusal([&] { ctv::unet3d::load_weights(d.path / "huge.h5"); });
  CHECK(why.find("parameters, more than") != std::string::npos);

  // The data layer's own ranges name the attribute.
  w = good;
  w.model.norm = "group";
  why = refusal([&] { ctv::data::write_weights(d.path / "norm.h5", w); });
  CHECK(why.find("norm.h5: model.norm = \"group\"") != std::string::npos);
  CHECK_FALSE(fs::exists(d.path / "norm.h5"));
}

TEST_CASE("weights: attributes and objects the format does not define are refused") {
  TempDir d;
  const fs::path f = saved_model(d, DType::f32);
  namespace h5 = ctv::data::h5;
  auto rewrite = [&](const std::string& name, const std::function<void(h5::Tree&)>& edit) {
    h5::Tree t = h5::read_tree(f);
    edit(t);
    const fs::path out = d.path / name;
    h5::write_tree(out, t);
    return refusal([&] { ctv::unet3d::load_weights(out); });
  };
  std::string why = rewrite("typo.h5", [](h5::Tree& t) {
    t.nodes.front().attributes.push_back(h5::Attribute::make_string("preprocess.crop_rule", "x"));
  });
  CHECK(why.find("typo.h5: attribute preprocess.crop_rule is not part of format version 1") !=
        std::string::npos);
  why = rewrite("optim.h5", [](h5::Tree& t) { t.add("/optimizer", false); });
  CHECK(why.find("holds /optimizer, but kind is \"weights\"") != std::string::npos);
  why = rewrite("version.h5", [](h5::Tree& t) {
    for (auto& a : t.nodes.front().attributes)
      if (a.name == "format_version") a.integers = {2};
  });
  CHECK(why.find("has format version 2; this ctvnet reads version 1") != std::string::npos);
  // An unchanged rewrite still loads: the refusals above come from the edits.
  CHECK(rewrite("same.h5", [](h5::Tree&) {}).empty());
}

TEST_CASE("weights: an existing file is not overwritten unless asked") {
  TempDir d;
  const fs::path f = saved_model(d, DType::f32);
  const std::vector<char> before = slurp(f);
  UNet3D other(small_config(DType::f64));
  const std::string why =
      refusal([&] { ctv::unet3d::save_weights(f, other, small_preprocessing()); });
  CHECK(why == f.string() + ": already exists; not overwriting it");
  CHECK(slurp(f) == before);
  CHECK(d.entries() == 1);
  ctv::unet3d::save_weights(f, other, small_preprocessing(), /*overwrite=*/true);
  CHECK(ctv::unet3d::load_weights(f).model.config().dtype == DType::f64);
}

TEST_CASE("weights: a write that fails half way leaves no file and no temporary") {
  TempDir d;
  UNet3D net(small_config(DType::f32));  // about 20 kB of values
  const fs::path f = d.path / "full_disk.h5";
  // A 4 kB file size limit stands in for a full disk: writes past it fail with EFBIG.
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  rlimit small = old;
  small.rlim_cur = 4096;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  const std::string why =
      refusal([&] { ctv::unet3d::save_weights(f, net, small_preprocessing()); });
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &old) == 0);
  CHECK(why.rfind(f.string() + ": ", 0) == 0);  // names the file asked for, not the temporary
  CHECK(why.find('\n') == std::string::npos);
  CHECK_FALSE(fs::exists(f));
  CHECK(d.entries() == 0);
  // With room again the same write succeeds.
  ctv::unet3d::save_weights(f, net, small_preprocessing());
  CHECK(d.entries() == 1);
}
