// ctv demo: the README's main job (SPEC section 7).
//
// Default: the shipped model on a synthetic cohort, as a user would run it, one `ctv` command
// after another (each printed, so the user can repeat it): `ctv phantom` writes the cohort on
// the shipped weights' spacing (2 x 2 x 5 mm, 208 x 144 x 64 voxels: the default field of
// view), `ctv predict` draws the CTV of the 24 test patients with weights/ctvnet_default.h5
// (never trained on them), `ctv report` scores it against the 5 mm and 8 mm cropped
// expansions (computed there) and writes Table 1, the figures and report.html; Table 1 is
// printed at the end.
//
// --toy: the whole chain on one toy patient (data/toy_patient.h), end to end through files:
// writes CT, iGTV and reference CTV as NIfTI in RAS storage order, reads them back, checks
// their geometry, reorients them to LPS, trains a small U-Net on the engine for a few dozen
// steps, predicts, unites the prediction with the iGTV, writes it back in the CT's own
// geometry and scores it. The patient is trained and scored on itself: this shows that every
// part works together, not how well a model generalises. Tests use its files.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <spawn.h>
#include <sys/wait.h>

#include "data/nifti.h"
#include "data/overlap.h"
#include "data/preprocess.h"
#include "data/toy_patient.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "tools/command.h"
#include "tools/progress.h"
#include "tools/provenance.h"
#include "unet3d/unet3d.h"

extern char** environ;

