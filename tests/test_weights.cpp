// Weights and checkpoints (weights/FORMAT.md): a file written outside ctvnet loads with every
// value in place; models and checkpoints round-trip bit for bit; damaged, altered and
// mismatched files are refused with one line naming the file and the fault; writes are atomic.
#include <doctest/doctest.h>
#include <hdf5.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "data/h5_tree.h"
#include "data/sha256.h"
#include "data/weights_h5.h"
#include "data/weights_integrity.h"
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

std::vector<char> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

void spill(const fs::path& p, const std::vector<char>& b) {
  std::ofstream(p, std::ios::binary).write(b.data(), std::streamsize(b.size()));
}

// Byte offset in the file of an array's stored values (contiguous: ctvnet writes no chunks).
std::size_t offset_of(const std::vector<char>& file, const std::vector<std::uint8_t>& values) {
  const auto at = std::search(file.begin(), file.end(), values.begin(), values.end(),
                              [](char a, std::uint8_t b) { return std::uint8_t(a) == b; });
  REQUIRE(at != file.end());
  return std::size_t(at - file.begin());
}

// Fills in the integrity block again after an edit, as a deliberate forger would.
void reseal(std::vector<char>& b) {
  ctv::data::seal_image({reinterpret_cast<std::uint8_t*>(b.data()), b.size()});
}

// A tree written back as a ctvnet file: HDF5 after a sealed 512-byte user block.
void write_sealed_tree(const fs::path& out, const ctv::data::h5::Tree& t) {
  ctv::data::h5::write_tree(out, t, ctv::data::kIntegrityBlockBytes, ctv::data::seal_image);
}

ctv::data::h5::Tree read_sealed_tree(const fs::path& f) {
  return ctv::data::h5::read_tree(f, ctv::data::read_sealed_file(f).bytes);
}

