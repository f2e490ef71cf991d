// The paper's 2D elastic deformation and the background producer: identity at sigma 0,
// determinism per (seed, patient, copy), one field for every slice, CT and masks moving
// together, the spline by hand, displacement statistics at the control points, whole-pixel
// shifts exact; the producer's order, bound, thread-count independence and exceptions.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "data/elastic.h"
#include "data/producer.h"

using namespace ctv::data;

namespace {

std::size_t count(const Dim3& d) { return std::size_t(d[0]) * d[1] * d[2]; }
std::size_t index(const Dim3& d, int i, int j, int k) {
  return std::size_t(i) + std::size_t(d[0]) * (std::size_t(j) + std::size_t(d[1]) * k);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}
bool same_case(const TrainingCase& a, const TrainingCase& b) {
  return a.dim == b.dim && same_bits(a.ct, b.ct) && same_bits(a.igtv, b.igtv) &&
         same_bits(a.ctv, b.ctv);
}

// A small thorax-like case: air outside an ellipse of soft tissue with a lung, a tumour (iGTV)
// and a CTV around it, varying along z, with CT noise.
TrainingCase sample_case(const Dim3& d, std::uint32_t seed) {
  TrainingCase c;
  c.dim = d;
  c.ct.resize(count(d));
  c.igtv.resize(count(d));
  c.ctv.resize(count(d));
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.f, 20.f);
  for (int k = 0; k < d[2]; ++k)
    for (int j = 0; j < d[1]; ++j)
      for (int i = 0; i < d[0]; ++i) {
        const double x = (i - 0.5 * d[0]) / (0.45 * d[0]), y = (j - 0.5 * d[1]) / (0.4 * d[1]);
        const double tx = i - 0.6 * d[0], ty = j - 0.45 * d[1], tz = k - 0.5 * d[2];
        const double r2 = tx * tx + ty * ty + 4 * tz * tz;
        float hu = x * x + y * y < 1 ? 40.f : -1000.f;
        if (std::abs(x - 0.4) < 0.3 && std::abs(y) < 0.6) hu = -850.f;
        if (r2 < 16) hu = 30.f;
        const std::size_t n = index(d, i, j, k);
        c.ct[n] = hu + noise(rng);
        c.igtv[n] = r2 < 16 ? 1.f : 0.f;
        c.ctv[n] = r2 < 49 ? 1.f : 0.f;
      }
  return c;
}

}  // namespace

TEST_CASE("sigma 0 gives the identity exactly") {
  const TrainingCase in = sample_case({37, 29, 5}, 3);
  ElasticConfig c;
  c.sigma_px = 0;
  const ControlGrid g = draw_control_grid(c, 1, 2, 3);
  for (std::size_t i = 0; i < g.dx.size(); ++i) CHECK((g.dx[i] == 0 && g.dy[i] == 0));
  CHECK(same_case(elastic_copy(in, c, 1, 2, 3), in));
}

TEST_CASE("same seed, patient and copy give the same output; any other key differs") {
  const TrainingCase in = sample_case({41, 33, 4}, 5);
  const ElasticConfig c;
  const TrainingCase a = elastic_copy(in, c, 7, 1, 4);
  CHECK(same_case(a, elastic_copy(in, c, 7, 1, 4)));
  CHECK_FALSE(same_bits(a.ct, in.ct));
  CHECK_FALSE(same_bits(a.ct, elastic_copy(in, c, 8, 1, 4).ct));  // seed
  CHECK_FALSE(same_bits(a.ct, elastic_copy(in, c, 7, 2, 4).ct));  // patient
  CHECK_FALSE(same_bits(a.ct, elastic_copy(in, c, 7, 1, 5).ct));  // copy
  CHECK_FALSE(same_bits(a.ct, elastic_copy(in, c, 7, 4, 1).ct));  // (patient, copy) swapped
  // A copy's draws do not depend on which copies were drawn before it.
  const ControlGrid late = draw_control_grid(c, 7, 1, 4);
  for (int copy = 0; copy < 4; ++copy) (void)draw_control_grid(c, 7, 1, std::uint64_t(copy));
  const ControlGrid again = draw_control_grid(c, 7, 1, 4);
  CHECK(late.dx == again.dx);
  CHECK(late.dy == again.dy);
}

