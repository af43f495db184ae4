// The weight-free feature-similarity segmenter.
#include "semfield/segment/similarity_segmenter.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/parallel.h"
#include "semfield/kernels/max_dot.h"
#include "semfield/segment/click_lifting.h"
#include "semfield/segment/depth_grid.h"
#include "semfield/segment/spherical_kmeans.h"

namespace semfield {

namespace {

// Mean unit feature over the opaque pixels of a (2r+1)^2 window, renormalised; undefined if none is opaque.
at::Tensor window_feature(const at::Tensor& unit, const at::Tensor& opacity, const Eigen::Vector2i& pixel, int radius,
                          double min_opacity) {
  const int64_t h = unit.size(1), w = unit.size(2);
  const int64_t y0 = std::max<int64_t>(0, pixel.y() - radius), y1 = std::min<int64_t>(h, pixel.y() + radius + 1);
  const int64_t x0 = std::max<int64_t>(0, pixel.x() - radius), x1 = std::min<int64_t>(w, pixel.x() + radius + 1);
  const at::Tensor patch = unit.slice(1, y0, y1).slice(2, x0, x1).reshape({unit.size(0), -1});
  const at::Tensor opaque = (opacity.slice(0, y0, y1).slice(1, x0, x1).reshape(-1) >= min_opacity);
  if (!opaque.any().item<bool>()) return {};
  const at::Tensor mean = patch.index({at::indexing::Slice(), opaque}).mean(1);
  return mean / mean.norm().clamp_min(1e-8);
}

}  // namespace

at::Tensor standardise_features(const at::Tensor& maps, const at::Tensor& mean, const at::Tensor& std) {
  SEMFIELD_ASSERT(maps.dim() == 3 && mean.numel() == maps.size(0) && std.numel() == maps.size(0),
                  "maps [C,H,W] and statistics [C] must agree");
  return ((maps - mean.to(at::kFloat).view({-1, 1, 1})) / std.to(at::kFloat).clamp_min(1e-6f).view({-1, 1, 1}))
      .contiguous();
}

at::Tensor unit_features(const at::Tensor& maps, const at::Tensor& mean, const at::Tensor& std) {
  const at::Tensor standardised = standardise_features(maps, mean, std);
  return (standardised / standardised.norm(2, 0, true).clamp_min(1e-8f)).contiguous();
}

Whitening fit_whitening(const at::Tensor& features, const at::Tensor& opacity, double epsilon, int64_t max_pixels,
                        double min_opacity) {
  const int64_t c = features.size(0);
  Whitening out{at::zeros({c}), at::eye(c)};
  if (epsilon <= 0) return out;
  const at::Tensor flat = features.reshape({c, -1});
  at::Tensor index = (opacity.reshape(-1) >= min_opacity).nonzero().view(-1);
  if (index.numel() < 2) return out;
  if (index.numel() > max_pixels)
    index = index.index_select(0, at::linspace(0, index.numel() - 1, max_pixels).to(at::kLong));
  const at::Tensor x = flat.index_select(1, index).to(at::kDouble);  // [C,N]
  const at::Tensor mean = x.mean(1);
  const at::Tensor centred = x - mean.unsqueeze(1);
  const at::Tensor cov = at::matmul(centred, centred.t()) / static_cast<double>(index.numel());
  const auto [values, vectors] = at::linalg_eigh(cov);
  const at::Tensor floor = values.max() * epsilon;
  out.mean = mean.to(at::kFloat);
  out.transform = (vectors * (values.clamp_min(0) + floor).rsqrt().unsqueeze(0)).to(at::kFloat).contiguous();
  return out;
}

at::Tensor whiten_unit(const at::Tensor& features, const Whitening& whitening) {
  const int64_t c = features.size(0), h = features.size(1), w = features.size(2);
  // [C,C]^T x [C,HW]: stays channel-major, no transposed copy of the map.
  const at::Tensor z = at::matmul(whitening.transform.t(), features.reshape({c, -1}) - whitening.mean.unsqueeze(1));
  return (z / z.norm(2, 0, true).clamp_min(1e-8f)).view({c, h, w}).contiguous();
}

double otsu_threshold(const at::Tensor& values) {
  const at::Tensor v = values.reshape(-1).to(at::kFloat).contiguous();
  SEMFIELD_ASSERT(v.numel() > 0, "Otsu threshold of no values");
  const float lo = v.min().item<float>(), hi = v.max().item<float>();
  if (!(hi > lo)) return lo;
  constexpr int kBins = 256;
  std::vector<double> hist(kBins, 0.0);
  const float* p = v.data_ptr<float>();
  const double scale = kBins / static_cast<double>(hi - lo);
  for (int64_t i = 0; i < v.numel(); ++i)
    hist[std::min(kBins - 1, static_cast<int>((p[i] - lo) * scale))] += 1;
  double total = 0, total_sum = 0;
  for (int b = 0; b < kBins; ++b) total += hist[b], total_sum += hist[b] * b;
  double w0 = 0, sum0 = 0, best = -1;
  int best_bin = 0;
  for (int b = 0; b < kBins - 1; ++b) {
    w0 += hist[b];
    sum0 += hist[b] * b;
    const double w1 = total - w0;
    if (w0 == 0 || w1 == 0) continue;
    const double m0 = sum0 / w0, m1 = (total_sum - sum0) / w1;
    const double between = w0 * w1 * (m0 - m1) * (m0 - m1);
    if (between > best) best = between, best_bin = b;
  }
  // The cut lies at the upper edge of the last bin of the lower class.
  return lo + (best_bin + 1) / scale;
}

SimilarityTarget make_similarity_target(const at::Tensor& unit, const at::Tensor& opacity, const Prompts& prompts,
                                        const SimilarityOptions& options) {
  const int h = static_cast<int>(unit.size(1)), w = static_cast<int>(unit.size(2));
  const int64_t c = unit.size(0);
  std::vector<Eigen::Vector2d> positives = prompts.positive;
  if (positives.empty() && prompts.box) {
    const Eigen::Vector4d& b = *prompts.box;
    positives.emplace_back(0.5 * (b[0] + b[2]), 0.5 * (b[1] + b[3]));
  }
  auto gather = [&](const std::vector<Eigen::Vector2d>& clicks) {
    std::vector<at::Tensor> rows;
    for (const Eigen::Vector2d& click : clicks) {
      at::Tensor f = window_feature(unit, opacity, click_pixel(click, w, h), options.prompt_radius, options.min_opacity);
      if (f.defined()) rows.push_back(f);
    }
    return rows.empty() ? at::zeros({0, c}) : at::stack(rows).contiguous();
  };
  SimilarityTarget target;
  target.positive = gather(positives);
  target.negative = gather(prompts.negative);
  target.threshold = options.max_threshold;
  if (target.positive.size(0) == 0) return target;
  const at::Tensor opaque = opacity.reshape(-1) >= options.min_opacity;
  const at::Tensor best = kernels::max_dot(unit.reshape({c, -1}), target.positive);
  const at::Tensor values = best.index({opaque});
  if (values.numel() > 0)
    target.threshold = std::clamp(otsu_threshold(values), options.min_threshold, options.max_threshold);
  return target;
}

namespace {

// Best cosine of each pixel of flat unit features [C,N] to the rows of any of `sets` ([K_i, C]); -2 without rows.
at::Tensor best_cosine(const at::Tensor& flat, std::initializer_list<at::Tensor> sets) {
  std::vector<at::Tensor> rows;
  for (const at::Tensor& set : sets)
    if (set.defined() && set.size(0) > 0) rows.push_back(set);
  if (rows.empty()) return at::full({flat.size(1)}, -2.0f);
  return kernels::max_dot(flat, rows.size() == 1 ? rows.front() : at::cat(rows));
}

// Up to `limit` entries of a flat index list, evenly strided.
at::Tensor strided(const at::Tensor& index, int64_t limit) {
  if (index.numel() <= limit) return index;
  return index.index_select(0, at::linspace(0, index.numel() - 1, limit).to(at::kLong));
}

}  // namespace

at::Tensor similarity_candidates(const at::Tensor& unit, const at::Tensor& opacity, const SimilarityTarget& target,
                                 const std::optional<Eigen::Vector4d>& box, const SimilarityOptions& options) {
  const int64_t c = unit.size(0), h = unit.size(1), w = unit.size(2);
  if (target.positive.size(0) == 0) return at::zeros({h, w}, at::kBool);
  const at::Tensor flat = unit.reshape({c, -1});
  at::Tensor candidates = opacity.reshape(-1) >= options.min_opacity;
  if (target.foreground.defined()) {
    candidates &= best_cosine(flat, {target.foreground, target.positive}) >
                  best_cosine(flat, {target.background, target.negative});
  } else {
    const at::Tensor s_pos = best_cosine(flat, {target.positive});
    candidates &= (s_pos > target.threshold) & (s_pos > best_cosine(flat, {target.negative}));
  }
  candidates = candidates.view({h, w});
  if (box) candidates &= box_mask(*box, static_cast<int>(w), static_cast<int>(h));
  return candidates.contiguous();
}

void fit_appearance(SimilarityTarget& target, const at::Tensor& unit, const at::Tensor& mask, const at::Tensor& opacity,
                    const SimilarityOptions& options) {
  const int64_t c = unit.size(0);
  const at::Tensor flat = unit.reshape({c, -1});
  const at::Tensor opaque = opacity.reshape(-1) >= options.min_opacity;
  const at::Tensor inside = mask.reshape(-1) & opaque;
  const at::Tensor s_pos = best_cosine(flat, {target.positive});
  const at::Tensor outside = opaque & mask.reshape(-1).logical_not() &
                             (s_pos < options.background_fraction * target.threshold);
  const at::Tensor fg = strided(inside.nonzero().view(-1), options.cluster_pixels);
  const at::Tensor bg = strided(outside.nonzero().view(-1), options.cluster_pixels);
  target.foreground = spherical_kmeans(flat.index_select(1, fg).t(), options.foreground_clusters, 8, 1);
  target.background = spherical_kmeans(flat.index_select(1, bg).t(), options.background_clusters, 8, 2);
}

at::Tensor grow_regions(const at::Tensor& candidates, const at::Tensor& seeds, const at::Tensor& depth,
                        double depth_edge) {
  const int64_t h = candidates.size(0), w = candidates.size(1);
  const at::Tensor cand = candidates.contiguous(), seed = seeds.contiguous(), z = depth.contiguous();
  const bool* c = cand.data_ptr<bool>();
  const bool* s = seed.data_ptr<bool>();
  const float* d = z.data_ptr<float>();
  at::Tensor out = at::zeros({h, w}, at::kBool);
  bool* m = out.data_ptr<bool>();
  for (int64_t i = 0; i < h * w; ++i) m[i] = s[i] && c[i];
  flood_depth_connected(m, d, h, w, depth_edge, [c](int64_t j) { return c[j]; });
  return out;
}

namespace {

// Pixels within Chebyshev distance r of a pixel that has a 4-neighbour of the other value, row-major. Every
// pixel whose (2r+1)^2 window holds both values is among them (two pixels of a window are joined by a 4-path
// inside it, and the path changes value somewhere); the few extra ones have uniform windows, which a
// refinement pass leaves as they are. Separable loops: ~1 ms at 512², where two max-pools took ~10.
std::vector<int64_t> boundary_band(const bool* m, int64_t h, int64_t w, int r) {
  std::vector<uint8_t> edge(static_cast<size_t>(h * w), 0), rows(static_cast<size_t>(h * w), 0);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const int64_t i = y * w + x;
      edge[static_cast<size_t>(i)] = (x > 0 && m[i - 1] != m[i]) || (x + 1 < w && m[i + 1] != m[i]) ||
                                     (y > 0 && m[i - w] != m[i]) || (y + 1 < h && m[i + w] != m[i]);
    }
  // Horizontal then vertical dilation by r, each with a running count over the window.
  for (int64_t y = 0; y < h; ++y) {
    const uint8_t* e = edge.data() + y * w;
    uint8_t* o = rows.data() + y * w;
    int count = 0;
    for (int64_t x = 0; x < std::min<int64_t>(r, w); ++x) count += e[x];
    for (int64_t x = 0; x < w; ++x) {
      if (x + r < w) count += e[x + r];
      if (x - r - 1 >= 0) count -= e[x - r - 1];
      o[x] = count > 0;
    }
  }
  std::vector<int64_t> band;
  std::vector<int> count(static_cast<size_t>(w), 0);
  for (int64_t y = 0; y < std::min<int64_t>(r, h); ++y)
    for (int64_t x = 0; x < w; ++x) count[static_cast<size_t>(x)] += rows[static_cast<size_t>(y * w + x)];
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      if (y + r < h) count[static_cast<size_t>(x)] += rows[static_cast<size_t>((y + r) * w + x)];
      if (y - r - 1 >= 0) count[static_cast<size_t>(x)] -= rows[static_cast<size_t>((y - r - 1) * w + x)];
      if (count[static_cast<size_t>(x)] > 0) band.push_back(y * w + x);
    }
  }
  return band;
}

}  // namespace

