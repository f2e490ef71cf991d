#include "tools/figures.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <stdexcept>

#include "data/metrics.h"

namespace ctv::cli {

namespace {

using SurfacePtr = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;
using ContextPtr = std::unique_ptr<cairo_t, decltype(&cairo_destroy)>;

constexpr const char* kFont = "DejaVu Sans";  // Debian's default sans font; any sans will do

SurfacePtr new_surface(int width, int height, cairo_format_t format = CAIRO_FORMAT_RGB24) {
  SurfacePtr s(cairo_image_surface_create(format, width, height), cairo_surface_destroy);
  if (cairo_surface_status(s.get()) != CAIRO_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cannot make a ") + std::to_string(width) + "x" +
                             std::to_string(height) +
                             " image: " + cairo_status_to_string(cairo_surface_status(s.get())));
  return s;
}

ContextPtr new_context(cairo_surface_t* surface) {
  ContextPtr c(cairo_create(surface), cairo_destroy);
  if (cairo_status(c.get()) != CAIRO_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cannot draw: ") +
                             cairo_status_to_string(cairo_status(c.get())));
  cairo_select_font_face(c.get(), kFont, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  return c;
}

cairo_status_t append_png_bytes(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

std::string png_bytes(cairo_t* cr, cairo_surface_t* surface) {
  if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
    throw std::runtime_error(std::string("drawing failed: ") +
                             cairo_status_to_string(cairo_status(cr)));
  cairo_surface_flush(surface);
  std::string png;
  const cairo_status_t st = cairo_surface_write_to_png_stream(surface, append_png_bytes, &png);
  if (st != CAIRO_STATUS_SUCCESS)
    throw std::runtime_error(std::string("PNG encoding failed: ") + cairo_status_to_string(st));
  return png;
}

void set_colour(cairo_t* cr, const Rgb& c, double alpha = 1) {
  cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
}

enum class Align { left, centre, right };

// Text with its baseline at y; x is its left edge, centre or right edge.
void text(cairo_t* cr, const std::string& s, double x, double y, double size, Align align) {
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  const double dx = align == Align::left     ? 0
                    : align == Align::centre ? -e.x_advance / 2
                                             : -e.x_advance;
  cairo_move_to(cr, x + dx, y);
  cairo_show_text(cr, s.c_str());
}

std::string tick_label(double v, double step) {
  const int decimals = std::max(0, int(std::ceil(-std::log10(step) - 1e-9)));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", std::min(decimals, 6), v);
  return std::string(buf) == "-0" ? "0" : buf;
}

// A step of 1, 2 or 5 times a power of ten giving about `target` intervals over [lo, hi].
double nice_step(double lo, double hi, int target) {
  const double raw = (hi - lo) / target;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

void draw_box_panel(cairo_t* cr, const BoxPanel& panel, double x0, double y0, double w, double h) {
  constexpr double kLeft = 52, kBottom = 34, kTop = 28, kRight = 8;
  const double px0 = x0 + kLeft, px1 = x0 + w - kRight, py0 = y0 + kTop, py1 = y0 + h - kBottom;

  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const BoxSeries& s : panel.series)
    for (double v : s.values)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-12)
    lo -= 0.5 * std::max(1e-3, std::fabs(lo)), hi += 0.5 * std::max(1e-3, std::fabs(hi));
  const double pad = 0.06 * (hi - lo);
  lo -= pad, hi += pad;
  const double step = nice_step(lo, hi, 5);
  const auto y_of = [&](double v) { return py1 - (v - lo) / (hi - lo) * (py1 - py0); };

  cairo_set_source_rgb(cr, 0, 0, 0);
  text(cr, panel.title, (px0 + px1) / 2, y0 + 18, 13, Align::centre);
  // Grid and tick labels.
  cairo_set_line_width(cr, 1);
  for (double t = std::ceil(lo / step) * step; t <= hi + 1e-9 * step; t += step) {
    const double y = std::round(y_of(t)) + 0.5;
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_move_to(cr, px0, y);
    cairo_line_to(cr, px1, y);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    text(cr, tick_label(t, step), px0 - 5, y + 4, 10, Align::right);
  }
  cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
  cairo_rectangle(cr, px0 + 0.5, py0 + 0.5, px1 - px0 - 1, py1 - py0 - 1);
  cairo_stroke(cr);

  const std::size_t n = panel.series.size();
  const double slot = (px1 - px0) / double(std::max<std::size_t>(n, 1));
  for (std::size_t i = 0; i < n; ++i) {
    const BoxSeries& s = panel.series[i];
    const double cx = px0 + slot * (double(i) + 0.5), bw = std::min(28.0, slot * 0.4);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text(cr, s.label, cx, py1 + 16, 11, Align::centre);
    std::vector<double> v;
    for (double x : s.values)
      if (std::isfinite(x)) v.push_back(x);
    if (v.empty()) {
      cairo_set_source_rgb(cr, 0.4, 0.4, 0.4);
      text(cr, "n/a", cx, (py0 + py1) / 2, 11, Align::centre);
      continue;
    }
    const double q1 = data::percentile_linear(v, 25), med = data::percentile_linear(v, 50),
                 q3 = data::percentile_linear(v, 75), iqr = q3 - q1;
    double wlo = q1, whi = q3;
    for (double x : v) {
      if (x >= q1 - 1.5 * iqr) wlo = std::min(wlo, x);
      if (x <= q3 + 1.5 * iqr) whi = std::max(whi, x);
    }
    // Whiskers, box, median.
    cairo_set_line_width(cr, 1.2);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    for (const auto& [from, to] : {std::pair{q1, wlo}, std::pair{q3, whi}}) {
      cairo_move_to(cr, cx, y_of(from));
      cairo_line_to(cr, cx, y_of(to));
      cairo_move_to(cr, cx - bw / 4, y_of(to));
      cairo_line_to(cr, cx + bw / 4, y_of(to));
    }
    cairo_stroke(cr);
    cairo_rectangle(cr, cx - bw / 2, y_of(q3), bw, std::max(1.0, y_of(q1) - y_of(q3)));
    set_colour(cr, s.colour, 0.55);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    cairo_stroke(cr);
    cairo_set_line_width(cr, 2.2);
    cairo_move_to(cr, cx - bw / 2, y_of(med));
    cairo_line_to(cr, cx + bw / 2, y_of(med));
    cairo_stroke(cr);
    // Outliers as open circles; every value as a dot beside the box (a fixed spread, so the
    // figure is the same at every run).
    cairo_set_line_width(cr, 1);
    for (double x : v)
      if (x < wlo || x > whi) {
        cairo_new_sub_path(cr);
        cairo_arc(cr, cx, y_of(x), 3, 0, 2 * M_PI);
      }
    cairo_stroke(cr);
    set_colour(cr, s.colour);
    for (std::size_t k = 0; k < v.size(); ++k) {
      const double dx = bw / 2 + 6 + 3.0 * double(k % 4);
      cairo_new_sub_path(cr);
      cairo_arc(cr, cx + dx, y_of(v[k]), 1.8, 0, 2 * M_PI);
    }
    cairo_fill(cr);
  }
}

// ---- tri-planar views -------------------------------------------------------------------

// One 2D view of the canonical volume: displayed column a and row b map to voxel coordinates
// along axis_u and axis_v; the third axis is fixed at the centre.
struct View {
  const char* name;
  int axis_u, axis_v;
  bool flip_u, flip_v;
  const char *left, *right, *top, *bottom;  // patient directions at the view's edges
  int lo_u = 0, hi_u = 0, lo_v = 0, hi_v = 0;

  int width() const { return hi_u - lo_u + 1; }
  int height() const { return hi_v - lo_v + 1; }
  // Voxel coordinate along axis_u of displayed column a (a may lie outside the crop).
  int u_of(int a) const { return flip_u ? hi_u - a : lo_u + a; }
  int v_of(int b) const { return flip_v ? hi_v - b : lo_v + b; }
};

std::array<View, 3> make_views(const data::Geometry& g, const std::array<int, 3>& centre,
                               double fov_mm) {
  std::array<View, 3> views{{
      {"axial", 0, 1, false, false, "R", "L", "A", "P"},
      {"coronal", 0, 2, false, true, "R", "L", "S", "I"},
      {"sagittal", 1, 2, false, true, "A", "P", "S", "I"},
  }};
  const auto range = [&](int axis, int& lo, int& hi) {
    const int n = g.dim[axis];
    if (fov_mm <= 0) {
      lo = 0, hi = n - 1;
      return;
    }
    const int half = std::max(1, int(std::lround(fov_mm / 2 / g.spacing[axis])));
    lo = std::max(0, centre[axis] - half);
    hi = std::min(n - 1, centre[axis] + half);
  };
  for (View& v : views) {
    range(v.axis_u, v.lo_u, v.hi_u);
    range(v.axis_v, v.lo_v, v.hi_v);
  }
  return views;
}

struct ViewSampler {
  const data::Geometry& g;
  const View& view;
  std::array<int, 3> centre;

  // Voxel index of displayed (a, b), or -1 outside the volume.
  long long index(int a, int b) const {
    std::array<int, 3> ijk = centre;
    ijk[view.axis_u] = view.u_of(a);
    ijk[view.axis_v] = view.v_of(b);
    for (int k = 0; k < 3; ++k)
      if (ijk[k] < 0 || ijk[k] >= g.dim[k]) return -1;
    return (long long)ijk[0] + (long long)g.dim[0] * (ijk[1] + (long long)g.dim[1] * ijk[2]);
  }
};

// The CT slice as a greyscale image in the window, one pixel per voxel.
SurfacePtr slice_image(const data::Volume& ct, const ViewSampler& s, const CtWindow& w) {
  const int width = s.view.width(), height = s.view.height();
  SurfacePtr img = new_surface(width, height);
  cairo_surface_flush(img.get());
  unsigned char* px = cairo_image_surface_get_data(img.get());
  const int stride = cairo_image_surface_get_stride(img.get());
  const double lo = w.level - w.width / 2;
  for (int b = 0; b < height; ++b) {
    auto* row = reinterpret_cast<std::uint32_t*>(px + std::size_t(b) * stride);
    for (int a = 0; a < width; ++a) {
      const double t =
          std::clamp((double(ct.data[std::size_t(s.index(a, b))]) - lo) / w.width, 0.0, 1.0);
      const auto grey = std::uint32_t(std::lround(255 * t));
      row[a] = (grey << 16) | (grey << 8) | grey;
    }
  }
  cairo_surface_mark_dirty(img.get());
  return img;
}

// Adds the mask's pixel-edge contour within the view to the current path, in displayed pixel
// units (one unit per voxel). Neighbours beyond the crop are read from the volume, so the crop
// edge draws no false contour; beyond the volume counts as outside.
void add_contour_path(cairo_t* cr, const std::vector<float>& mask, const ViewSampler& s) {
  const auto inside = [&](int a, int b) {
    const long long i = s.index(a, b);
    return i >= 0 && mask[std::size_t(i)] > 0.5f;
  };
  const int width = s.view.width(), height = s.view.height();
  for (int b = 0; b < height; ++b)
    for (int a = 0; a < width; ++a) {
      if (!inside(a, b)) continue;
      if (!inside(a - 1, b)) cairo_move_to(cr, a, b), cairo_line_to(cr, a, b + 1);
      if (!inside(a + 1, b)) cairo_move_to(cr, a + 1, b), cairo_line_to(cr, a + 1, b + 1);
      if (!inside(a, b - 1)) cairo_move_to(cr, a, b), cairo_line_to(cr, a + 1, b);
      if (!inside(a, b + 1)) cairo_move_to(cr, a, b + 1), cairo_line_to(cr, a + 1, b + 1);
    }
}

// Where each legend entry goes: one per mask (line sample and label), then the window text
// (10 px further), wrapped onto a new line where an entry would pass `width`.
struct LegendItem {
  double x = 0;  // from the legend's left edge
  int line = 0;
};
std::vector<LegendItem> legend_layout(const std::vector<ContourMask>& masks,
                                      const std::string& window_text, double width) {
  SurfacePtr scratch = new_surface(1, 1);
  ContextPtr ctx = new_context(scratch.get());
  cairo_set_font_size(ctx.get(), 12);
  const auto advance = [&](const std::string& s) {
    cairo_text_extents_t e;
    cairo_text_extents(ctx.get(), s.c_str(), &e);
    return e.x_advance;
  };
  std::vector<LegendItem> items;
  double x = 0;
  int line = 0;
  const auto place = [&](double lead, double w, double trail) {
    if (x > 0 && x + lead + w > width) x = 0, ++line;
    if (x > 0) x += lead;
    items.push_back({x, line});
    x += w + trail;
  };
  for (const ContourMask& m : masks) place(0, 30 + advance(m.label), 22);
  place(10, advance(window_text), 0);
  return items;
}

void set_dash(cairo_t* cr, bool dashed) {
  const double dash[] = {5, 3};
  cairo_set_dash(cr, dashed ? dash : nullptr, dashed ? 2 : 0, 0);
}

}  // namespace

std::string draw_box_plots(const std::vector<BoxPanel>& panels, const std::string& title) {
  if (panels.empty()) throw std::invalid_argument("draw_box_plots: no panel");
  std::vector<double> widths;
  double total = 0;
  for (const BoxPanel& p : panels) {
    widths.push_back(70 + 62.0 * double(std::max<std::size_t>(p.series.size(), 1)));
    total += widths.back();
  }
  constexpr double kHeight = 330, kTitle = 30, kPad = 10;
  const int width = int(std::ceil(total + 2 * kPad)), height = int(kHeight + kTitle + kPad);
  SurfacePtr surface = new_surface(width, height);
  ContextPtr ctx = new_context(surface.get());
  cairo_t* cr = ctx.get();
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_set_source_rgb(cr, 0, 0, 0);
  text(cr, title, width / 2.0, 21, 15, Align::centre);
  double x = kPad;
  for (std::size_t i = 0; i < panels.size(); ++i) {
    draw_box_panel(cr, panels[i], x, kTitle, widths[i], kHeight);
    x += widths[i];
  }
  return png_bytes(cr, surface.get());
}

std::string draw_triplanar(const data::Volume& ct, const std::vector<ContourMask>& masks,
                           const std::array<int, 3>& centre, const CtWindow& window, double fov_mm,
                           const std::string& title, int max_width_px) {
  const data::Geometry& g = ct.geometry;
  if (max_width_px < 300)
    throw std::invalid_argument("draw_triplanar: max_width_px must be at least 300");
  for (const ContourMask& m : masks)
    if (m.mask == nullptr || m.mask->size() != g.voxel_count())
      throw std::invalid_argument("draw_triplanar: mask \"" + m.label +
                                  "\" does not match the CT's voxel count");
  for (int k = 0; k < 3; ++k)
    if (centre[k] < 0 || centre[k] >= g.dim[k])
      throw std::invalid_argument("draw_triplanar: centre outside the volume");
  const std::array<View, 3> views = make_views(g, centre, fov_mm);

  // One scale (pixels per mm) for all three views, so sizes compare across them.
  double sum_w_mm = 0, max_h_mm = 0;
  for (const View& v : views) {
    sum_w_mm += v.width() * g.spacing[v.axis_u];
    max_h_mm = std::max(max_h_mm, v.height() * g.spacing[v.axis_v]);
  }
  constexpr double kGap = 34, kPad = 14, kTitle = 30, kLabel = 20, kLegend = 40, kLegendLine = 20;
  const double scale = std::min((max_width_px - 2 * kGap - 2 * kPad) / sum_w_mm, 380 / max_h_mm);
  const int width = int(std::ceil(sum_w_mm * scale + 2 * kGap + 2 * kPad));
  char win[96];
  std::snprintf(win, sizeof win, "CT window: %s (level %g HU, width %g HU)", window.name.c_str(),
                window.level, window.width);
  const std::vector<LegendItem> legend = legend_layout(masks, win, width - 2 * kPad);
  const int legend_lines = legend.empty() ? 1 : legend.back().line + 1;
  const int height = int(std::ceil(max_h_mm * scale + kTitle + 2 * kLabel + kLegend + kPad +
                                   (legend_lines - 1) * kLegendLine));

  SurfacePtr surface = new_surface(width, height);
  ContextPtr ctx = new_context(surface.get());
  cairo_t* cr = ctx.get();
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_set_source_rgb(cr, 0, 0, 0);
  text(cr, title, kPad, 21, 15, Align::left);

  double x = kPad;
  const double y = kTitle + kLabel;
  for (const View& v : views) {
    const ViewSampler sampler{g, v, centre};
    const double sx = g.spacing[v.axis_u] * scale, sy = g.spacing[v.axis_v] * scale;
    const double w = v.width() * sx, h = v.height() * sy;

    SurfacePtr img = slice_image(ct, sampler, window);
    cairo_save(cr);
    cairo_rectangle(cr, x, y, w, h);
    cairo_clip(cr);
    cairo_translate(cr, x, y);
    cairo_scale(cr, sx, sy);
    cairo_set_source_surface(cr, img.get(), 0, 0);
    cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD);
    cairo_paint(cr);
    cairo_restore(cr);

    // Contours: the path is built in voxel units, stroked in device pixels.
    cairo_save(cr);
    cairo_rectangle(cr, x, y, w, h);
    cairo_clip(cr);
    cairo_set_line_width(cr, 1.6);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_SQUARE);
    for (auto it = masks.rbegin(); it != masks.rend(); ++it) {
      const ContourMask& m = *it;
      cairo_save(cr);
      cairo_translate(cr, x, y);
      cairo_scale(cr, sx, sy);
      add_contour_path(cr, *m.mask, sampler);
      cairo_restore(cr);
      set_colour(cr, m.colour);
      set_dash(cr, m.dashed);
      cairo_stroke(cr);
    }
    cairo_restore(cr);

