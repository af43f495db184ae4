// Bounds inference for NeRF-synthetic / instant-ngp scenes (docs/formats.md, "Scene bounds").
#include "semfield/data/scene_bounds.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

#include "semfield/core/error.h"
#include "semfield/core/parallel.h"
#include "semfield/data/silhouette_hull.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

constexpr double kPercentile = 0.99;
constexpr double kMargin = 1.01;  // content within 1% of a box's faces counts as inside it
constexpr double kMaxAabbScale = 128.0;  // instant-ngp's largest
// Alpha (8-bit): below 0.1 nothing is there, from 0.5 on something is; antialiased edges between are neither.
constexpr int kTransparentAlpha = 26;
constexpr int kOpaqueAlpha = 128;
// A background colour: within kKeyTolerance 8-bit levels of it (every channel) a pixel shows background
// (JPEG noise stays within), beyond kKeyOpaque it shows content; edges between are neither.
constexpr int kKeyTolerance = 12;
constexpr int kKeyOpaque = 36;
constexpr double kKeyedBorderShare = 0.9;    // of the border samples must match the colour
constexpr double kOpaqueBorderShare = 0.99;  // of the border samples opaque: content fills every image
constexpr double kViewLossShare = 0.01;      // a view "sees" content beyond a box from 1% of its samples on
constexpr int kHullResolution = 48;
constexpr size_t kMaxHullRays = 32768;

enum class Cell : uint8_t { Transparent, Unsure, Opaque };

double percentile(std::vector<double> values, double q) {
  SEMFIELD_ASSERT(!values.empty(), "percentile of no values");
  const auto k = static_cast<size_t>(std::floor(q * static_cast<double>(values.size() - 1)));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

double smallest_scale_holding(double extent) {
  double a = 1.0;
  while (a < kMaxAabbScale && extent > a * kMargin) a *= 2.0;
  return a;
}

// The smallest L-inf norm on the ray o + t d, t >= 0: the half-width of the smallest centred box the ray
// touches. f(t) = max_i |o_i + t d_i| is convex and piecewise linear, so its minimum lies at t = 0 or
// where two of the six lines +-(o_i + t d_i) cross: o_i + t d_i = s (o_j + t d_j), s = +-1.
double closest_approach(const Eigen::Vector3d& o, const Eigen::Vector3d& d) {
  double best = linf(o);
  for (int i = 0; i < 3; ++i) {
    for (int j = i; j < 3; ++j) {
      for (const double s : {1.0, -1.0}) {
        if (i == j && s > 0) continue;
        const double denominator = d[i] - s * d[j];
        if (std::fabs(denominator) < 1e-12) continue;
        const double t = (s * o[j] - o[i]) / denominator;
        if (t > 0) best = std::min(best, linf(o + t * d));
      }
    }
  }
  return best;
}

// One counted sample: how far from the centre its content reaches, and which view it came from.
struct Sample {
  double extent;
  size_t view;
};

std::vector<double> extents_of(const std::vector<Sample>& samples) {
  std::vector<double> out;
  out.reserve(samples.size());
  for (const Sample& s : samples) out.push_back(s.extent);
  return out;
}

bool on_border(const BoundsView& view, int x, int y) {
  return x == 0 || y == 0 || x == view.width - 1 || y == view.height - 1;
}

// What every sampled cell shows: background, content, or an edge between.
struct Coverage {
  std::vector<std::vector<Cell>> cells;  ///< per view, [height * width]
  std::optional<std::array<int, 3>> key;  ///< background colour of the images without alpha
  bool any_alpha = false;
};

// The colour shared by the borders of the images without alpha (a composited background, e.g.
// NeRF-synthetic's white): the per-channel median of their border samples, when 90% lie near it.
std::optional<std::array<int, 3>> background_colour(const std::vector<BoundsView>& views) {
  std::array<std::vector<int>, 3> border;
  for (const BoundsView& view : views) {
    if (view.has_alpha) continue;
    for (int y = 0; y < view.height; ++y)
      for (int x = 0; x < view.width; ++x)
        if (on_border(view, x, y))
          for (int c = 0; c < 3; ++c) border[c].push_back(view.rgba[(static_cast<size_t>(y) * view.width + x) * 4 + c]);
  }
  const size_t n = border[0].size();
  if (n < 8) return std::nullopt;
  std::array<int, 3> key{};
  for (int c = 0; c < 3; ++c) {
    std::vector<int> values = border[c];
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(n / 2), values.end());
    key[c] = values[n / 2];
  }
  size_t near = 0;
  for (size_t i = 0; i < n; ++i) {
    bool close = true;
    for (int c = 0; c < 3; ++c) close = close && std::abs(border[c][i] - key[c]) <= kKeyTolerance;
    near += close ? 1 : 0;
  }
  if (static_cast<double>(near) < kKeyedBorderShare * static_cast<double>(n)) return std::nullopt;
  return key;
}