at::Tensor refine_mask(const at::Tensor& mask, const at::Tensor& unit, const at::Tensor& depth,
                       const at::Tensor& opacity, const SimilarityOptions& options, const at::Tensor& pixel_major) {
  const int64_t c = unit.size(0), h = unit.size(1), w = unit.size(2);
  const int r = options.refine_radius;
  // Pixel-major, so each window pixel's features are one contiguous run: the channel-major map would cost C
  // scattered reads per pixel (memory latency dominated this loop, ~4x slower).
  const at::Tensor features = pixel_major.defined() ? pixel_major.contiguous() : unit.permute({1, 2, 0}).contiguous();
  SEMFIELD_ASSERT(features.size(0) == h && features.size(1) == w && features.size(2) == c,
                  "refine_mask: pixel-major features must be [H,W,C] of the unit map");
  const at::Tensor z = depth.contiguous(), alpha = opacity.contiguous();
  const float* f = features.data_ptr<float>();
  const float* d = z.data_ptr<float>();
  const float* a = alpha.data_ptr<float>();
  // |f_p - f_q|^2 = 2 - 2 cos for unit vectors.
  const double inv_two_sigma2 = 1.0 / (2.0 * options.refine_feature_sigma * options.refine_feature_sigma);
  // Empty space is never selected; clearing it first also puts such pixels inside a mask into the boundary band.
  at::Tensor current = (mask & (opacity >= options.min_opacity)).contiguous();
  for (int pass = 0; pass < options.refine_iterations; ++pass) {
    const bool* m = current.data_ptr<bool>();
    // The pixels a pass can change: those whose window is not uniform (a superset of them, see boundary_band).
    const std::vector<int64_t> band = boundary_band(m, h, w, r);
    at::Tensor next = current.clone();
    bool* out = next.data_ptr<bool>();
    parallel_for(0, static_cast<int64_t>(band.size()), 256, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        const int64_t i = band[static_cast<size_t>(k)];
        if (a[i] < options.min_opacity) {
          out[i] = false;
          continue;
        }
        const int64_t y = i / w, x = i % w;
        const float* fp = f + i * c;
        double in = 0, total = 0;
        for (int64_t yy = std::max<int64_t>(0, y - r); yy <= std::min<int64_t>(h - 1, y + r); ++yy) {
          for (int64_t xx = std::max<int64_t>(0, x - r); xx <= std::min<int64_t>(w - 1, x + r); ++xx) {
            const int64_t j = yy * w + xx;
            if (a[j] < options.min_opacity || !depth_connected(d[i], d[j], options.depth_edge)) continue;
            const float* fq = f + j * c;
            float dot = 0;
            for (int64_t ch = 0; ch < c; ++ch) dot += fp[ch] * fq[ch];
            const double weight = std::exp(-(2.0 - 2.0 * dot) * inv_two_sigma2);
            total += weight;
            if (m[j]) in += weight;
          }
        }
        out[i] = total > 0 && in > 0.5 * total;
      }
    });
    current = next;
  }
  return current;
}