TEST_CASE("every axial slice shares the field: identical slices stay identical") {
  TrainingCase in = sample_case({45, 39, 1}, 9);
  const int nz = 6;
  TrainingCase stack;
  stack.dim = {45, 39, nz};
  for (int z = 0; z < nz; ++z) {
    stack.ct.insert(stack.ct.end(), in.ct.begin(), in.ct.end());
    stack.igtv.insert(stack.igtv.end(), in.igtv.begin(), in.igtv.end());
    stack.ctv.insert(stack.ctv.end(), in.ctv.begin(), in.ctv.end());
  }
  const TrainingCase out = elastic_copy(stack, ElasticConfig{}, 11, 0, 0);
  const std::size_t plane = 45 * 39;
  CHECK_FALSE(std::equal(out.ct.begin(), out.ct.begin() + plane, stack.ct.begin()));  // it moved
  for (int z = 1; z < nz; ++z) {
    CAPTURE(z);
    CHECK(std::equal(out.ct.begin(), out.ct.begin() + plane, out.ct.begin() + z * plane));
    CHECK(std::equal(out.ctv.begin(), out.ctv.begin() + plane, out.ctv.begin() + z * plane));
  }
  // And the one-slice volume warps to that same slice.
  CHECK(same_bits(elastic_copy(in, ElasticConfig{}, 11, 0, 0).ct,
                  std::vector<float>(out.ct.begin(), out.ct.begin() + plane)));
}

TEST_CASE("CT and masks move together: a mask drawn from a CT threshold stays consistent") {
  // A two-valued CT (tissue 100 HU, air -900 HU, and -1000 HU air filled in from outside):
  // its bilinear samples are -900 + 1000 m, m the mask's bilinear sample, so "CT > -400"
  // after the warp must be the warped mask, voxel for voxel.
  const TrainingCase base = sample_case({57, 43, 3}, 13);
  TrainingCase in;
  in.dim = base.dim;
  in.igtv = base.ctv;
  for (float m : in.igtv) in.ct.push_back(m > 0.5f ? 100.f : -900.f);
  ElasticConfig c;
  c.ct_fill_hu = -900;
  c.sigma_px = 6;
  std::size_t mismatched = 0, inside = 0;
  for (std::uint64_t copy = 0; copy < 5; ++copy) {
    const TrainingCase out = elastic_copy(in, c, 21, 3, copy);
    for (std::size_t n = 0; n < out.ct.size(); ++n) {
      mismatched += (out.ct[n] > -400.f) != (out.igtv[n] > 0.5f);
      inside += out.igtv[n] > 0.5f;
    }
    CHECK_FALSE(same_bits(out.igtv, in.igtv));
  }
  CHECK(inside > 100);
  CHECK(mismatched == 0);
}

TEST_CASE("natural cubic spline by hand, and the displacement direction") {
  const int nx = 9, ny = 5;  // control points at x = 0, 4, 8 and y = 0, 2, 4
  ControlGrid g;
  g.points = 3;
  g.dx.assign(9, 0.0);
  g.dy.assign(9, 0.0);
  g.dx[4] = 1;  // the centre point only
  const DisplacementField f = interpolate_control_grid(g, nx, ny);
  // Along the centre row: knots y = (0, 1, 0), M1 = 6 (0 - 2 + 0) / 4 = -3; halfway to the
  // centre (u = 0.5): 0.5 + (0.125 - 0.5) (-3) / 6 = 0.6875.
  CHECK(f.dx[2 + nx * 2] == doctest::Approx(0.6875).epsilon(1e-7));
  CHECK(f.dx[4 + nx * 2] == 1.f);
  CHECK(f.dx[0 + nx * 2] == 0.f);
  CHECK(f.dx[2 + nx * 1] == doctest::Approx(0.6875 * 0.6875).epsilon(1e-7));  // tensor product
  for (float v : f.dy) CHECK(v == 0.f);

  // A uniform grid is a uniform shift; whole pixels are copied exactly, fill coming in.
  g.dx.assign(9, 2.0);
  g.dy.assign(9, -1.0);
  const DisplacementField shift = interpolate_control_grid(g, nx, ny);
  const Dim3 d{nx, ny, 2};
  std::vector<float> v(count(d));
  for (std::size_t n = 0; n < v.size(); ++n) v[n] = float(n) * 0.37f;
  const std::vector<float> out = warp_slices(v, d, shift, -5.f);
  std::size_t wrong = 0;
  for (int k = 0; k < d[2]; ++k)
    for (int j = 0; j < ny; ++j)
      for (int i = 0; i < nx; ++i) {
        const int si = i + 2, sj = j - 1;  // output (x, y) reads input (x + dx, y + dy)
        const float want = si < nx && sj >= 0 ? v[index(d, si, sj, k)] : -5.f;
        wrong += out[index(d, i, j, k)] != want;
      }
  CHECK(wrong == 0);
  // Half a pixel: the mean of two neighbours.
  g.dx.assign(9, 0.5);
  g.dy.assign(9, 0.0);
  const std::vector<float> half = warp_slices(v, d, interpolate_control_grid(g, nx, ny), 0.f);
  CHECK(half[index(d, 3, 2, 1)] ==
        doctest::Approx(0.5 * (v[index(d, 3, 2, 1)] + v[index(d, 4, 2, 1)])));
}