Coverage classify(const std::vector<BoundsView>& views) {
  Coverage out;
  out.key = background_colour(views);
  for (const BoundsView& view : views) {
    out.any_alpha = out.any_alpha || view.has_alpha;
    std::vector<Cell> cells(static_cast<size_t>(view.width) * view.height, Cell::Opaque);
    for (size_t i = 0; i < cells.size(); ++i) {
      const uint8_t* p = &view.rgba[i * 4];
      if (view.has_alpha) {
        cells[i] = p[3] < kTransparentAlpha ? Cell::Transparent : p[3] >= kOpaqueAlpha ? Cell::Opaque : Cell::Unsure;
      } else if (out.key) {
        int distance = 0;
        for (int c = 0; c < 3; ++c) distance = std::max(distance, std::abs(p[c] - (*out.key)[c]));
        cells[i] = distance <= kKeyTolerance ? Cell::Transparent : distance > kKeyOpaque ? Cell::Opaque : Cell::Unsure;
      }
    }
    out.cells.push_back(std::move(cells));
  }
  return out;
}

// Back-projected valid depth that is not on a transparent pixel (a renderer's depth for "nothing").
std::vector<Sample> depth_samples(const std::vector<BoundsView>& views, const Coverage& coverage) {
  std::vector<Sample> out;
  for (size_t v = 0; v < views.size(); ++v) {
    const BoundsView& view = views[v];
    if (view.depth.empty()) continue;
    const Eigen::Vector3d forward = view.camera.forward();
    for (int y = 0; y < view.height; ++y) {
      for (int x = 0; x < view.width; ++x) {
        const size_t i = static_cast<size_t>(y) * view.width + x;
        const double depth = view.depth[i];
        if (!(depth > 0.0 && std::isfinite(depth)) || coverage.cells[v][i] == Cell::Transparent) continue;
        const Eigen::Vector2d uv = view.pixel(x, y);
        const Ray ray = view.camera.pixel_to_ray(uv.x(), uv.y());
        const double along = ray.direction.dot(forward);
        if (!(along > 1e-9)) continue;
        out.push_back({linf(ray.origin + ray.direction * (depth / along)), v});
      }
    }
  }
  return out;
}

// Each opaque pixel's ray, by the smallest centred box it touches: content lies at least that far out.
std::vector<Sample> ray_samples(const std::vector<BoundsView>& views, const Coverage& coverage) {
  std::vector<Sample> out;
  for (size_t v = 0; v < views.size(); ++v) {
    const BoundsView& view = views[v];
    for (int y = 0; y < view.height; ++y) {
      for (int x = 0; x < view.width; ++x) {
        if (coverage.cells[v][static_cast<size_t>(y) * view.width + x] != Cell::Opaque) continue;
        const Eigen::Vector2d uv = view.pixel(x, y);
        const Ray ray = view.camera.pixel_to_ray(uv.x(), uv.y());
        out.push_back({closest_approach(ray.origin, ray.direction), v});
      }
    }
  }
  return out;
}