namespace ctv::cli {

namespace fs = std::filesystem;

namespace {

struct DemoOptions {
  std::string out = "demo-out";
  std::string weights = CTV_DEFAULT_WEIGHTS;
  bool toy = false;
  int n = 84;
  int steps = 60;
  double lr = 3e-3;
  std::uint64_t seed = 1;
};

// CT window for the network input: the preprocessing default (data/preprocess.h).
float scale_hu(float hu) { return data::HuWindow{}.apply(hu); }

// NDHWC input [1, z, y, x, 2] from canonical CT and iGTV (x fastest, as Volume stores them).
Tensor network_input(const data::Volume& ct, const data::Volume& igtv) {
  const auto& d = ct.geometry.dim;
  Tensor x = Tensor::empty(Shape{1, d[2], d[1], d[0], 2});
  float* p = x.data<float>();
  for (std::size_t i = 0; i < ct.data.size(); ++i) {
    p[2 * i] = scale_hu(ct.data[i]);
    p[2 * i + 1] = igtv.data[i] > 0.5f ? 1.f : 0.f;
  }
  return x;
}

Tensor mask_tensor(const data::Volume& v) {
  const auto& d = v.geometry.dim;
  Tensor t = Tensor::empty(Shape{1, d[2], d[1], d[0], 1});
  float* p = t.data<float>();
  for (std::size_t i = 0; i < v.data.size(); ++i) p[i] = v.data[i] > 0.5f ? 1.f : 0.f;
  return t;
}

void write_output(const fs::path& file, const data::Geometry& g, const std::vector<float>& v,
                  data::VoxelType type, const std::vector<fs::path>& inputs) {
  data::write_nifti(file, g, v, type, /*overwrite=*/true);
  write_provenance(file, Provenance{inputs, {}}, /*overwrite=*/true);
}

std::string indent(const std::string& text, const std::string& pad) {
  std::string out = pad;
  for (std::size_t i = 0; i < text.size(); ++i) {
    out += text[i];
    if (text[i] == '\n' && i + 1 < text.size()) out += pad;
  }
  return out;
}

int run_toy_demo(const DemoOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  // Says once when no GPU is found; with one, the CPU still runs until CUDA kernels land.
  if (select_device(std::nullopt, std::cerr) == Device::cuda)
    std::cerr << "ctv demo: a GPU is present, but the CUDA kernels are not built yet; using the "
                 "CPU\n";
  const fs::path dir = fs::path(o.out) / "toy";
  const bool replacing = fs::exists(dir);
  fs::create_directories(dir);
  std::cout << "ctv demo: one toy patient, end to end, in " << dir.string()
            << (replacing ? " (replacing the previous demo's files there)" : "") << "\n\n";

  // 1. Data: a patient stored in RAS order (not the canonical LPS), so reorientation matters.
  std::cout << "[1/5] writing the toy patient (CT, iGTV, reference CTV) as NIfTI\n";
  const std::array<int, 3> dim{64, 48, 24};
  const std::array<double, 3> spacing{3, 3, 4};
  Eigen::Matrix4d affine = Eigen::Matrix4d::Identity();
  for (int a = 0; a < 3; ++a) {
    affine(a, a) = spacing[a];
    affine(a, 3) = -0.5 * (dim[a] - 1) * spacing[a];  // field of view centred on the origin
  }
  const data::ToyPatient toy = data::make_toy_patient(data::make_geometry(dim, affine));
  const fs::path ct_file = dir / "ct.nii.gz", igtv_file = dir / "igtv.nii.gz",
                 ctv_file = dir / "ctv.nii.gz", pred_file = dir / "pred_model.nii.gz";
  write_output(ct_file, toy.geometry, toy.ct, data::VoxelType::int16, {});
  write_output(igtv_file, toy.geometry, toy.igtv, data::VoxelType::uint8, {});
  write_output(ctv_file, toy.geometry, toy.ctv, data::VoxelType::uint8, {});
  std::cout << "      " << dim[0] << " x " << dim[1] << " x " << dim[2] << " voxels of "
            << spacing[0] << " x " << spacing[1] << " x " << spacing[2] << " mm, stored "
            << data::orientation_code(toy.geometry) << "\n";

  // 2. Read back as any input would be: geometry checks, then the canonical frame.
  std::cout << "[2/5] reading back, checking geometry, reorienting to LPS\n";
  const data::Volume ct = data::read_nifti(ct_file), igtv = data::read_nifti(igtv_file),
                     ref = data::read_nifti(ctv_file);
  data::require_same_geometry(ct.geometry, ct_file, igtv.geometry, igtv_file);
  data::require_same_geometry(ct.geometry, ct_file, ref.geometry, ctv_file);
  const data::Reorientation plan = data::plan_canonical(ct.geometry, ct_file);
  const data::Volume ct_c = data::to_canonical(ct, plan), igtv_c = data::to_canonical(igtv, plan),
                     ref_c = data::to_canonical(ref, plan);
  std::cout << "      " << plan.source_code() << " -> " << data::orientation_code(ct_c.geometry)
            << "; iGTV " << data::count_overlap(igtv.data, igtv.data).ref << " voxels, CTV "
            << data::count_overlap(ref.data, ref.data).ref << " voxels\n";

  // 3. Train a small U-Net on this one patient.
  unet3d::UNetConfig config;
  config.levels = 3;
  config.base_filters = 4;
  config.seed = o.seed;
  unet3d::UNet3D net(config);
  std::cout << "[3/5] training a smaller U-Net (" << config.levels << " levels, filters "
            << config.base_filters << "-" << config.base_filters * 4 << ", "
            << net.parameter_count().trainable() << " parameters; AM-GM loss, Adam lr " << o.lr
            << ") for " << o.steps << " steps on the CPU reference kernels\n";
  std::cout << "      (the default network of SPEC section 3, for comparison:\n"
            << indent(unet3d::describe(unet3d::UNetConfig{}), "       ") << "      )\n";
  const Var input(network_input(ct_c, igtv_c));
  const Var target(mask_tensor(ref_c));
  AdamConfig adam_config;
  adam_config.lr = o.lr;
  Adam adam(net.parameters(), adam_config);
  double first_loss = 0, last_loss = 0;
  {
    Progress progress("      training", o.steps, "steps");
    for (int step = 1; step <= o.steps; ++step) {
      adam.zero_grad();
      const Var loss = amgm_loss(net.forward(input, /*training=*/true), target);
      backward(loss);
      adam.step();
      last_loss = loss.value().item();
      if (step == 1) first_loss = last_loss;
      char note[32];
      std::snprintf(note, sizeof note, "loss %.4f", last_loss);
      progress.update(step, note);
    }
  }

  // 4. Predict: probabilities, threshold 0.5, union with the iGTV (SPEC section 3), back to
  //    the CT's own storage order and geometry.
  std::cout << "[4/5] predicting, uniting with the iGTV, writing in the CT's geometry\n";
  std::vector<float> pred_c(ct_c.data.size());
  std::int64_t igtv_covered = 0, igtv_total = 0;
  {
    InferenceMode no_tape;
    const Tensor prob = net.forward(input, /*training=*/false).value();
    const float* p = prob.data<float>();
    for (std::size_t i = 0; i < pred_c.size(); ++i) {
      const bool raw = p[i] > 0.5f, in_igtv = igtv_c.data[i] > 0.5f;
      igtv_total += in_igtv;
      igtv_covered += raw && in_igtv;
      pred_c[i] = (raw || in_igtv) ? 1.f : 0.f;
    }
  }
  const std::vector<float> pred = data::to_source(pred_c, plan);
  write_output(pred_file, ct.geometry, pred, data::VoxelType::uint8, {ct_file, igtv_file});
  std::printf("      the raw output covered %.1f%% of the iGTV\n",
              igtv_total ? 100.0 * double(igtv_covered) / double(igtv_total) : 100.0);

  // 5. Score on the CT's original grid, read back from the written file.
  std::cout << "[5/5] scoring against the reference CTV\n";
  const data::Volume written = data::read_nifti(pred_file);
  data::require_same_geometry(ct.geometry, ct_file, written.geometry, pred_file);
  const data::OverlapCounts model = data::count_overlap(written.data, ref.data);
  const data::OverlapCounts igtv_only = data::count_overlap(igtv.data, ref.data);
  std::printf("\n  %-30s %6s %9s %7s\n", "method", "DSC", "precision", "recall");
  std::printf("  %-30s %6.3f %9.3f %7.3f\n", "U-Net (trained on this patient)", model.dice(),
              model.precision(), model.recall());
  std::printf("  %-30s %6.3f %9.3f %7.3f\n", "iGTV alone (no margin)", igtv_only.dice(),
              igtv_only.precision(), igtv_only.recall());
  std::printf("\n  AM-GM loss %.4f -> %.4f over %d steps; %s in all\n", first_loss, last_loss,
              o.steps, format_duration(seconds_since(t0)).c_str());
  std::cout
      << "  files: " << ct_file.string() << ", " << igtv_file.string() << ", " << ctv_file.string()
      << ", " << pred_file.string() << " (each with a .json sidecar)\n"
      << "\n  The demo on a synthetic cohort with the shipped model: ctv demo (without --toy).\n";
  return kExitOk;
}

// Runs this very binary with `args` (a `ctv` subcommand), its output going to ours; prints the
// command first. throws UserError when it cannot start or does not exit 0.
void run_ctv(const std::vector<std::string>& args) {
  std::string shown = "ctv";
  for (const std::string& a : args) shown += " " + a;
  std::cout << "  $ " << shown << std::endl;
  std::vector<std::string> argv_s{"ctv"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ) != 0)
    throw UserError("cannot start: " + shown);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw UserError("lost: " + shown);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw UserError("this step failed (its message is above): " + shown);
}

int run_cohort_demo(const DemoOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path weights(o.weights);
  if (!fs::is_regular_file(weights))
    throw UserError(o.weights +
                    ": missing; the shipped model should be there (weights/README.md), "
                    "or name one with --weights (ctv train makes them; ctv demo --toy runs "
                    "without one)");
  const fs::path out(o.out), cohort = out / "cohort", report = out / "report";
  const bool replacing = fs::exists(cohort) || fs::exists(report);
  fs::create_directories(out);
  std::cout << "ctv demo: the shipped model on a synthetic cohort, in " << out.string()
            << (replacing ? " (replacing the previous demo's files there)" : "") << "\n\n";
  std::vector<std::string> force;
  if (replacing) force.push_back("--force");
  auto with = [&](std::vector<std::string> a) {
    a.insert(a.end(), force.begin(), force.end());
    return a;
  };

  std::cout << "[1/3] a synthetic stage III thorax cohort of " << o.n
            << " patients (84: 50 train, 10 val, 24 test, as in the paper): CT, iGTV, reference "
               "CTV and organs at risk, at 2 x 2 x 5 mm\n";
  run_ctv(with({"phantom", "--out", cohort.string(), "--spacing", "2,2,5", "--size", "208,144,64",
                "--seed", std::to_string(o.seed), "--n", std::to_string(o.n)}));
  std::cout << "\n[2/3] the model draws the CTV of the test patients (it never saw them)\n";
  run_ctv(with({"predict", "--model", weights.string(), "--cohort", cohort.string(), "--split",
                "test", "--name", "model"}));
  std::cout << "\n[3/3] scoring against the reference, beside the 5 mm and 8 mm cropped "
               "expansions: Table 1, figures, report.html\n";
  run_ctv(with({"report", "--cohort", cohort.string(), "--out", report.string()}));

  std::ifstream table(report / "table1.md");
  std::stringstream text;
  text << table.rdbuf();
  std::cout << "\n" << text.str() << "\n";
  std::cout << "ctv demo: done in " << format_duration(seconds_since(t0)) << ". Open "
            << (report / "report.html").string() << " for the box plots and overlays.\n"
            << "The model is trained on synthetic data only (weights/README.md): retrain it on "
               "your clinic's own contours (ctv train) before any clinical use.\n";
  return kExitOk;
}

}  // namespace

Command add_demo(CLI::App& root) {
  static DemoOptions o;
  CLI::App* app = root.add_subcommand(
      "demo",
      "Run the end-to-end demonstration: the shipped model on a synthetic cohort, scored "
      "against the 5 mm and 8 mm cropped expansions (--toy: one toy patient, trained and scored)");
  app->add_option("--out", o.out, "Folder for the demo's files (its own files there are replaced)")
      ->capture_default_str();
  app->add_option("--weights", o.weights, "Model to demonstrate")->capture_default_str();
  app->add_option("--n", o.n, "Patients in the synthetic cohort")
      ->capture_default_str()
      ->check(CLI::Range(4, 1000));
  app->add_flag("--toy", o.toy, "One toy patient, trained and scored on itself, instead");
  app->add_option("--steps", o.steps, "--toy: training steps")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app->add_option("--lr", o.lr, "--toy: Adam learning rate")->capture_default_str();
  app->add_option("--seed", o.seed, "Seed of the cohort (--toy: of the initial weights)")
      ->capture_default_str();
  return {app, [] { return o.toy ? run_toy_demo(o) : run_cohort_demo(o); }};
}

}  // namespace ctv::cli
