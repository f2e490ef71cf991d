// Training configuration (unet3d/train_config.h) and the model-selection rule
// (unet3d/trainer.h): JSON round trip, partial JSON on top of defaults, refusals naming the
// key, and the earliest-saturation rule on hand-made validation curves.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "unet3d/train_config.h"
#include "unet3d/trainer.h"

using namespace ctv;
using namespace ctv::unet3d;

namespace {

std::string error_of(const std::string& json) {
  try {
    parse_train_config(json, TrainConfig{}, "cfg.json");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("train config: defaults are SPEC section 3's and round-trip through JSON") {
  const TrainConfig d;
  CHECK(d.fault().empty());
  CHECK(d.model.levels == 5);
  CHECK(d.model.base_filters == 16);
  CHECK(d.loss == LossKind::amgm);
  CHECK(d.elastic);
  CHECK(d.copies == 20);
  CHECK(d.optimizer.lr == 1e-4);
  CHECK(d.selection_window == 10);
  CHECK(d.selection_delta == 0.001);
  CHECK(d.data.grid == data::Dim3{416, 288, 128});

  TrainConfig c;
  c.model.levels = 3;
  c.model.filters = {4, 8, 12};
  c.data.grid = {64, 48, 32};
  c.data.spacing = {2, 2, 3.5};
  c.data.crop = data::CropRule::igtv_centroid;
  c.loss = LossKind::wbce;
  c.wbce_background_weight = 0.25;
  c.elastic = false;
  c.copies = 3;
  c.sigma_px = 7.5;
  c.optimizer.lr = 3e-4;
  c.batch = 2;
  c.epochs = 17;
  c.seed = 123456789012345ull;
  c.selection_window = 4;
  c.selection_delta = 0.01;
  c.stop_when_saturated = false;
  c.checkpoint_every_steps = 5;
  const std::string text = to_json(c);
  const TrainConfig back = parse_train_config(text, TrainConfig{}, "x");
  CHECK(to_json(back) == text);
  CHECK(back.seed == c.seed);
  CHECK(back.model.seed == c.seed);
  CHECK(back.model.filters == c.model.filters);
  CHECK(back.data.crop == data::CropRule::igtv_centroid);
}

TEST_CASE("train config: a partial JSON keeps the other values") {
  const TrainConfig c =
      parse_train_config(R"({"epochs": 3, "elastic": {"copies": 2}})", TrainConfig{}, "x");
  CHECK(c.epochs == 3);
  CHECK(c.copies == 2);
  CHECK(c.elastic);
  CHECK(c.model.levels == 5);
}

TEST_CASE("train config: refusals name the file and the key") {
  CHECK(error_of("{").find("cfg.json: not valid JSON") == 0);
  CHECK(error_of(R"({"batchsize": 2})") == "cfg.json: \"batchsize\" is not a known key");
  CHECK(error_of(R"({"elastic": {"sigma": 2}})") ==
        "cfg.json: \"elastic.sigma\" is not a known key");
  CHECK(error_of(R"({"batch": "2"})") == "cfg.json: \"batch\" must be an integer");
  CHECK(error_of(R"({"batch": 0})").find("batch 0 is not in 1..1024") != std::string::npos);
  CHECK(error_of(R"({"loss": "dice"})") == "cfg.json: \"loss\" 'dice' is not amgm, bce or wbce");
  CHECK(error_of(R"({"data": {"grid": [64, 48]}})") ==
        "cfg.json: \"data.grid\" must be an array of 3");
  CHECK(error_of(R"({"data": {"grid": [60, 48, 32]}})").find("is not a multiple of 16") !=
        std::string::npos);
  CHECK(error_of(R"({"seed": -1})") == "cfg.json: \"seed\" must be an integer >= 0");
  CHECK(error_of(R"({"optimizer": {"lr": 0}})").find("optimizer.lr must be > 0") !=
        std::string::npos);
}

TEST_CASE("model selection: the earliest epoch at which the validation loss saturated") {
  ModelSelection s(/*window=*/3, /*delta=*/0.01);
  // Improves by more than delta at 1, 2, 4; epoch 5 improves by less than delta on 4; then
  // nothing for three epochs after 4: saturated at epoch 7 with epoch 4 selected.
  const double v[] = {0.9, 0.8, 0.805, 0.7, 0.695, 0.71, 0.699};
  const bool became[] = {true, true, false, true, false, false, false};
  const bool saturated[] = {false, false, false, false, false, false, true};
  for (int e = 1; e <= 7; ++e) {
    CAPTURE(e);
    CHECK(s.observe(e, v[e - 1]) == became[e - 1]);
    CHECK(s.saturated() == saturated[e - 1]);
  }
  CHECK(s.candidate() == 4);
  CHECK(s.candidate_value() == 0.7);

  ModelSelection r(3, 0.01);  // restored mid-run, it goes on as the original
  r.restore(4, 0.7, false);
  CHECK_FALSE(r.observe(8, 0.695));
  CHECK(r.saturated());
  CHECK(r.observe(9, 0.5));
  CHECK_FALSE(r.saturated());
  CHECK(r.candidate() == 9);
}