// Opaque rays placed by the visual hull: each counts with the farther of its closest approach and where
// the hull places its content (SilhouetteHull::place). Rays are thinned to about kMaxHullRays on a
// regular lattice of cells; rays the hull does not place are left out.
std::vector<Sample> hull_samples(const std::vector<BoundsView>& views, const Coverage& coverage) {
  std::vector<SilhouetteHull::View> silhouettes;
  size_t n_opaque = 0;
  for (size_t v = 0; v < views.size(); ++v) {
    const BoundsView& view = views[v];
    SilhouetteHull::View s;
    s.camera = view.camera;
    s.width = view.width;
    s.height = view.height;
    s.stride = view.stride;
    s.background.resize(coverage.cells[v].size());
    for (size_t i = 0; i < s.background.size(); ++i) {
      s.background[i] = coverage.cells[v][i] == Cell::Transparent ? 1 : 0;
      n_opaque += coverage.cells[v][i] == Cell::Opaque ? 1 : 0;
    }
    silhouettes.push_back(std::move(s));
  }
  const SilhouetteHull hull(silhouettes, kHullResolution);
  const int step = std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n_opaque) / kMaxHullRays))));
  std::vector<std::vector<Sample>> per_view(views.size());
  parallel_for(0, static_cast<int64_t>(views.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t v = begin; v < end; ++v) {
      const BoundsView& view = views[static_cast<size_t>(v)];
      for (int y = step / 2; y < view.height; y += step) {
        for (int x = step / 2; x < view.width; x += step) {
          if (coverage.cells[static_cast<size_t>(v)][static_cast<size_t>(y) * view.width + x] != Cell::Opaque) continue;
          const Eigen::Vector2d uv = view.pixel(x, y);
          const Ray ray = view.camera.pixel_to_ray(uv.x(), uv.y());
          const auto hit = hull.place(ray.origin, ray.direction);
          if (!hit) continue;
          per_view[static_cast<size_t>(v)].push_back(
              {std::max(closest_approach(ray.origin, ray.direction), linf(*hit)), static_cast<size_t>(v)});
        }
      }
    }
  });
  std::vector<Sample> out;
  for (auto& samples : per_view) out.insert(out.end(), samples.begin(), samples.end());
  return out;
}

// Share of the border samples that show content: 0.99 and more means content fills every image.
double opaque_border_share(const std::vector<BoundsView>& views, const Coverage& coverage) {
  size_t total = 0, opaque = 0;
  for (size_t v = 0; v < views.size(); ++v) {
    const BoundsView& view = views[v];
    for (int y = 0; y < view.height; ++y) {
      for (int x = 0; x < view.width; ++x) {
        if (!on_border(view, x, y)) continue;
        ++total;
        opaque += coverage.cells[v][static_cast<size_t>(y) * view.width + x] == Cell::Opaque ? 1 : 0;
      }
    }
  }
  return total == 0 ? 0.0 : static_cast<double>(opaque) / static_cast<double>(total);
}

std::string evidence_text(BoundsSource evidence, size_t n_views, const Coverage& coverage) {
  switch (evidence) {
    case BoundsSource::Depth: return fmt::format("from the depth maps of {} views", n_views);
    case BoundsSource::Alpha: return fmt::format("from the alpha of {} views", n_views);
    case BoundsSource::Background: {
      const auto& k = *coverage.key;
      return fmt::format("from {} views, reading their common border colour #{:02x}{:02x}{:02x} as background",
                         n_views, k[0], k[1], k[2]);
    }
    default: return "";
  }
}

// Which views see content beyond the box of half-width `box`, and the one that loses most of what it sees.
std::string views_beyond(const std::vector<Sample>& samples, const std::vector<BoundsView>& views, double box) {
  std::vector<size_t> total(views.size(), 0), beyond(views.size(), 0);
  for (const Sample& s : samples) {
    ++total[s.view];
    beyond[s.view] += s.extent > box * kMargin ? 1 : 0;
  }
  size_t seeing = 0, worst = 0;
  double worst_share = -1.0;
  for (size_t v = 0; v < views.size(); ++v) {
    if (total[v] == 0) continue;
    const double share = static_cast<double>(beyond[v]) / static_cast<double>(total[v]);
    seeing += share >= kViewLossShare ? 1 : 0;
    if (share > worst_share) {
      worst_share = share;
      worst = v;
    }
  }
  return fmt::format("{} of {} sampled views see content beyond the box, most of all {} ({:.0f}% of its samples)",
                     seeing, views.size(), views[worst].name, 100.0 * worst_share);
}