TEST_CASE("displacement statistics match sigma at the control points") {
  ElasticConfig c;
  c.sigma_px = 7.5;
  const int nx = 21, ny = 17;  // odd: every control point sits on a pixel
  double s1 = 0, s2 = 0, cross = 0;
  std::size_t n = 0, off_point = 0;
  for (std::uint64_t copy = 0; copy < 800; ++copy) {
    const ControlGrid g = draw_control_grid(c, 99, copy % 7, copy);
    const DisplacementField f = interpolate_control_grid(g, nx, ny);
    for (int q = 0; q < 3; ++q)
      for (int p = 0; p < 3; ++p) {
        const std::size_t cp = std::size_t(p + 3 * q);
        const std::size_t px = std::size_t(p * (nx - 1) / 2 + nx * (q * (ny - 1) / 2));
        off_point += std::abs(f.dx[px] - g.dx[cp]) > 1e-5 || std::abs(f.dy[px] - g.dy[cp]) > 1e-5;
        s1 += f.dx[px] + f.dy[px];
        s2 += double(f.dx[px]) * f.dx[px] + double(f.dy[px]) * f.dy[px];
        cross += double(f.dx[px]) * f.dy[px];
        n += 2;
      }
  }
  CHECK(off_point == 0);  // the field interpolates the control values
  const double mean = s1 / double(n), sd = std::sqrt(s2 / double(n) - mean * mean);
  MESSAGE(n << " control displacements: mean " << mean << " px, sd " << sd << " px (sigma "
            << c.sigma_px << ")");
  CHECK(std::abs(mean) < 4 * c.sigma_px / std::sqrt(double(n)));
  CHECK(sd == doctest::Approx(c.sigma_px).epsilon(0.03));
  CHECK(std::abs(cross / double(n / 2)) < 0.05 * c.sigma_px * c.sigma_px);  // dx, dy independent
}

TEST_CASE("elastic config faults and refused inputs") {
  ElasticConfig c;
  CHECK(elastic_config_fault(c).empty());
  c.sigma_px = -1;
  CHECK_FALSE(elastic_config_fault(c).empty());
  CHECK_THROWS_AS(draw_control_grid(c, 1, 1, 1), std::invalid_argument);
  c = {};
  c.control_points = 1;
  CHECK(elastic_config_fault(c) == "elastic control points 1 is not in 2..64");
  TrainingCase bad = sample_case({9, 9, 2}, 1);
  bad.igtv.pop_back();
  CHECK_THROWS_AS(elastic_copy(bad, ElasticConfig{}, 1, 1, 1), std::invalid_argument);
  const DisplacementField f = interpolate_control_grid(draw_control_grid({}, 1, 1, 1), 8, 8);
  CHECK_THROWS_AS(warp_slices(std::vector<float>(9 * 8 * 2), {9, 8, 2}, f, 0.f),
                  std::invalid_argument);
}

TEST_CASE("full size: one elastic copy of a 416x288x128 case (CT, iGTV, CTV), one core") {
  const Dim3 d{416, 288, 128};
  TrainingCase in;
  in.dim = d;
  in.ct.assign(count(d), -1000.f);
  in.igtv.assign(count(d), 0.f);
  in.ctv.assign(count(d), 0.f);
  for (int k = 20; k < 108; ++k)
    for (int j = 60; j < 228; ++j)
      for (int i = 100; i < 316; ++i) {
        in.ct[index(d, i, j, k)] = 40.f;
        in.ctv[index(d, i, j, k)] = 1.f;
      }
  const auto t0 = std::chrono::steady_clock::now();
  const TrainingCase out = elastic_copy(in, ElasticConfig{}, 2021, 0, 0);
  const auto t1 = std::chrono::steady_clock::now();
  MESSAGE("416x288x128, CT + iGTV + CTV: " << std::chrono::duration<double>(t1 - t0).count()
                                           << " s per copy");
  // Constant regions stay exactly constant: air at the corner, tissue at the centre.
  CHECK(out.ct[index(d, 0, 0, 64)] == -1000.f);
  CHECK(out.ct[index(d, 208, 144, 64)] == 40.f);
  CHECK(out.ctv[index(d, 208, 144, 64)] == 1.f);
  CHECK(out.ct[index(d, 208, 144, 5)] == -1000.f);  // slices outside the block stay air
  CHECK_FALSE(same_bits(out.ctv, in.ctv));
}

// ---- the producer ---------------------------------------------------------------------------

