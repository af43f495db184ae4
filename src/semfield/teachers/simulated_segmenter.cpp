// The simulated 2D segmenter: see simulated_segmenter.h for what it does and why.
#include "semfield/teachers/simulated_segmenter.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "semfield/core/error.h"
#include "semfield/core/splitmix64.h"

namespace semfield {

namespace {

constexpr double kSmallObjectFraction = 0.02;  // x s of the image: segments below this vanish
constexpr double kConfusionRate = 0.15;         // x s: probability that a segment takes its class's partner
constexpr int kMinConfusedSegment = 16;         // pixels
constexpr double kJitterAmplitude = 0.04;       // x s of the larger side, pixels of displacement
constexpr double kBlobsPer128Squared = 3.0;     // x s

/// Stream keys of the independent draws of one view.
enum Stream : uint64_t { kConfusion = 1, kJitter = 2, kBlobs = 3, kPartners = 4 };

uint64_t stream_seed(uint64_t seed, uint64_t view_key, Stream stream) {
  return splitmix64_finalize(splitmix64_finalize(seed * 0x100000001B3ULL + view_key) ^ (stream * kSplitMix64Gamma));
}

/// Connected segments (4-connected, one id): a segment index per pixel (-1 for unlabelled pixels) and their sizes.
struct Segments {
  std::vector<int32_t> index;
  std::vector<int64_t> size;
  std::vector<int32_t> id;
};

Segments find_segments(const LabelMap& m) {
  Segments s;
  s.index.assign(m.ids.size(), -1);
  std::vector<int64_t> stack;
  for (int64_t start = 0; start < static_cast<int64_t>(m.ids.size()); ++start) {
    if (m.ids[static_cast<size_t>(start)] < 0 || s.index[static_cast<size_t>(start)] >= 0) continue;
    const int32_t label = m.ids[static_cast<size_t>(start)];
    const auto seg = static_cast<int32_t>(s.size.size());
    int64_t count = 0;
    stack.push_back(start);
    s.index[static_cast<size_t>(start)] = seg;
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      ++count;
      const int x = static_cast<int>(p % m.width), y = static_cast<int>(p / m.width);
      const int64_t nb[4] = {x > 0 ? p - 1 : -1, x + 1 < m.width ? p + 1 : -1, y > 0 ? p - m.width : -1,
                             y + 1 < m.height ? p + m.width : -1};
      for (int64_t q : nb)
        if (q >= 0 && s.index[static_cast<size_t>(q)] < 0 && m.ids[static_cast<size_t>(q)] == label) {
          s.index[static_cast<size_t>(q)] = seg;
          stack.push_back(q);
        }
    }
    s.size.push_back(count);
    s.id.push_back(label);
  }
  return s;
}

/// The confusion partner of every class: another class of the list, fixed by the seed.
std::map<int32_t, int32_t> confusion_partners(const std::vector<int32_t>& classes, uint64_t seed) {
  std::map<int32_t, int32_t> partner;
  const int n = static_cast<int>(classes.size());
  for (int i = 0; i < n; ++i) {
    if (n < 2) {
      partner[classes[static_cast<size_t>(i)]] = classes[static_cast<size_t>(i)];
      continue;
    }
    SplitMix64 rng(stream_seed(seed, static_cast<uint64_t>(classes[static_cast<size_t>(i)]), kPartners));
    const int j = (i + 1 + rng.index(n - 1)) % n;  // any class but itself
    partner[classes[static_cast<size_t>(i)]] = classes[static_cast<size_t>(j)];
  }
  return partner;
}

}  // namespace

LabelMap label_map_from_image(const Image& image) {
  LabelMap m;
  m.width = image.width;
  m.height = image.height;
  m.ids.resize(static_cast<size_t>(image.width) * image.height);
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x)
      m.ids[static_cast<size_t>(y) * image.width + x] = static_cast<int32_t>(image.at(x, y));
  return m;
}

Image label_map_to_image(const LabelMap& m) {
  Image image(m.width, m.height, 1);
  for (int y = 0; y < m.height; ++y)
    for (int x = 0; x < m.width; ++x) image.at(x, y) = static_cast<float>(std::max(0, m.at(x, y)));
  return image;
}