at::Tensor seed_bottleneck(const at::Tensor& score, const at::Tensor& seeds, const at::Tensor& depth, double depth_edge) {
  const int64_t h = score.size(0), w = score.size(1);
  const at::Tensor sc = score.to(at::kFloat).contiguous(), seed = seeds.contiguous(), z = depth.contiguous();
  const float* v = sc.data_ptr<float>();
  const bool* s = seed.data_ptr<bool>();
  const float* d = z.data_ptr<float>();
  constexpr float kNone = -std::numeric_limits<float>::infinity();
  at::Tensor out = at::full({h, w}, kNone);
  float* b = out.data_ptr<float>();
  // Widest-path flood: pixels leave the max-heap in order of decreasing bottleneck, so each is final when popped.
  std::priority_queue<std::pair<float, int64_t>> heap;
  for (int64_t i = 0; i < h * w; ++i)
    if (s[i] && v[i] > kNone) b[i] = v[i], heap.emplace(v[i], i);
  std::vector<uint8_t> done(static_cast<size_t>(h * w), 0);
  while (!heap.empty()) {
    const auto [value, i] = heap.top();
    heap.pop();
    if (done[static_cast<size_t>(i)] || value < b[i]) continue;
    done[static_cast<size_t>(i)] = 1;
    const int64_t y = i / w, x = i % w;
    const int64_t neighbours[4] = {x > 0 ? i - 1 : -1, x + 1 < w ? i + 1 : -1, y > 0 ? i - w : -1,
                                   y + 1 < h ? i + w : -1};
    for (const int64_t j : neighbours) {
      if (j < 0 || done[static_cast<size_t>(j)] || !depth_connected(d[i], d[j], depth_edge)) continue;
      const float through = std::min(value, v[j]);
      if (through > b[j]) b[j] = through, heap.emplace(through, j);
    }
  }
  return out;
}