// Cameras inside the content: what a camera sees lies mostly (its median sample) farther from the centre
// than the camera itself, as in a room or under trees, rather than around an object it circles.
std::string cameras_inside(const std::vector<Sample>& samples, const std::vector<BoundsView>& views) {
  std::vector<std::vector<double>> per_view(views.size());
  for (const Sample& s : samples) per_view[s.view].push_back(s.extent);
  size_t inside = 0;
  for (size_t v = 0; v < views.size(); ++v)
    inside += !per_view[v].empty() && percentile(per_view[v], 0.5) > linf(views[v].camera.origin()) ? 1 : 0;
  if (inside == 0) return "";
  return fmt::format("; {} of {} sampled cameras sit inside the content (most of what they see lies farther "
                     "from the centre than they do)",
                     inside, views.size());
}

}  // namespace

std::vector<size_t> bounds_sample_frames(size_t n_frames) {
  std::vector<size_t> out;
  if (n_frames <= kBoundsMaxViews) {
    for (size_t i = 0; i < n_frames; ++i) out.push_back(i);
    return out;
  }
  for (size_t k = 0; k < kBoundsMaxViews; ++k)
    out.push_back(static_cast<size_t>(std::llround(static_cast<double>(k) * static_cast<double>(n_frames - 1) /
                                                   static_cast<double>(kBoundsMaxViews - 1))));
  return out;
}

Eigen::Vector2d BoundsView::pixel(int x, int y) const {
  const Intrinsics& K = camera.intrinsics;
  const int u = std::min(K.width - 1, x * stride + stride / 2), v = std::min(K.height - 1, y * stride + stride / 2);
  return {u + 0.5, v + 0.5};
}

BoundsView sample_bounds_view(std::string name, const Camera& camera, const Image& image, const Image* depth) {
  SEMFIELD_ASSERT(image.channels >= 1 && image.channels <= 4 && !image.empty(), "bounds sampling needs an image");
  SEMFIELD_ASSERT(camera.intrinsics.width == image.width && camera.intrinsics.height == image.height,
                  "bounds sampling needs the full-resolution camera of the image");
  BoundsView view;
  view.name = std::move(name);
  view.camera = camera;
  view.stride = std::max(1, (std::max(image.width, image.height) + kBoundsGridSize - 1) / kBoundsGridSize);
  view.width = (image.width + view.stride - 1) / view.stride;
  view.height = (image.height + view.stride - 1) / view.stride;
  const size_t n = static_cast<size_t>(view.width) * view.height;
  view.rgba.resize(n * 4);
  const bool depth_fits = depth && depth->width == image.width && depth->height == image.height;
  if (depth_fits) view.depth.resize(n);
  const auto to_byte = [](float v) {
    return static_cast<uint8_t>(std::lround(std::clamp(std::isfinite(v) ? v : 0.0f, 0.0f, 1.0f) * 255.0f));
  };
  const int c = image.channels;
  for (int y = 0; y < view.height; ++y) {
    for (int x = 0; x < view.width; ++x) {
      const Eigen::Vector2d uv = view.pixel(x, y);
      const int u = static_cast<int>(uv.x()), v = static_cast<int>(uv.y());
      const size_t i = static_cast<size_t>(y) * view.width + x;
      uint8_t* out = &view.rgba[i * 4];
      for (int k = 0; k < 3; ++k) out[k] = to_byte(image.at(u, v, c >= 3 ? k : 0));
      out[3] = c == 2 || c == 4 ? to_byte(image.at(u, v, c - 1)) : 255;
      view.has_alpha = view.has_alpha || out[3] < 255;
      if (depth_fits) {
        const float d = depth->at(u, v, 0);
        view.depth[i] = std::isfinite(d) && d > 0.0f ? d : 0.0f;
      }
    }
  }
  return view;
}

