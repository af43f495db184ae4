// Random training-ray batches across images, from a bounded 8-bit image store.
#include "semfield/train/pixel_sampler.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <numeric>
#include <memory>
#include <mutex>
#include <random>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/core/parallel.h"
#include "semfield/core/progress.h"

namespace semfield {

namespace {

std::string store_bytes_text(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1e9) return fmt::format("{:.2f} GB", b / 1e9);
  if (b >= 1e6) return fmt::format("{:.1f} MB", b / 1e6);
  return fmt::format("{:.1f} kB", b / 1e3);
}

int64_t view_pixels(const View& view) {
  return static_cast<int64_t>(view.camera.intrinsics.width) * view.camera.intrinsics.height;
}

// RGB or RGBA floats in [0,1] -> uint8 RGBA [h*w, 4] (alpha 255 for RGB): round to nearest, so 8-bit files
// come back exactly.
at::Tensor quantise_rgba(const Image& image) {
  const int64_t n = static_cast<int64_t>(image.width) * image.height;
  at::Tensor out = at::empty({n, 4}, at::kByte);
  uint8_t* dst = out.data_ptr<uint8_t>();
  const float* src = image.pixels.data();
  const int channels = image.channels;
  const auto q = [](float v) { return static_cast<uint8_t>(std::nearbyint(std::clamp(v, 0.0f, 1.0f) * 255.0f)); };
  for (int64_t p = 0; p < n; ++p) {
    const float* s = src + p * channels;
    uint8_t* o = dst + p * 4;
    o[0] = q(s[0]);
    o[1] = q(s[1]);
    o[2] = q(s[2]);
    o[3] = channels == 4 ? q(s[3]) : 255;
  }
  return out;
}

// k / 255 by division, as read_image computes it: an 8-bit file's pixels come back bit-identical.
const std::array<float, 256> kUnitLevels = [] {
  std::array<float, 256> levels{};
  for (int k = 0; k < 256; ++k) levels[static_cast<size_t>(k)] = static_cast<float>(k) / 255.0f;
  return levels;
}();

}  // namespace

std::string ImageMemoryPlan::describe() const {
  std::string text = fmt::format("{} views, {:.2f} Mpx: 8-bit store {} (as floats: {})", views,
                                 static_cast<double>(pixels) / 1e6, store_bytes_text(store_bytes),
                                 store_bytes_text(float_bytes));
  if (cap_bytes > 0) text += fmt::format("; cap {}", store_bytes_text(cap_bytes));
  if (!rotating()) return text + ": every view resident";
  return text + fmt::format(": a rotating subset of {} views (at most {}), {} replaced every {} steps", resident_views,
                            store_bytes_text(resident_bytes_max), rotate_views, rotate_every);
}

nlohmann::json ImageMemoryPlan::to_json() const {
  return {{"views", views},
          {"pixels", pixels},
          {"store_bytes", store_bytes},
          {"float_bytes", float_bytes},
          {"cap_bytes", cap_bytes},
          {"resident_views", resident_views},
          {"resident_bytes_max", resident_bytes_max},
          {"rotate_every", rotate_every},
          {"rotate_views", rotate_views},
          {"load_seconds", load_seconds},
          {"rotation_seconds", rotation_seconds}};
}

int64_t default_image_memory_cap() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return 8'000'000'000LL;  // unknown: assume a 16 GB machine
  return static_cast<int64_t>(pages) * page_size / 2;
}