std::optional<double> region_jump_threshold(const at::Tensor& bottleneck, double lo, double hi, int64_t min_area,
                                            double min_ratio) {
  constexpr double kStep = 0.005;
  const at::Tensor values = bottleneck.reshape(-1).to(at::kFloat).contiguous();
  const int bins = static_cast<int>(std::ceil((hi - lo) / kStep));
  if (bins < 2) return std::nullopt;
  // above[k] = pixels whose bottleneck exceeds lo + k * step: the region the threshold lo + k * step selects.
  std::vector<int64_t> count(static_cast<size_t>(bins) + 1, 0);
  int64_t over_hi = 0;
  const float* p = values.data_ptr<float>();
  for (int64_t i = 0; i < values.numel(); ++i) {
    if (!(p[i] > lo)) continue;
    if (p[i] > hi) {
      ++over_hi;
      continue;
    }
    count[static_cast<size_t>(std::min<int64_t>(bins, static_cast<int64_t>((p[i] - lo) / kStep)))]++;
  }
  std::vector<int64_t> above(static_cast<size_t>(bins) + 1, 0);
  int64_t running = over_hi;
  for (int k = bins; k >= 0; --k) {
    above[static_cast<size_t>(k)] = running;
    running += count[static_cast<size_t>(k)];
  }
  // Bin k holds values in [lo + k step, lo + (k + 1) step): lowering the threshold through it adds count[k] pixels
  // to the above[k] already selected.
  double best_ratio = min_ratio;
  std::optional<double> best;
  for (int k = bins; k >= 1; --k) {
    const int64_t region = above[static_cast<size_t>(k)];
    if (region < min_area) continue;
    const double ratio = static_cast<double>(region + count[static_cast<size_t>(k)]) / static_cast<double>(region);
    if (ratio > best_ratio) best_ratio = ratio, best = lo + (k + 1) * kStep;  // the top of bin k
  }
  return best;
}

