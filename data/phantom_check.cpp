// The synthetic cohort's own report (what is measured is stated in data/phantom_check.h).
#include "data/phantom_check.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "data/expansion.h"
#include "data/metrics.h"
#include "data/overlap.h"

namespace ctv::data::phantom {

namespace {

double dice_u8(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  std::int64_t na = 0, nb = 0, both = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    na += a[i];
    nb += b[i];
    both += a[i] & b[i];
  }
  return na + nb == 0 ? 1.0 : 2.0 * double(both) / double(na + nb);
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// "mean +- sd | median [min, max]" of finite values.
std::string stats(const std::vector<double>& v, const char* f = "%.3f") {
  const Summary s = summarize(v);
  return fmt(f, s.mean) + " +- " + fmt(f, s.sd) + "; " + fmt(f, s.median) + " [" + fmt(f, s.min) +
         ", " + fmt(f, s.max) + "]";
}

}  // namespace

PatientCheck check_patient(const PhantomPatient& p, const CohortSlot& slot) {
  PatientCheck c;
  c.slot = slot;
  c.features = p.features;
  const Geometry& g = p.geometry;
  const double cm3 = g.voxel_volume_mm3() / 1000;
  std::int64_t ni = 0, nc = 0;
  for (std::size_t i = 0; i < p.igtv.size(); ++i) {
    ni += p.igtv[i];
    nc += p.ctv[i];
  }
  c.igtv_cm3 = double(ni) * cm3;
  c.ctv_cm3 = double(nc) * cm3;
  c.rule_dice = dice_u8(reference_ctv(p, false), p.ctv);

  // Box around the iGTV and the CTV, padded beyond the largest swept margin.
  std::array<int, 3> lo{g.dim[0], g.dim[1], g.dim[2]}, hi{-1, -1, -1};
  std::size_t idx = 0;
  for (int k = 0; k < g.dim[2]; ++k)
    for (int j = 0; j < g.dim[1]; ++j)
      for (int i = 0; i < g.dim[0]; ++i, ++idx)
        if (p.igtv[idx] || p.ctv[idx]) {
          const int v[3] = {i, j, k};
          for (int a = 0; a < 3; ++a) {
            lo[a] = std::min(lo[a], v[a]);
            hi[a] = std::max(hi[a], v[a]);
          }
        }
  std::array<int, 3> dim{};
  for (int a = 0; a < 3; ++a) {
    const int pad = int(std::ceil((kSweepLastMm + 2) / g.spacing[a])) + 1;
    lo[a] = std::max(0, lo[a] - pad);
    hi[a] = std::min(g.dim[a] - 1, hi[a] + pad);
    dim[a] = hi[a] - lo[a] + 1;
  }
  Eigen::Matrix4d affine = g.affine;
  affine.block<4, 1>(0, 3) = g.affine * Eigen::Vector4d(lo[0], lo[1], lo[2], 1);
  const Geometry sub = make_geometry(dim, affine);
  auto crop = [&](const std::vector<std::uint8_t>& full) {
    Volume v;
    v.geometry = sub;
    v.data.resize(sub.voxel_count());
    std::size_t q = 0;
    for (int k = 0; k < dim[2]; ++k)
      for (int j = 0; j < dim[1]; ++j)
        for (int i = 0; i < dim[0]; ++i, ++q)
          v.data[q] = full[std::size_t(lo[0] + i) +
                           std::size_t(g.dim[0]) *
                               (std::size_t(lo[1] + j) + std::size_t(g.dim[1]) * (lo[2] + k))];
    return v;
  };
  const Volume igtv = crop(p.igtv), ref = crop(p.ctv), body = crop(p.oars[5]);
  const Volume heart = crop(p.oars[0]), eso = crop(p.oars[1]), gv = crop(p.oars[2]),
               vert = crop(p.oars[3]);
  const std::vector<const Volume*> crops{&heart, &eso, &gv, &vert};
  for (int m = kSweepFirstMm; m <= kSweepLastMm; ++m) {
    const ExpansionResult r = expand_igtv(igtv, Margins::uniform(m), crops, &body);
    c.uniform_dice[std::size_t(m - kSweepFirstMm)] = count_overlap(r.mask, ref.data).dice();
    if (m == 5 || m == 8) {
      const Metrics mt = compute_metrics(r.mask, ref.data, sub);
      (m == 5 ? c.dice5 : c.dice8) = mt.dice;
      (m == 5 ? c.msd5 : c.msd8) = mt.median_surface_distance_mm;
    }
  }

  for (std::size_t i = 0; i < p.ct.size(); ++i) {
    const int bin = std::clamp(int(std::floor((p.ct[i] - kHistogramLow) / kHistogramBin)), 0,
                               kHistogramBins - 1);
    ++c.histogram[p.tissue[i]][std::size_t(bin)];
  }
  return c;
}

CohortCheck summarize_check(const std::vector<PatientCheck>& checks) {
  CohortCheck s;
  if (checks.empty()) return s;
  s.rule_dice_min = 1;
  for (const PatientCheck& c : checks) {
    s.rule_dice_mean += c.rule_dice / double(checks.size());
    s.rule_dice_min = std::min(s.rule_dice_min, c.rule_dice);
    for (int m = 0; m < kSweepCount; ++m)
      s.uniform_dice_mean[std::size_t(m)] += c.uniform_dice[std::size_t(m)] / double(checks.size());
  }
  for (int m = 0; m < kSweepCount; ++m)
    if (s.uniform_dice_mean[std::size_t(m)] > s.best_uniform_dice) {
      s.best_uniform_dice = s.uniform_dice_mean[std::size_t(m)];
      s.best_margin_mm = kSweepFirstMm + m;
    }
  s.rule_ok = s.rule_dice_mean >= 0.95;
  s.uniform_ok = s.best_uniform_dice < 0.85;
  return s;
}

std::string check_markdown(const std::vector<PatientCheck>& checks, const CohortCheck& s,
                           const PhantomConfig& config) {
  std::ostringstream os;
  int right = 0, glass = 0, with_nodes = 0, at_risk = 0;
  std::vector<double> motion, igtv, ctv;
  for (const PatientCheck& c : checks) {
    right += c.slot.side == "right";
    glass += c.features.ground_glass;
    with_nodes += c.features.involved_nodes > 0;
    at_risk += c.features.at_risk_nodes_included > 0;
    motion.push_back(c.features.motion_mm);
    igtv.push_back(c.igtv_cm3);
    ctv.push_back(c.ctv_cm3);
  }
  os << "# Synthetic cohort check\n\n"
     << checks.size() << " patients (" << right << " right, " << checks.size() - right
     << " left), seed " << config.seed << ", grid " << config.size[0] << " x " << config.size[1]
     << " x " << config.size[2] << " voxels of " << config.spacing[0] << " x " << config.spacing[1]
     << " x " << config.spacing[2] << " mm, observer variation "
     << (config.observer_variation ? "on" : "off") << ".\n\n"
     << "Statistics are mean +- sample sd; median [min, max].\n\n"
     << "## Cohort\n\n"
     << "- ground-glass halo (adenocarcinoma-like): " << glass << "\n"
     << "- involved nodes (nodal GTV): " << with_nodes << " patients\n"
     << "- at-risk nodes taken into the CTV: " << at_risk << " patients\n"
     << "- motion amplitude (mm): " << stats(motion, "%.1f") << "\n"
     << "- iGTV (cm3): " << stats(igtv, "%.1f") << "\n"
     << "- reference CTV (cm3): " << stats(ctv, "%.1f") << "\n\n";

  std::vector<double> rule;
  for (const PatientCheck& c : checks) rule.push_back(c.rule_dice);
  os << "## The rule recovers the reference\n\n"
     << "Dice of the CTV rule with the observer variation switched off against the reference, "
        "all patients: "
     << stats(rule) << ". Requirement: mean >= 0.95: **" << (s.rule_ok ? "pass" : "FAIL")
     << "**.\n\n";

  os << "## A uniform cropped expansion cannot match it\n\n"
     << "Uniform margin, cropped at heart, esophagus, great_vessels, vertebrae, within the body "
        "(data/expansion.h), against the reference: mean Dice.\n\n"
     << "| margin (mm) | all patients | test patients |\n|---|---|---|\n";
  for (int m = 0; m < kSweepCount; ++m) {
    double test_sum = 0;
    int test_n = 0;
    for (const PatientCheck& c : checks)
      if (c.slot.split == "test") {
        test_sum += c.uniform_dice[std::size_t(m)];
        ++test_n;
      }
    os << "| " << kSweepFirstMm + m << " | " << fmt("%.3f", s.uniform_dice_mean[std::size_t(m)])
       << " | " << (test_n ? fmt("%.3f", test_sum / test_n) : std::string("-")) << " |\n";
  }
  os << "\nBest uniform margin: " << s.best_margin_mm << " mm, mean Dice "
     << fmt("%.3f", s.best_uniform_dice) << ". Requirement: < 0.85: **"
     << (s.uniform_ok ? "pass" : "FAIL") << "**.\n\n";

  std::vector<double> d5, d8, m5, m8;
  for (const PatientCheck& c : checks)
    if (c.slot.split == "test") {
      d5.push_back(c.dice5);
      d8.push_back(c.dice8);
      m5.push_back(c.msd5);
      m8.push_back(c.msd8);
    }
  os << "## 5 mm and 8 mm cropped expansions on the " << d5.size() << " test patients\n\n"
     << "| method | Dice | median surface distance (mm) |\n|---|---|---|\n"
     << "| expand5 | " << stats(d5) << " | " << stats(m5, "%.2f") << " |\n"
     << "| expand8 | " << stats(d8) << " | " << stats(m8, "%.2f") << " |\n\n"
     << "Xie et al. (2021) report median surface distances of 1.9 mm and 2.0 mm for the 5 mm and "
        "8 mm expansions on their patients.\n\n";

  os << "## CT numbers per tissue (HU)\n\n"
     << "From the written CT (after blur and noise), pooled over all patients; the label is the "
        "tissue the voxel holds (the tumour where it is at least half the breathing cycle). "
        "Percentiles at 10 HU resolution. Full histograms: phantom_hu.csv.\n\n"
     << "| tissue | voxels | mean | sd | p5 | median | p95 | SPEC table |\n"
     << "|---|---|---|---|---|---|---|---|\n";
  for (int t = 0; t < kTissueCount; ++t) {
    std::array<std::int64_t, kHistogramBins> h{};
    for (const PatientCheck& c : checks)
      for (int b = 0; b < kHistogramBins; ++b)
        h[std::size_t(b)] += c.histogram[std::size_t(t)][std::size_t(b)];
    std::int64_t total = 0;
    double sum = 0, sum2 = 0;
    for (int b = 0; b < kHistogramBins; ++b) {
      const double centre = kHistogramLow + (b + 0.5) * kHistogramBin;
      total += h[std::size_t(b)];
      sum += double(h[std::size_t(b)]) * centre;
      sum2 += double(h[std::size_t(b)]) * centre * centre;
    }
    if (total == 0) continue;
    auto pct = [&](double q) {
      std::int64_t acc = 0;
      for (int b = 0; b < kHistogramBins; ++b) {
        acc += h[std::size_t(b)];
        if (double(acc) >= q * double(total)) return kHistogramLow + (b + 0.5) * kHistogramBin;
      }
      return kHistogramLow + kHistogramBins * kHistogramBin;
    };
    const double mean = sum / double(total);
    const double sd = std::sqrt(std::max(0.0, sum2 / double(total) - mean * mean));
    os << "| " << tissue_name(Tissue(t)) << " | " << total << " | " << fmt("%.0f", mean) << " | "
       << fmt("%.0f", sd) << " | " << fmt("%.0f", pct(0.05)) << " | " << fmt("%.0f", pct(0.5))
       << " | " << fmt("%.0f", pct(0.95)) << " | " << tissue_expected_hu(Tissue(t)) << " |\n";
  }
  return os.str();
}

std::string check_csv(const std::vector<PatientCheck>& checks) {
  std::ostringstream os;
  os << "patient,side,split,ground_glass,involved_nodes,at_risk_nodes_included,motion_mm,"
        "igtv_cm3,ctv_cm3,rule_dice";
  for (int m = kSweepFirstMm; m <= kSweepLastMm; ++m) os << ",dice_uniform_" << m << "mm";
  os << ",msd_expand5_mm,msd_expand8_mm\n";
  for (const PatientCheck& c : checks) {
    os << c.slot.id << "," << c.slot.side << "," << c.slot.split << ","
       << (c.features.ground_glass ? 1 : 0) << "," << c.features.involved_nodes << ","
       << c.features.at_risk_nodes_included << "," << fmt("%.2f", c.features.motion_mm) << ","
       << fmt("%.3f", c.igtv_cm3) << "," << fmt("%.3f", c.ctv_cm3) << ","
       << fmt("%.5f", c.rule_dice);
    for (double d : c.uniform_dice) os << "," << fmt("%.5f", d);
    os << "," << fmt("%.4f", c.msd5) << "," << fmt("%.4f", c.msd8) << "\n";
  }
  return os.str();
}

std::string histogram_csv(const std::vector<PatientCheck>& checks) {
  std::ostringstream os;
  os << "tissue,bin_low_hu,bin_high_hu,voxels\n";
  for (int t = 0; t < kTissueCount; ++t)
    for (int b = 0; b < kHistogramBins; ++b) {
      std::int64_t n = 0;
      for (const PatientCheck& c : checks) n += c.histogram[std::size_t(t)][std::size_t(b)];
      if (n == 0) continue;
      os << tissue_name(Tissue(t)) << "," << kHistogramLow + b * kHistogramBin << ","
         << kHistogramLow + (b + 1) * kHistogramBin << "," << n << "\n";
    }
  return os.str();
}

}  // namespace ctv::data::phantom