BoundsInference infer_bounds(const std::vector<BoundsView>& views, const std::vector<Eigen::Vector3d>& camera_positions,
                             std::optional<double> file_aabb_scale, const fs::path& file) {
  BoundsInference out;
  SceneBounds& bounds = out.bounds;
  bounds.views_sampled = static_cast<int>(views.size());
  const Coverage coverage = classify(views);

  BoundsSource evidence = BoundsSource::Default;
  std::vector<Sample> samples = depth_samples(views, coverage);
  if (!samples.empty()) {
    evidence = BoundsSource::Depth;
    bounds.content_extent = percentile(extents_of(samples), kPercentile);
  } else if (!views.empty() && opaque_border_share(views, coverage) >= kOpaqueBorderShare) {
    evidence = BoundsSource::Opaque;
  } else {
    samples = ray_samples(views, coverage);
    if (!samples.empty()) {
      evidence = coverage.any_alpha || !coverage.key ? BoundsSource::Alpha : BoundsSource::Background;
      double extent = percentile(extents_of(samples), kPercentile);
      // Only once rays prove content beyond [-1,1]^3 does the hull measure how far: it never decides
      // that question itself, so object-centric captures keep today's box whatever the hull's lobes do.
      if (extent > kMargin) {
        std::vector<Sample> placed = hull_samples(views, coverage);
        if (!placed.empty()) {
          extent = std::max(extent, percentile(extents_of(placed), kPercentile));
          samples = std::move(placed);
        }
      }
      bounds.content_extent = extent;
    }
  }
  bounds.evidence = evidence;

  double camera_extent = 0.0;
  for (const Eigen::Vector3d& c : camera_positions) camera_extent = std::max(camera_extent, linf(c));
  const bool background_unbounded = evidence == BoundsSource::Opaque;
  // An unbounded background needs a contracted (aabb_scale > 1) box; it is sized to hold the cameras.
  const double needed = background_unbounded ? std::max(2.0, smallest_scale_holding(camera_extent))
                        : bounds.content_extent ? smallest_scale_holding(*bounds.content_extent)
                                                : 1.0;
  const std::string name = file.filename().string();
  const std::string where = evidence_text(evidence, views.size(), coverage);

  if (!file_aabb_scale) {
    bounds.aabb_scale = needed;
    bounds.source = evidence;
    if (needed == 1.0) return out;
    if (background_unbounded) {
      out.warnings.push_back(fmt::format(
          "{}: the images are opaque to their borders and there are no depth maps, so the background is "
          "unbounded; the file gives no \"aabb_scale\": using aabb_scale {} (the smallest box that holds the "
          "cameras), contracted beyond [-1,1]^3; set \"aabb_scale\" in {} to choose",
          file.string(), needed, name));
    } else {
      out.warnings.push_back(fmt::format(
          "{}: visible content reaches {:.3g} units from the scene centre ({}), beyond the default box "
          "[-1,1]^3{}; the file gives no \"aabb_scale\": using aabb_scale {}, contracted beyond [-1,1]^3; set "
          "\"aabb_scale\" in {} to choose",
          file.string(), *bounds.content_extent, where, cameras_inside(samples, views), needed, name));
    }
    return out;
  }

  const double box = *file_aabb_scale;
  bounds.aabb_scale = box;
  bounds.source = BoundsSource::File;
  if (background_unbounded && box <= 1.0) {
    out.warnings.push_back(fmt::format(
        "{}: \"aabb_scale\": {} models a bounded box, but the images are opaque to their borders and there are "
        "no depth maps: the background is unbounded, and rays stop at the box, so it cannot be learned; "
        "aabb_scale {} (the smallest box that holds the cameras) would model it",
        file.string(), box, needed));
  } else if (bounds.content_extent && *bounds.content_extent > box * kMargin) {
    const std::string consequence =
        box <= 1.0 ? "rays stop at the box, so what lies beyond it cannot be learned"
                   : "it is learned in contracted form, but 3D selections cover the box only";
    out.warnings.push_back(fmt::format(
        "{}: visible content reaches {:.3g} units from the scene centre ({}), beyond the box of \"aabb_scale\": {} "
        "([-{},{}]^3) the file gives: {}{}. {}; aabb_scale {} would hold it (the file's value is kept)",
        file.string(), *bounds.content_extent, where, box, box, box, consequence, cameras_inside(samples, views),
        views_beyond(samples, views, box), needed));
  }
  return out;
}

}  // namespace semfield