at::Tensor box_mask(const Eigen::Vector4d& box, int width, int height) {
  at::Tensor inside = at::zeros({height, width}, at::kBool);
  // Corners read as clicks (the pixel whose centre is nearest, click_pixel); the corners' pixels are inside.
  const int64_t x0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(box[0] + 0.5)));
  const int64_t y0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(box[1] + 0.5)));
  const int64_t x1 = std::min<int64_t>(width, static_cast<int64_t>(std::floor(box[2] + 0.5)) + 1);
  const int64_t y1 = std::min<int64_t>(height, static_cast<int64_t>(std::floor(box[3] + 0.5)) + 1);
  if (x1 > x0 && y1 > y0) inside.slice(0, y0, y1).slice(1, x0, x1).fill_(true);
  return inside;
}

at::Tensor click_seeds(const std::vector<Eigen::Vector2d>& points, int width, int height) {
  at::Tensor seeds = at::zeros({height, width}, at::kBool);
  bool* s = seeds.data_ptr<bool>();
  for (const Eigen::Vector2d& p : points) {
    const Eigen::Vector2i px = click_pixel(p, width, height);
    s[static_cast<int64_t>(px.y()) * width + px.x()] = true;
  }
  return seeds;
}

SimilaritySegmenter::SimilaritySegmenter(const SemanticSource& source, SimilarityOptions options, size_t scale)
    : m_source(source), m_options(options), m_scale(scale) {
  if (source.has_classes())
    fail_usage("the feature-similarity segmenter needs a feature field, not a label field");
  SEMFIELD_ASSERT(scale < source.channels().size(), "scale out of range");
}