    cairo_set_source_rgb(cr, 0, 0, 0);
    char caption[64];
    const int fixed = v.axis_u != 0 && v.axis_v != 0 ? 0 : v.axis_u != 1 && v.axis_v != 1 ? 1 : 2;
    std::snprintf(caption, sizeof caption, "%s (slice %d)", v.name, centre[fixed]);
    text(cr, caption, x, y - 6, 12, Align::left);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    text(cr, v.top, x + w / 2, y - 6, 11, Align::centre);
    text(cr, v.bottom, x + w / 2, y + h + 14, 11, Align::centre);
    text(cr, v.left, x - 4, y + h / 2 + 4, 11, Align::right);
    text(cr, v.right, x + w + 4, y + h / 2 + 4, 11, Align::left);
    x += w + kGap;
  }

  // Legend: a line sample and a label per mask, then the window.
  const double ly = y + max_h_mm * scale + kLabel + 16;
  for (std::size_t i = 0; i < legend.size(); ++i) {
    const double lx = kPad + legend[i].x, lyi = ly + legend[i].line * kLegendLine;
    if (i == masks.size()) {
      set_dash(cr, false);
      cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
      text(cr, win, lx, lyi, 12, Align::left);
      continue;
    }
    const ContourMask& m = masks[i];
    cairo_set_line_width(cr, 2.5);
    set_colour(cr, m.colour);
    set_dash(cr, m.dashed);
    cairo_move_to(cr, lx, lyi - 4);
    cairo_line_to(cr, lx + 24, lyi - 4);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text(cr, m.label, lx + 30, lyi, 12, Align::left);
  }
  return png_bytes(cr, surface.get());
}

std::array<int, 3> mask_centroid_voxel(const data::Volume& mask) {
  const auto& d = mask.geometry.dim;
  double sum[3] = {0, 0, 0}, n = 0;
  for (int k = 0; k < d[2]; ++k)
    for (int j = 0; j < d[1]; ++j)
      for (int i = 0; i < d[0]; ++i)
        if (mask.at(i, j, k) > 0.5f) sum[0] += i, sum[1] += j, sum[2] += k, n += 1;
  if (n == 0) return {d[0] / 2, d[1] / 2, d[2] / 2};
  return {int(std::lround(sum[0] / n)), int(std::lround(sum[1] / n)), int(std::lround(sum[2] / n))};
}

}  // namespace ctv::cli