namespace {

struct Job {
  std::uint64_t patient, copy;
};

std::vector<Job> jobs(int patients, int copies) {
  std::vector<Job> j;
  for (int p = 0; p < patients; ++p)
    for (int c = 0; c < copies; ++c) j.push_back({std::uint64_t(p), std::uint64_t(c)});
  return j;
}

}  // namespace

TEST_CASE("producer: job order and identical results with 1 and 4 threads") {
  std::vector<TrainingCase> patients;
  for (std::uint32_t p = 0; p < 3; ++p) patients.push_back(sample_case({33, 27, 3}, 40 + p));
  const ElasticConfig c;
  auto make = [&](const Job& j) {
    return elastic_copy(patients[j.patient], c, 5, j.patient, j.copy);
  };
  const std::vector<Job> list = jobs(3, 4);
  std::vector<TrainingCase> serial;
  for (const Job& j : list) serial.push_back(make(j));

  for (const int threads : {1, 4}) {
    CAPTURE(threads);
    OrderedProducer<Job, TrainingCase> producer(list, make, threads);
    std::size_t i = 0;
    while (std::optional<TrainingCase> r = producer.next()) {
      REQUIRE(i < serial.size());
      CHECK(same_case(*r, serial[i]));
      ++i;
    }
    CHECK(i == list.size());
    CHECK_FALSE(producer.next().has_value());
  }
}

TEST_CASE("producer: delivers in order whatever order jobs finish in, within its bound") {
  // Later jobs finish first (earlier ones sleep longer) and the consumer is slow, so workers
  // run as far ahead as they may: delivery must still follow job order, and no job may start
  // `capacity` or more ahead of what the producer has delivered.
  using Producer = OrderedProducer<int, int>;
  const int n = 24, capacity = 3;
  std::atomic<int> started{0}, worst_ahead{0};
  std::atomic<const Producer*> self{nullptr};  // null until constructed: nothing delivered yet
  std::vector<int> list(n);
  for (int i = 0; i < n; ++i) list[i] = i;
  Producer producer(
      list,
      [&](const int& i) {
        ++started;
        const Producer* p = self.load();
        const int ahead = i - int(p ? p->delivered() : 0);
        int w = worst_ahead.load();
        while (ahead > w && !worst_ahead.compare_exchange_weak(w, ahead)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2 * ((n - i) % 5)));
        return i * i;
      },
      4, capacity);
  self = &producer;
  for (int i = 0; i < n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const std::optional<int> r = producer.next();
    REQUIRE(r.has_value());
    CHECK(*r == i * i);
  }
  CHECK_FALSE(producer.next().has_value());
  CHECK(started.load() == n);
  CHECK(worst_ahead.load() <= capacity - 1);  // job i starts only when i < delivered + capacity
  CHECK(worst_ahead.load() >= 1);             // and workers did run ahead
}

TEST_CASE("producer: a worker's exception reaches the consumer, in its turn, unchanged") {
  for (const int threads : {1, 4}) {
    CAPTURE(threads);
    OrderedProducer<Job, int> producer(
        jobs(2, 5),
        [](const Job& j) {
          if (j.patient == 1 && j.copy == 2)
            throw std::runtime_error("patient 1 copy 2: CT and iGTV grids differ");
          return int(10 * j.patient + j.copy);
        },
        threads);
    for (int i = 0; i < 7; ++i) {  // the five copies of patient 0, then copies 0 and 1
      const std::optional<int> r = producer.next();
      REQUIRE(r.has_value());
      CHECK(*r == (i < 5 ? i : 10 + i - 5));
    }
    CHECK_THROWS_WITH_AS(producer.next(), "patient 1 copy 2: CT and iGTV grids differ",
                         std::runtime_error);
    CHECK_THROWS_AS(producer.next(), std::runtime_error);  // and stays failed
  }
}

TEST_CASE("producer: stops cleanly with results undelivered, and refuses bad arguments") {
  std::atomic<int> made{0};
  {
    OrderedProducer<int, std::vector<float>> producer(
        std::vector<int>(1000, 1),
        [&](const int&) {
          ++made;
          return std::vector<float>(1000, 1.f);
        },
        3, 4);
    CHECK(producer.next().has_value());
  }  // destroyed with jobs left: must join, not hang, not make them all
  CHECK(made.load() < 1000);
  auto f = [](const int& i) { return i; };
  CHECK_THROWS_AS((OrderedProducer<int, int>({1}, f, 0)), std::invalid_argument);
  CHECK_THROWS_AS((OrderedProducer<int, int>({1}, nullptr, 1)), std::invalid_argument);
  OrderedProducer<int, int> empty({}, f, 2);
  CHECK_FALSE(empty.next().has_value());
}