SegmentView SimilaritySegmenter::prepare(const Camera& camera, const std::string& name) const {
  SegmentView view = render_field_view(m_source, camera, name, m_scale);
  const ChannelStats stats = m_source.channel_stats(m_scale);
  view.maps = standardise_features(view.maps, stats.mean, stats.std);
  precompute(view);
  return view;
}

std::optional<SimilaritySegmenter::ViewFeatures> SimilaritySegmenter::kept_features(const SegmentView& view) const {
  const std::lock_guard<std::mutex> lock(m_view_mutex);
  if (m_view && m_view->maps.is_same(view.maps) && m_view->depth.is_same(view.depth)) return m_view;
  return std::nullopt;
}

SimilaritySegmenter::ViewFeatures SimilaritySegmenter::view_features(const SegmentView& view) const {
  if (std::optional<ViewFeatures> kept = kept_features(view)) return *std::move(kept);
  ViewFeatures features;
  features.maps = view.maps;
  features.depth = view.depth;
  features.whitening = fit_whitening(view.maps, view.opacity, m_options.whitening_epsilon, m_options.whitening_pixels,
                                     m_options.min_opacity);
  features.unit = whiten_unit(view.maps, features.whitening);
  features.pixel_major = features.unit.permute({1, 2, 0}).contiguous();
  features.plane = support_plane(view);
  const std::lock_guard<std::mutex> lock(m_view_mutex);
  m_view = features;
  return features;
}

void SimilaritySegmenter::precompute(const SegmentView& view) const { view_features(view); }