bool is_fence_refusal(const std::string& why) {
  return why.find(": damaged: ") != std::string::npos ||
         why.find("not a ctvnet weights file (no integrity block)") != std::string::npos;
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

TEST_CASE("weights: a file that is not ours, or truncated, is refused naming it") {
  TempDir d;
  const fs::path f = saved_model(d, DType::f32);
  const fs::path text = d.path / "notes.h5";
  std::ofstream(text) << "these are not weights\n";
  std::string why = refusal([&] { ctv::unet3d::load_weights(text); });
  CHECK(why == text.string() + ": is not a ctvnet weights file (no integrity block)");

  // Truncated anywhere: the whole-file SHA-256 no longer matches (HDF5 never sees the file).
  const std::vector<char> all = slurp(f);
  for (std::size_t keep : {all.size() / 2, all.size() - 1, std::size_t(513), std::size_t(512)}) {
    CAPTURE(keep);
    const fs::path cut = d.path / "cut.h5";
    spill(cut, std::vector<char>(all.begin(), all.begin() + std::ptrdiff_t(keep)));
    why = refusal([&] { ctv::unet3d::load_weights(cut); });
    CHECK(why.rfind(cut.string() +
                        ": damaged: file SHA-256 does not match its integrity block (recorded ",
                    0) == 0);
    CHECK(why.find("over " + std::to_string(keep) + " bytes): the file was truncated or altered") !=
          std::string::npos);
    CHECK(why.find('\n') == std::string::npos);
  }
  // Behind a forged block, HDF5 (reading the bytes from memory) still sees the truncation.
  std::vector<char> half(all.begin(), all.begin() + std::ptrdiff_t(all.size() / 2));
  reseal(half);
  spill(d.path / "forged.h5", half);
  why = refusal([&] { ctv::unet3d::load_weights(d.path / "forged.h5"); });
  INFO(why);
  CHECK(why.rfind(d.path.string() + "/forged.h5: is a damaged HDF5 file (truncated file", 0) == 0);
  for (std::size_t keep : {std::size_t(10), std::size_t(100), std::size_t(511)}) {
    CAPTURE(keep);
    const fs::path cut = d.path / "stub.h5";
    spill(cut, std::vector<char>(all.begin(), all.begin() + std::ptrdiff_t(keep)));
    CHECK(refusal([&] { ctv::unet3d::load_weights(cut); }) ==
          cut.string() + ": damaged: truncated to " + std::to_string(keep) +
              " bytes, within its integrity block");
  }
  const fs::path empty = d.path / "empty.h5";
  spill(empty, {});
  CHECK(refusal([&] { ctv::unet3d::load_weights(empty); }) ==
        empty.string() + ": is not a ctvnet weights file (no integrity block)");
  why = refusal([&] { ctv::unet3d::load_weights(d.path / "absent.h5"); });
  CHECK(why == (d.path / "absent.h5").string() + ": does not exist");
  why = refusal([&] { ctv::unet3d::load_weights(d.path); });
  CHECK(why == d.path.string() + ": is a folder");
}

TEST_CASE("weights: the integrity block is the documented one, and HDF5 reads past it") {
  TempDir d;
  const fs::path f = saved_model(d, DType::f32);
  const std::vector<char> b = slurp(f);
  REQUIRE(b.size() > 1024);
  // weights/FORMAT.md "File integrity": magic line, 64 hex digits of SHA-256(bytes 512 ..
  // end), newline, zeros to byte 512; HDF5's superblock signature right after.
  const std::string magic = "ctvnet-weights-file-sha256-v1\n";
  CHECK(std::string(b.data(), 30) == magic);
  ctv::data::Sha256 h;
  h.update(b.data() + 512, b.size() - 512);
  const std::string digest = h.hex();
  CHECK(std::string(b.data() + 30, 64) == digest);
  CHECK(b[94] == '\n');
  CHECK(std::all_of(b.begin() + 95, b.begin() + 512, [](char c) { return c == 0; }));
  CHECK(std::string(b.data() + 512, 8) == std::string("\x89HDF\r\n\x1a\n", 8));
  const ctv::data::WeightsFile w = ctv::data::read_weights(f);
  CHECK(w.file_sha256 == digest);
  CHECK(w.file_bytes == b.size());
  // The same model saved again: the same bytes.
  ctv::data::write_weights(d.path / "again.h5", w);
  CHECK(slurp(d.path / "again.h5") == b);
  // HDF5 itself opens the file from its path too (tools outside ctvnet see a plain HDF5 file).
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t id = H5Fopen(f.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  CHECK(id >= 0);
  hsize_t user_block = 0;
  const hid_t fcpl = H5Fget_create_plist(id);
  H5Pget_userblock(fcpl, &user_block);
  CHECK(user_block == 512);
  H5Pclose(fcpl);
  H5Fclose(id);
  // Files larger than the cap are refused before a byte is read.
  const std::string why = [&] {
    try {
      ctv::data::read_sealed_file(f, 4096);
    } catch (const ctv::data::IntegrityError& e) {
      return std::string(e.what());
    }
    return std::string();
  }();
  CHECK(why == f.string() + ": is " + std::to_string(b.size()) +
                   " bytes, more than the 4096 a weights file may hold");
}

TEST_CASE("weights: HDF5 without the integrity block, or with a foreign one, is refused") {
  TempDir d;
  const fs::path f = saved_model(d, DType::f32);
  const ctv::data::h5::Tree t = read_sealed_tree(f);
  // The same content written as plain HDF5 (no user block): an older or foreign writer.
  const fs::path plain = d.path / "plain.h5";
  ctv::data::h5::write_tree(plain, t);
  CHECK(refusal([&] { ctv::unet3d::load_weights(plain); }) ==
        plain.string() + ": is HDF5 but not a ctvnet weights file (no integrity block)");
  // A 512-byte user block left empty (h5py's userblock_size=512 without the block written).
  const fs::path empty = d.path / "empty_block.h5";
  ctv::data::h5::write_tree(empty, t, 512);
  CHECK(refusal([&] { ctv::unet3d::load_weights(empty); }) ==
        empty.string() + ": is not a ctvnet weights file (no integrity block)");
  // Another magic (a future block version) and a block with the digits in upper case.
  std::vector<char> b = slurp(f);
  b[28] = '2';
  spill(d.path / "v2.h5", b);
  CHECK(refusal([&] { ctv::unet3d::load_weights(d.path / "v2.h5"); }) ==
        (d.path / "v2.h5").string() + ": is not a ctvnet weights file (no integrity block)");
  b = slurp(f);
  std::transform(b.begin() + 30, b.begin() + 94, b.begin() + 30,
                 [](char c) { return char(std::toupper(static_cast<unsigned char>(c))); });
  spill(d.path / "upper.h5", b);
  CHECK(refusal([&] { ctv::unet3d::load_weights(d.path / "upper.h5"); }) ==
        (d.path / "upper.h5").string() + ": damaged: its integrity block is malformed");
  b = slurp(f);
  b[200] = 'x';  // something in the zero padding
  spill(d.path / "padding.h5", b);
  CHECK(refusal([&] { ctv::unet3d::load_weights(d.path / "padding.h5"); }) ==
        (d.path / "padding.h5").string() + ": damaged: its integrity block is malformed");
}

TEST_CASE("weights: every bit flipped anywhere in a saved file is refused by the fence") {
  // 200 positions spread over the whole file (one in each 1/200th, fixed seed), one bit each:
  // each is refused by the integrity block, before HDF5 parses a byte (so a flip that would
  // crash HDF5 1.10.8, tests/fuzz/known/weights, cannot).
  TempDir d;
  const fs::path f = saved_model(d, DType::f32);
  const std::vector<char> good = slurp(f);
  std::mt19937_64 gen(20250101);
  const fs::path flipped = d.path / "flipped.h5";
  std::size_t in_block = 0, refused = 0;
  for (std::size_t k = 0; k < 200; ++k) {
    const std::size_t from = k * good.size() / 200, to = (k + 1) * good.size() / 200;
    const std::size_t at = from + std::size_t(gen() % (to - from));
    const int bit = int(gen() % 8);
    CAPTURE(at);
    CAPTURE(bit);
    std::vector<char> b = good;
    b[at] = char(b[at] ^ (1 << bit));
    spill(flipped, b);
    const std::string why = refusal([&] { ctv::data::read_weights(flipped); });
    CHECK(why.rfind(flipped.string() + ": ", 0) == 0);
    CHECK(why.find('\n') == std::string::npos);
    if (at < 30) {
      CHECK(why.ends_with("not a ctvnet weights file (no integrity block)"));
    } else if (at < 512) {
      CHECK((why.ends_with(": damaged: its integrity block is malformed") ||
             why.find(": damaged: file SHA-256 does not match") != std::string::npos));
    } else {
      CHECK(why.find(": damaged: file SHA-256 does not match its integrity block") !=
            std::string::npos);
    }
    in_block += at < 512;
    refused += is_fence_refusal(why);
  }
  CHECK(refused == 200);
  CHECK(in_block >= 1);  // the block itself is covered too
  MESSAGE(refused << " single-bit changes refused by the fence, " << in_block
                  << " of them in the integrity block");
}

TEST_CASE("weights: the inputs that crash HDF5 1.10.8 are refused before HDF5 sees them") {
  // tests/fuzz/known/weights: seed files with a few bits changed that make HDF5 itself fault.
  // Replaying them is safe only because the fence refuses them first. Each is tried as found
  // (made from the seed of the time, which had no integrity block) and with its HDF5 bytes
  // behind the integrity block of today's seed, which differs from the old one only in the
  // superblock's base and end-of-file addresses (bytes 24 .. 31 and 40 .. 47 after the block):
  // the same damage to a file that carries a valid block.
  const fs::path seed_path = fs::path(CTV_TEST_DATA_DIR) / "weights_h5py.h5";
  const std::vector<char> seed = slurp(seed_path);
  const fs::path folder = fs::path(CTV_TEST_DATA_DIR) / ".." / "fuzz" / "known" / "weights";
  TempDir d;
  std::size_t n = 0;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (!entry.is_regular_file() || entry.path().extension() == ".md") continue;
    const std::vector<char> found = slurp(entry.path());
    CAPTURE(entry.path().filename().string());
    ++n;
    const fs::path as_found = d.path / "as_found.h5";
    spill(as_found, found);
    CHECK(refusal([&] { ctv::unet3d::load_weights(as_found); }) ==
          as_found.string() + ": is HDF5 but not a ctvnet weights file (no integrity block)");

    REQUIRE(found.size() + 512 == seed.size());
    std::vector<char> behind = seed;
    std::size_t changed = 0;
    for (std::size_t i = 0; i < found.size(); ++i) {
      if ((i >= 24 && i < 32) || (i >= 40 && i < 48)) continue;
      changed += behind[512 + i] != found[i];
      behind[512 + i] = found[i];
    }
    CHECK(changed >= 1);
    const fs::path sealed = d.path / "behind_block.h5";
    spill(sealed, behind);
    const std::string why = refusal([&] { ctv::unet3d::load_weights(sealed); });
    CHECK(why.rfind(sealed.string() + ": damaged: file SHA-256 does not match its integrity block",
                    0) == 0);
  }
  CHECK(n >= 3);
}

TEST_CASE("weights: one flipped byte in a dataset's values fails the checksum") {
  TempDir d;
  const fs::path f = saved_model(d, DType::f32);
  const ctv::data::WeightsFile w = ctv::data::read_weights(f);
  std::vector<char> b = slurp(f);
  const std::size_t off = offset_of(b, w.tensors.at("enc.1.conv2.weight").values.bytes);
  REQUIRE(off + 5 < b.size());
  b[off + 5] = char(b[off + 5] ^ 0x01);  // lowest bit of one float's second byte
  const fs::path altered = d.path / "altered.h5";
  spill(altered, b);
  std::string why = refusal([&] { ctv::unet3d::load_weights(altered); });
  CHECK(why.rfind(altered.string() + ": damaged: file SHA-256 does not match", 0) == 0);
  // Behind a forged integrity block, the canonical checksum still catches the change.
  reseal(b);
  spill(altered, b);
  why = refusal([&] { ctv::unet3d::load_weights(altered); });
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
    h5::Tree t = read_sealed_tree(f);
    edit(t);
    const fs::path out = d.path / name;
    write_sealed_tree(out, t);
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