PixelSampler::PixelSampler(const std::vector<const View*>& views, const PixelSamplerOptions& options)
    : m_views(views), m_options(options) {
  if (views.empty()) throw InputError("pixel sampler: no training views");
  if (options.memory_cap_bytes < 0) fail_usage("image memory cap must be >= 0, got {}", options.memory_cap_bytes);
  if (options.rotate_every < 0) fail_usage("image rotation interval must be >= 0 steps, got {}", options.rotate_every);
  std::vector<Camera> cameras;
  int64_t largest = 0;
  for (const View* v : views) {
    if (v->rgb.empty() && !options.reload) fail_input(v->image_path, "", "image not loaded");
    if (!v->rgb.empty() && (v->rgb.width != v->camera.intrinsics.width || v->rgb.height != v->camera.intrinsics.height))
      fail_input(v->image_path, "", "image is {}x{} but its camera is {}x{}", v->rgb.width, v->rgb.height,
                 v->camera.intrinsics.width, v->camera.intrinsics.height);
    cameras.push_back(v->camera);
    m_plan.pixels += view_pixels(*v);
    largest = std::max(largest, view_pixels(*v) * kStoreBytesPerPixel);
  }
  m_cameras = kernels::CameraBatch::from_cameras(cameras);
  const auto n_views = static_cast<int64_t>(views.size());
  m_plan.views = n_views;
  m_plan.store_bytes = m_plan.pixels * kStoreBytesPerPixel;
  m_plan.float_bytes = m_plan.pixels * 16;
  m_plan.cap_bytes = options.memory_cap_bytes;
  m_order.resize(views.size());
  std::iota(m_order.begin(), m_order.end(), 0);
  if (options.memory_cap_bytes == 0 || m_plan.store_bytes <= options.memory_cap_bytes) {
    m_plan.resident_views = n_views;
    m_plan.resident_bytes_max = m_plan.store_bytes;
  } else {
    if (largest > options.memory_cap_bytes)
      fail_usage("the image memory cap ({}) is smaller than one training view ({}); raise it or --downscale",
                 store_bytes_text(options.memory_cap_bytes), store_bytes_text(largest));
    // Sized for the largest view, so any window of views fits; the order is a seeded shuffle so a window
    // mixes viewpoints instead of holding one arc of the capture.
    m_plan.resident_views = std::min<int64_t>(n_views - 1, options.memory_cap_bytes / largest);
    m_plan.resident_bytes_max = m_plan.resident_views * largest;
    m_plan.rotate_views = std::clamp<int64_t>(
        std::llround(options.rotate_fraction * static_cast<double>(m_plan.resident_views)), 1, m_plan.resident_views);
    const int64_t rotation_pixels = m_plan.rotate_views * (largest / kStoreBytesPerPixel);
    m_plan.rotate_every = options.rotate_every > 0
                              ? options.rotate_every
                              : std::clamp<int64_t>((rotation_pixels + kRotationPixelsPerStep - 1) / kRotationPixelsPerStep,
                                                    10, 1000);
    std::mt19937_64 rng(options.seed * 0x9E3779B97F4A7C15ull + 17);
    std::shuffle(m_order.begin(), m_order.end(), rng);
  }
  m_rotation = m_plan.rotating() ? options.start_step / m_plan.rotate_every : 0;
  const auto start = std::chrono::steady_clock::now();
  load(window(m_rotation), options.show_progress);
  m_plan.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<int> PixelSampler::window(int64_t rotation) const {
  if (!m_plan.rotating()) return m_order;
  const auto n = static_cast<int64_t>(m_order.size());
  std::vector<int> out;
  const int64_t first = (rotation % n) * m_plan.rotate_views % n;
  for (int64_t j = 0; j < m_plan.resident_views; ++j) out.push_back(m_order[static_cast<size_t>((first + j) % n)]);
  return out;
}

at::Tensor PixelSampler::store_view(int view) const {
  const View& v = *m_views[static_cast<size_t>(view)];
  if (!v.rgb.empty()) return quantise_rgba(v.rgb);
  return quantise_rgba(load_view_colour(v, *m_options.reload));
}

void PixelSampler::load(const std::vector<int>& wanted, bool show_progress) {
  // Keep the slots still wanted, free the others, then decode the arrivals (in parallel, one view per task).
  std::vector<Slot> kept;
  std::vector<int> arriving;
  for (const int v : wanted) {
    const auto it = std::find_if(m_slots.begin(), m_slots.end(), [&](const Slot& s) { return s.view == v; });
    if (it != m_slots.end())
      kept.push_back(std::move(*it));
    else
      arriving.push_back(v);
  }
  m_slots = std::move(kept);
  std::vector<Slot> arrived(arriving.size());
  std::unique_ptr<ProgressBar> bar;
  if (show_progress && arriving.size() >= 20)
    bar = std::make_unique<ProgressBar>("loading images", static_cast<int64_t>(arriving.size()), "img");
  std::mutex bar_mutex;
  int64_t done = 0;
  parallel_for(0, static_cast<int64_t>(arriving.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const auto k = static_cast<size_t>(i);
      arrived[k] = {arriving[k], store_view(arriving[k])};
      if (bar) {
        const std::lock_guard<std::mutex> lock(bar_mutex);
        bar->update(++done);
      }
    }
  });
  if (bar) bar->finish();
  for (Slot& s : arrived) m_slots.push_back(std::move(s));
  m_offsets.assign(1, 0);
  for (const Slot& s : m_slots) m_offsets.push_back(m_offsets.back() + s.rgba.size(0));
  m_peak_bytes = std::max(m_peak_bytes, resident_bytes());  // leavers were freed first: this is the peak
}

bool PixelSampler::advance(int64_t step) {
  if (!m_plan.rotating()) return false;
  const int64_t rotation = step / m_plan.rotate_every;
  if (rotation == m_rotation) return false;
  m_rotation = rotation;
  const auto start = std::chrono::steady_clock::now();
  load(window(rotation), false);
  m_plan.rotation_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::debug("image store: rotation {} at step {}: {} views resident ({})", rotation, step, m_slots.size(),
             store_bytes_text(resident_bytes()));
  return true;
}

std::vector<int> PixelSampler::resident_views() const {
  std::vector<int> out;
  for (const Slot& s : m_slots) out.push_back(s.view);
  return out;
}

RayBatch PixelSampler::sample(int64_t n, uint64_t seed) const {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor flat = at::randint(0, n_pixels(), {n}, generator, at::kLong);
  const at::Tensor jitter = at::rand({n, 2}, generator, at::kFloat);
  at::Tensor view_ids = at::empty({n}, at::kLong);
  at::Tensor uv = at::empty({n, 2}, at::kFloat);
  at::Tensor rgba = at::empty({n, 4}, at::kFloat);
  const int64_t* f = flat.data_ptr<int64_t>();
  const float* j = jitter.data_ptr<float>();
  int64_t* vid = view_ids.data_ptr<int64_t>();
  float* uvp = uv.data_ptr<float>();
  float* colour = rgba.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    const auto it = std::upper_bound(m_offsets.begin(), m_offsets.end(), f[i]);
    const auto slot = static_cast<size_t>((it - m_offsets.begin()) - 1);
    const int64_t local = f[i] - m_offsets[slot];
    const int view = m_slots[slot].view;
    const int w = m_views[static_cast<size_t>(view)]->camera.intrinsics.width;
    vid[i] = view;
    uvp[2 * i] = static_cast<float>(local % w) + j[2 * i];
    uvp[2 * i + 1] = static_cast<float>(local / w) + j[2 * i + 1];
    const uint8_t* px = m_slots[slot].rgba.data_ptr<uint8_t>() + local * 4;
    for (int c = 0; c < 4; ++c) colour[4 * i + c] = kUnitLevels[px[c]];
  }
  const kernels::Rays rays = kernels::generate_rays(m_cameras, view_ids, uv);
  return {rays.origins, rays.directions, rgba};
}

}  // namespace semfield