std::optional<SupportPlane> SimilaritySegmenter::support_plane(const SegmentView& view) const {
  if (!m_options.exclude_support_plane || !view.depth.defined()) return std::nullopt;
  SupportPlaneOptions options = m_options.support_plane;
  options.depth_edge = m_options.depth_edge;  // one depth-edge rule for every flood of the segmenter
  return fit_support_plane(view.camera, view.depth, view.opacity, options);
}

at::Tensor SimilaritySegmenter::mask_from_seeds(const SegmentView& view, const at::Tensor& unit, const at::Tensor& seeds,
                                                const std::optional<Eigen::Vector4d>& box,
                                                const SupportPlane* excluded, bool refine,
                                                const at::Tensor& pixel_major) const {
  at::Tensor candidates = similarity_candidates(unit, view.opacity, m_target, box, m_options);
  if (excluded) candidates &= excluded->pixels.logical_not();
  at::Tensor mask = grow_regions(candidates, seeds, view.depth, m_options.depth_edge);
  if (refine && m_options.refine_iterations > 0 && mask.any().item<bool>()) {
    mask = refine_mask(mask, unit, view.depth, view.opacity, m_options, pixel_major);
    if (excluded) mask &= excluded->pixels.logical_not();
  }
  // Geometry, not appearance, decides what is beneath: after the refinement, whose feature vote would take thin
  // shadowed parts away again.
  if (refine && excluded && m_options.beneath.enabled && mask.any().item<bool>())
    mask = complete_beneath(mask, *excluded, view.depth, view.opacity, excluded->pixels,
                            m_options.depth_edge, m_options.min_opacity, m_options.beneath);
  if (box) mask &= box_mask(*box, view.width(), view.height());  // refinement and completion stay inside the box
  return mask;
}

std::optional<double> SimilaritySegmenter::jump_threshold(const SegmentView& view, const at::Tensor& unit,
                                                          const at::Tensor& seeds,
                                                          const std::optional<Eigen::Vector4d>& box,
                                                          const SupportPlane* excluded) const {
  if (m_target.positive.size(0) == 0 || m_options.region_jump_ratio <= 0 || !seeds.any().item<bool>())
    return std::nullopt;
  // The threshold just above the level where the seeds' region leaks into the surroundings: every pixel beyond
  // the object's rim is reached through the rim's weakest link, so the region's area jumps there.
  const at::Tensor flat = unit.reshape({unit.size(0), -1});
  const at::Tensor s_pos = best_cosine(flat, {m_target.positive});
  at::Tensor valid = (view.opacity.reshape(-1) >= m_options.min_opacity) & (s_pos > best_cosine(flat, {m_target.negative}));
  if (box) valid &= box_mask(*box, view.width(), view.height()).reshape(-1);
  if (excluded) valid &= excluded->pixels.logical_not().reshape(-1);
  at::Tensor score = at::where(valid, s_pos, at::full_like(s_pos, -2.0f)).view({view.height(), view.width()});
  at::Tensor depth = view.depth, seed = seeds;
  // The threshold is one number: choose it on at most ~128 px a side (the centre pixel of each block, and a block
  // is a seed if any of its pixels is), which keeps a 512 x 512 click within its latency budget.
  const int64_t stride = (std::max(view.height(), view.width()) + 127) / 128;
  int64_t area_scale = 1;
  if (stride > 1) {
    const int64_t first = stride / 2;
    score = score.slice(0, first, c10::nullopt, stride).slice(1, first, c10::nullopt, stride);
    depth = depth.slice(0, first, c10::nullopt, stride).slice(1, first, c10::nullopt, stride);
    seed = at::max_pool2d(seeds.to(at::kFloat).unsqueeze(0), {stride, stride}, {stride, stride}, {0, 0}, {1, 1},
                          /*ceil_mode=*/true)
               .squeeze(0)
               .gt(0);
    const int64_t h = std::min(score.size(0), seed.size(0)), w = std::min(score.size(1), seed.size(1));
    score = score.slice(0, 0, h).slice(1, 0, w).contiguous();
    depth = depth.slice(0, 0, h).slice(1, 0, w).contiguous();
    seed = seed.slice(0, 0, h).slice(1, 0, w).contiguous();
    area_scale = stride * stride;
  }
  const at::Tensor bottleneck = seed_bottleneck(score, seed, depth, m_options.depth_edge);
  const int64_t min_area =
      std::max<int64_t>(m_options.region_min_pixels, view.height() * view.width() / 2000) / area_scale + 1;
  return region_jump_threshold(bottleneck, m_options.min_threshold, m_options.max_threshold, min_area,
                               m_options.region_jump_ratio);
}