SegmentationScore score_segmentation(const std::vector<LabelMap>& predictions, const std::vector<LabelMap>& truth) {
  if (predictions.size() != truth.size())
    fail_usage("score_segmentation: {} predictions for {} ground-truth maps", predictions.size(), truth.size());
  std::map<int32_t, int64_t> inter, pred_count, true_count;
  int64_t correct = 0, labelled = 0;
  for (size_t v = 0; v < truth.size(); ++v) {
    const LabelMap& p = predictions[v];
    const LabelMap& t = truth[v];
    if (p.width != t.width || p.height != t.height || p.ids.size() != t.ids.size())
      fail_usage("score_segmentation: map {} is {}x{}, its ground truth {}x{}", v, p.width, p.height, t.width,
                 t.height);
    for (size_t i = 0; i < t.ids.size(); ++i) {
      if (t.ids[i] < 0) continue;
      ++labelled;
      ++true_count[t.ids[i]];
      if (p.ids[i] >= 0) ++pred_count[p.ids[i]];
      if (p.ids[i] == t.ids[i]) {
        ++correct;
        ++inter[t.ids[i]];
      }
    }
  }
  SegmentationScore score;
  if (labelled == 0) return score;
  std::set<int32_t> classes;
  for (const auto& [c, n] : true_count) classes.insert(c);
  for (const auto& [c, n] : pred_count) classes.insert(c);
  double sum = 0;
  for (int32_t c : classes) {
    const int64_t i = inter.count(c) ? inter[c] : 0;
    const int64_t u = (true_count.count(c) ? true_count[c] : 0) + (pred_count.count(c) ? pred_count[c] : 0) - i;
    sum += u > 0 ? static_cast<double>(i) / static_cast<double>(u) : 0.0;
  }
  score.classes = static_cast<int>(classes.size());
  score.miou = sum / static_cast<double>(classes.size());
  score.accuracy = static_cast<double>(correct) / static_cast<double>(labelled);
  return score;
}

LabelMap simulate_segmentation(const LabelMap& truth, const std::vector<int32_t>& classes, double severity,
                               uint64_t seed, uint64_t view_key) {
  if (!(severity >= 0)) fail_usage("simulated segmenter: severity must be >= 0, got {}", severity);
  if (truth.width <= 0 || truth.height <= 0 || truth.ids.size() != static_cast<size_t>(truth.width) * truth.height)
    fail_usage("simulated segmenter: a {}x{} map needs {} ids, got {}", truth.width, truth.height,
               static_cast<int64_t>(truth.width) * truth.height, truth.ids.size());
  LabelMap out = truth;
  if (severity == 0 || classes.empty()) return out;
  const int W = truth.width, H = truth.height;
  const double area = static_cast<double>(W) * H;

  // 1. Missed small objects: small segments take the majority id on their outer boundary.
  {
    const Segments seg = find_segments(out);
    const double small = kSmallObjectFraction * severity * area;
    std::vector<std::map<int32_t, int64_t>> around(seg.size.size());
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        const int32_t s = seg.index[static_cast<size_t>(y) * W + x];
        if (s < 0 || static_cast<double>(seg.size[static_cast<size_t>(s)]) >= small) continue;
        const int nx[4] = {x - 1, x + 1, x, x}, ny[4] = {y, y, y - 1, y + 1};
        for (int k = 0; k < 4; ++k) {
          if (nx[k] < 0 || nx[k] >= W || ny[k] < 0 || ny[k] >= H) continue;
          const int32_t other = truth.at(nx[k], ny[k]);
          if (seg.index[static_cast<size_t>(ny[k]) * W + nx[k]] != s && other >= 0) ++around[static_cast<size_t>(s)][other];
        }
      }
    std::vector<int32_t> fill(seg.size.size(), -2);
    for (size_t s = 0; s < seg.size.size(); ++s) {
      int64_t best = 0;
      for (const auto& [id, n] : around[s])
        if (n > best) best = n, fill[s] = id;
    }
    for (size_t i = 0; i < out.ids.size(); ++i)
      if (seg.index[i] >= 0 && fill[static_cast<size_t>(seg.index[i])] != -2) out.ids[i] = fill[static_cast<size_t>(seg.index[i])];
  }

  // 2. Whole-segment confusions with each class's fixed partner.
  {
    const std::map<int32_t, int32_t> partner = confusion_partners(classes, seed);
    const Segments seg = find_segments(out);
    SplitMix64 rng(stream_seed(seed, view_key, kConfusion));
    const double p = std::min(1.0, kConfusionRate * severity);
    std::vector<int32_t> relabel(seg.size.size(), -2);
    for (size_t s = 0; s < seg.size.size(); ++s) {
      const double u = rng.uniform();  // drawn for every segment: a segment's draw does not depend on the others
      const auto it = partner.find(seg.id[s]);
      if (seg.size[s] >= kMinConfusedSegment && u < p && it != partner.end()) relabel[s] = it->second;
    }
    for (size_t i = 0; i < out.ids.size(); ++i)
      if (seg.index[i] >= 0 && relabel[static_cast<size_t>(seg.index[i])] != -2)
        out.ids[i] = relabel[static_cast<size_t>(seg.index[i])];
  }

  // 3. Boundary jitter: read every pixel's id at a smoothly displaced position.
  {
    SplitMix64 rng(stream_seed(seed, view_key, kJitter));
    struct Wave {
      double fx, fy, phase, weight;
    };
    const double side = std::max(W, H);
    auto waves = [&] {
      std::vector<Wave> w;
      for (int k = 0; k < 3; ++k) {
        const double angle = rng.uniform(0, 2 * M_PI), cycles = rng.uniform(1.0, 4.0);  // per image side
        w.push_back({std::cos(angle) * cycles / side, std::sin(angle) * cycles / side, rng.uniform(0, 2 * M_PI),
                     1.0 / 3.0});
      }
      return w;
    };
    const std::vector<Wave> wx = waves(), wy = waves();
    const double amplitude = kJitterAmplitude * severity * side;
    const LabelMap before = out;
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        double dx = 0, dy = 0;
        for (const Wave& w : wx) dx += w.weight * std::sin(2 * M_PI * (w.fx * x + w.fy * y) + w.phase);
        for (const Wave& w : wy) dy += w.weight * std::sin(2 * M_PI * (w.fx * x + w.fy * y) + w.phase);
        const int sx = std::clamp(static_cast<int>(std::lround(x + amplitude * dx)), 0, W - 1);
        const int sy = std::clamp(static_cast<int>(std::lround(y + amplitude * dy)), 0, H - 1);
        // Unlabelled pixels stay unlabelled (the segmenter labels what is there; the truth decides what counts).
        if (truth.at(x, y) >= 0) out.ids[static_cast<size_t>(y) * W + x] = before.at(sx, sy) >= 0 ? before.at(sx, sy) : out.at(x, y);
      }
  }

  // 4. Spurious blobs of random classes.
  {
    SplitMix64 rng(stream_seed(seed, view_key, kBlobs));
    const int n = static_cast<int>(std::lround(kBlobsPer128Squared * severity * area / (128.0 * 128.0)));
    const double small_side = std::min(W, H);
    for (int b = 0; b < n; ++b) {
      const double cx = rng.uniform(0, W), cy = rng.uniform(0, H);
      const double rx = rng.uniform(0.02, 0.08) * small_side, ry = rng.uniform(0.02, 0.08) * small_side;
      const int32_t id = classes[static_cast<size_t>(rng.index(static_cast<int>(classes.size())))];
      for (int y = std::max(0, static_cast<int>(cy - ry)); y <= std::min(H - 1, static_cast<int>(cy + ry)); ++y)
        for (int x = std::max(0, static_cast<int>(cx - rx)); x <= std::min(W - 1, static_cast<int>(cx + rx)); ++x) {
          const double ex = (x + 0.5 - cx) / rx, ey = (y + 0.5 - cy) / ry;
          if (ex * ex + ey * ey <= 1.0 && truth.at(x, y) >= 0) out.ids[static_cast<size_t>(y) * W + x] = id;
        }
    }
  }
  return out;
}