at::Tensor SimilaritySegmenter::segment(const SegmentView& view, const Prompts& prompts) {
  // Kept as the view of the latest click: further clicks on the same view reuse it.
  const ViewFeatures features = view_features(view);
  const at::Tensor& unit = features.unit;
  m_target = make_similarity_target(unit, view.opacity, prompts, m_options);
  m_target.whitening = features.whitening;
  std::vector<Eigen::Vector2d> clicks = prompts.positive;
  if (clicks.empty() && prompts.box) {
    const Eigen::Vector4d& b = *prompts.box;
    clicks.emplace_back(0.5 * (b[0] + b[2]), 0.5 * (b[1] + b[3]));
  }
  const at::Tensor seeds = click_seeds(clicks, view.width(), view.height());
  // The support plane is excluded when every click that hits a surface lies above it (beyond its band): the
  // object stands on it. A click on the plane means the plane is what is wanted.
  const SupportPlane* excluded = nullptr;
  if (features.plane) {
    bool above = false, on_plane = false;
    for (const Eigen::Vector2d& click : clicks) {
      const std::optional<Eigen::Vector3d> point = lift_click(view.camera, view.depth, click);
      if (!point) continue;
      (features.plane->signed_distance(*point) > 2.0 * features.plane->band ? above : on_plane) = true;
    }
    m_target.exclude_support = above && !on_plane;
    if (m_target.exclude_support) excluded = &*features.plane;
  }
  if (const auto t = jump_threshold(view, unit, seeds, prompts.box, excluded)) m_target.threshold = *t;
  // A first mask from the prompt similarity alone, then (GrabCut-like) rounds of fitting object and background
  // appearance clusters to it and re-classifying by the nearest centroid.
  // Only the final mask is refined along edges: the appearance fit needs the bulk of the object, not its rim.
  const int rounds = m_options.appearance_iterations;
  at::Tensor mask =
      mask_from_seeds(view, unit, seeds, prompts.box, excluded, /*refine=*/rounds == 0, features.pixel_major);
  for (int round = 0; round < rounds && mask.any().item<bool>(); ++round) {
    fit_appearance(m_target, unit, mask, view.opacity, m_options);
    mask = mask_from_seeds(view, unit, seeds, prompts.box, excluded, /*refine=*/round + 1 == rounds,
                           features.pixel_major);
  }
  return mask;
}

at::Tensor SimilaritySegmenter::follow(const SegmentView& view, const Prompts& prompts, const at::Tensor& seed) const {
  at::Tensor seeds = click_seeds(prompts.positive, view.width(), view.height());
  if (seed.defined()) seeds |= seed;
  if (!m_target.whitening.transform.defined()) return at::zeros({view.height(), view.width()}, at::kBool);
  const at::Tensor unit = whiten_unit(view.maps, m_target.whitening);
  std::optional<SupportPlane> plane;
  if (m_target.exclude_support) {
    // prepare() fitted this view's plane already when the view is the cached one; fit it only otherwise.
    const std::optional<ViewFeatures> kept = kept_features(view);
    plane = kept ? kept->plane : support_plane(view);
  }
  return mask_from_seeds(view, unit, seeds, std::nullopt, plane ? &*plane : nullptr);
}

}  // namespace semfield