SimulatedSegmenter::SimulatedSegmenter(const std::vector<LabelMap>& truth, double target_miou, uint64_t seed)
    : SimulatedSegmenter(truth, target_miou, seed, {}) {}

SimulatedSegmenter::SimulatedSegmenter(const std::vector<LabelMap>& truth, double target_miou, uint64_t seed,
                                       const std::vector<uint64_t>& keys)
    : m_target(target_miou), m_seed(seed) {
  if (!keys.empty() && keys.size() != truth.size())
    fail_usage("simulated segmenter: {} view keys for {} calibration views", keys.size(), truth.size());
  if (!(target_miou > 0 && target_miou <= 1))
    fail_usage("simulated segmenter: the target mIoU must be in (0, 1], got {}", target_miou);
  std::set<int32_t> classes;
  for (const LabelMap& m : truth)
    for (int32_t id : m.ids)
      if (id >= 0) classes.insert(id);
  if (classes.empty()) fail_usage("simulated segmenter: the ground-truth maps have no labelled pixel");
  m_classes.assign(classes.begin(), classes.end());
  // The mIoU the segmenter gives in expectation: averaged over several sets of draws, so the severity found does
  // not fit the particular (rare, large) confusions of one set; segment() then meets the target on other views.
  // With keys: the draws segment() will give these views, one set.
  const int replicates = keys.empty() ? 4 : 1;
  auto miou_at = [&](double s) {
    double sum = 0;
    for (int r = 0; r < replicates; ++r) {
      std::vector<LabelMap> out;
      for (size_t v = 0; v < truth.size(); ++v)
        out.push_back(simulate_segmentation(truth[v], m_classes, s, seed,
                                            keys.empty() ? (uint64_t{1} << 40) * (r + 1) + v : keys[v]));
      sum += score_segmentation(out, truth).miou;
    }
    return sum / replicates;
  };
  if (target_miou >= 1) return;
  // Bisection on the severity: mIoU falls as it grows (fixed draws). Widen the bracket until it holds the target.
  double lo = 0, hi = 1, at_hi = miou_at(hi);
  while (at_hi > target_miou && hi < 64) {
    lo = hi;
    hi *= 2;
    at_hi = miou_at(hi);
  }
  // The closest severity seen wins: where a whole-segment confusion flips, the mIoU jumps across the target and the
  // bisection ends on either side of the jump.
  double best = hi, best_achieved = at_hi;
  for (int it = 0; it < 20 && std::abs(best_achieved - target_miou) > 0.002; ++it) {
    const double s = 0.5 * (lo + hi);
    const double achieved = miou_at(s);
    (achieved > target_miou ? lo : hi) = s;
    if (std::abs(achieved - target_miou) < std::abs(best_achieved - target_miou)) best = s, best_achieved = achieved;
  }
  m_severity = best;
  m_achieved = best_achieved;
}

LabelMap SimulatedSegmenter::segment(const LabelMap& truth, uint64_t view_key) const {
  return simulate_segmentation(truth, m_classes, m_severity, m_seed, view_key);
}

}  // namespace semfield
