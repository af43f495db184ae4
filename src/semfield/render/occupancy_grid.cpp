// Occupancy grid: instant-ngp's EMA density update over jittered cell samples, thresholding, and mip levels.
#include "semfield/render/occupancy_grid.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include <ATen/Parallel.h>
#include <torch/types.h>

#include "semfield/core/error.h"
#include "semfield/core/splitmix64.h"
#include "semfield/render/contraction.h"

namespace semfield {

namespace {

constexpr int kMaxResolution = 512;
constexpr int64_t kGrainCells = 1 << 14;

// Uniform in [0, 1) from 21 bits starting at `shift`.
inline float unit_from_bits(uint64_t bits, int shift) {
  return static_cast<float>((bits >> shift) & 0x1FFFFFu) * (1.0f / 2097152.0f);
}

// Uniform integer in [0, n) (multiply-shift on the top 32 bits; bias is below 2^-32 * n).
inline int64_t index_from_bits(uint64_t bits, int64_t n) {
  return static_cast<int64_t>(((bits >> 32) * static_cast<uint64_t>(n)) >> 32);
}

void check_config(const Eigen::Vector3f& aabb_min, const Eigen::Vector3f& aabb_max, bool contracted,
                  const OccupancyGridConfig& c) {
  if (c.resolution < 1 || c.resolution > kMaxResolution)
    fail_usage("occupancy grid: resolution must be in [1, {}], got {}", kMaxResolution, c.resolution);
  if (!(c.decay >= 0.0 && c.decay <= 1.0))
    fail_usage("occupancy grid: decay must be in [0, 1], got {}", c.decay);
  if (!(c.threshold >= 0.0 && std::isfinite(c.threshold)))
    fail_usage("occupancy grid: threshold must be finite and >= 0, got {}", c.threshold);
  if (c.warmup_steps < 0) fail_usage("occupancy grid: warmup_steps must be >= 0, got {}", c.warmup_steps);
  if (c.batch_points < 1) fail_usage("occupancy grid: batch_points must be >= 1, got {}", c.batch_points);
  if (contracted) return;
  for (int a = 0; a < 3; ++a) {
    if (!(std::isfinite(aabb_min[a]) && std::isfinite(aabb_max[a]) && aabb_max[a] > aabb_min[a]))
      fail_usage("occupancy grid: the box's extent [{}, {}] on axis {} is empty or not finite", aabb_min[a],
                 aabb_max[a], a);
  }
}

// Packs nonzero bytes into bits, 64 per word (the tail of the last word stays 0).
std::vector<uint64_t> pack_bits(const std::vector<uint8_t>& bytes) {
  std::vector<uint64_t> words((bytes.size() + 63) / 64, 0);
  at::parallel_for(0, static_cast<int64_t>(words.size()), 1024, [&](int64_t begin, int64_t end) {
    for (int64_t w = begin; w < end; ++w) {
      const size_t first = static_cast<size_t>(w) * 64;
      const size_t n = std::min<size_t>(64, bytes.size() - first);
      uint64_t word = 0;
      for (size_t b = 0; b < n; ++b) word |= static_cast<uint64_t>(bytes[first + b] != 0) << b;
      words[static_cast<size_t>(w)] = word;
    }
  });
  return words;
}

}  // namespace

OccupancyLevels OccupancyLevels::build(const uint8_t* bitfield, int res) {
  OccupancyLevels out;
  std::vector<uint8_t> fine(bitfield, bitfield + static_cast<size_t>(res) * res * res);

  // Bounding box of occupied cells: rows (i, j) that hold any, and the extent along k within them.
  int lo[3] = {res, res, res}, hi[3] = {0, 0, 0};
  for (int i = 0; i < res; ++i) {
    for (int j = 0; j < res; ++j) {
      const uint8_t* row = fine.data() + (static_cast<size_t>(i) * res + j) * res;
      int first = 0;
      while (first < res && !row[first]) ++first;
      if (first == res) continue;
      int last = res - 1;
      while (!row[last]) --last;
      const int cell_lo[3] = {i, j, first}, cell_hi[3] = {i + 1, j + 1, last + 1};
      for (int a = 0; a < 3; ++a) {
        lo[a] = std::min(lo[a], cell_lo[a]);
        hi[a] = std::max(hi[a], cell_hi[a]);
      }
    }
  }
  if (hi[0] > 0) {
    for (int a = 0; a < 3; ++a) {
      out.occupied_min[a] = lo[a];
      out.occupied_max[a] = hi[a];
    }
  }

  out.resolution.push_back(res);
  out.bits.push_back(pack_bits(fine));
  while (out.resolution.back() > 1) {
    const int fr = out.resolution.back();
    const int cr = (fr + 1) / 2;
    std::vector<uint8_t> coarse(static_cast<size_t>(cr) * cr * cr, 0);
    // Each coarse row (ci, cj) ORs up to four fine rows elementwise, then pairs of neighbours along k:
    // contiguous loops the compiler vectorises.
    at::parallel_for(0, cr, std::max(1, 16384 / std::max(1, cr * fr)), [&](int64_t ci_begin, int64_t ci_end) {
      std::vector<uint8_t> row(static_cast<size_t>(2 * cr), 0);
      for (int64_t ci = ci_begin; ci < ci_end; ++ci) {
        for (int cj = 0; cj < cr; ++cj) {
          std::fill(row.begin(), row.end(), 0);
          for (int64_t i = 2 * ci; i < std::min<int64_t>(2 * ci + 2, fr); ++i) {
            for (int j = 2 * cj; j < std::min(2 * cj + 2, fr); ++j) {
              const uint8_t* src = fine.data() + (i * fr + j) * fr;
              for (int k = 0; k < fr; ++k) row[static_cast<size_t>(k)] |= src[k];
            }
          }
          uint8_t* dst = coarse.data() + (ci * cr + cj) * cr;
          for (int ck = 0; ck < cr; ++ck)
            dst[ck] = row[static_cast<size_t>(2 * ck)] | row[static_cast<size_t>(2 * ck + 1)];
        }
      }
    });
    out.resolution.push_back(cr);
    out.bits.push_back(pack_bits(coarse));
    fine = std::move(coarse);
  }
  return out;
}

OccupancyGrid::OccupancyGrid(const Eigen::Vector3f& aabb_min, const Eigen::Vector3f& aabb_max,
                             bool contracted, const OccupancyGridConfig& config)
    : m_config(config), m_contracted(contracted) {
  check_config(aabb_min, aabb_max, contracted, config);
  if (contracted) {
    m_min = Eigen::Vector3f::Constant(-2.0f);
    m_max = Eigen::Vector3f::Constant(2.0f);
  } else {
    m_min = aabb_min;
    m_max = aabb_max;
  }
  const int64_t res = config.resolution;
  m_density = at::zeros({res * res * res}, at::kFloat);
  m_bitfield = at::zeros({res * res * res}, at::kByte);
  refresh_levels();
}

void OccupancyGrid::refresh_levels() {
  const int64_t res = m_config.resolution;
  SEMFIELD_ASSERT(m_bitfield.scalar_type() == at::kByte && m_bitfield.numel() == res * res * res &&
                      m_bitfield.is_contiguous() && m_bitfield.device().is_cpu(),
                  "occupancy bitfield must stay a contiguous uint8 CPU tensor of res^3 cells");
  m_levels = OccupancyLevels::build(m_bitfield.data_ptr<uint8_t>(), m_config.resolution);
  m_levels_current = true;
}

void OccupancyGrid::fill() {
  m_bitfield.fill_(1);
  refresh_levels();
}

bool OccupancyGrid::occupied_at(const float* position) const {
  float p[3] = {position[0], position[1], position[2]};
  if (m_contracted) contract_point(p, p);
  const int res = m_config.resolution;
  int idx[3];
  for (int a = 0; a < 3; ++a) {
    const float g = (p[a] - m_min[a]) / (m_max[a] - m_min[a]) * static_cast<float>(res);
    // Written so NaN fails the test too.
    if (!(g >= 0.0f && g < static_cast<float>(res))) return false;
    idx[a] = std::min(static_cast<int>(g), res - 1);
  }
  return m_bitfield.data_ptr<uint8_t>()[(static_cast<int64_t>(idx[0]) * res + idx[1]) * res + idx[2]] != 0;
}

double OccupancyGrid::occupancy_fraction() const {
  const int64_t n = m_bitfield.numel();
  if (n == 0) return 0.0;
  const uint8_t* bits = m_bitfield.data_ptr<uint8_t>();
  const int64_t count = at::parallel_reduce(
      0, n, kGrainCells, int64_t{0},
      [&](int64_t begin, int64_t end, int64_t acc) {
        for (int64_t i = begin; i < end; ++i) acc += bits[i] != 0;
        return acc;
      },
      [](int64_t a, int64_t b) { return a + b; });
  return static_cast<double>(count) / static_cast<double>(n);
}

void OccupancyGrid::update(const DensityFn& density_fn, int64_t step, double min_step_size) {
  SEMFIELD_ASSERT(min_step_size > 0.0 && std::isfinite(min_step_size),
                  "min_step_size must be finite and > 0");
  const int res = m_config.resolution;
  const int64_t n_cells = static_cast<int64_t>(res) * res * res;
  SEMFIELD_ASSERT(m_density.scalar_type() == at::kFloat && m_density.numel() == n_cells &&
                      m_density.is_contiguous() && m_density.device().is_cpu(),
                  "occupancy density must stay a contiguous float32 CPU tensor of res^3 cells");
  SEMFIELD_ASSERT(m_bitfield.scalar_type() == at::kByte && m_bitfield.numel() == n_cells &&
                      m_bitfield.is_contiguous() && m_bitfield.device().is_cpu(),
                  "occupancy bitfield must stay a contiguous uint8 CPU tensor of res^3 cells");
  float* density = m_density.data_ptr<float>();
  uint8_t* bits = m_bitfield.data_ptr<uint8_t>();
  const uint64_t key = splitmix64_at(m_config.seed ^ splitmix64_at(static_cast<uint64_t>(step)));

  // Which cells to sample: all of them during warmup, otherwise a uniform quarter plus a quarter of the
  // occupied ones (so occupied space, where the field changes, is refreshed about twice as often).
  std::vector<int32_t> cells;
  if (step < m_config.warmup_steps) {
    cells.resize(static_cast<size_t>(n_cells));
    for (int64_t c = 0; c < n_cells; ++c) cells[static_cast<size_t>(c)] = static_cast<int32_t>(c);
  } else {
    const int64_t quarter = std::max<int64_t>(1, n_cells / 4);
    std::vector<int32_t> occupied;
    for (int64_t c = 0; c < n_cells; ++c)
      if (bits[c]) occupied.push_back(static_cast<int32_t>(c));
    const int64_t n_occupied_draws = occupied.empty() ? 0 : quarter;
    cells.resize(static_cast<size_t>(quarter + n_occupied_draws));
    const uint64_t cell_key = splitmix64_at(key ^ 0x5EED5EED5EED5EEDull);
    at::parallel_for(0, quarter + n_occupied_draws, kGrainCells, [&](int64_t begin, int64_t end) {
      for (int64_t s = begin; s < end; ++s) {
        const uint64_t bits64 = splitmix64_at(cell_key + static_cast<uint64_t>(s));
        cells[static_cast<size_t>(s)] = s < quarter ? static_cast<int32_t>(index_from_bits(bits64, n_cells))
                                                    : occupied[static_cast<size_t>(index_from_bits(
                                                          bits64, static_cast<int64_t>(occupied.size())))];
      }
    });
  }

  // The largest new density per sampled cell in this update; -1 marks cells not sampled.
  std::vector<float> fresh(static_cast<size_t>(n_cells), -1.0f);
  const auto n_samples = static_cast<int64_t>(cells.size());
  const Eigen::Vector3f cell_size = (m_max - m_min) / static_cast<float>(res);
  for (int64_t start = 0; start < n_samples; start += m_config.batch_points) {
    const int64_t m = std::min(m_config.batch_points, n_samples - start);
    at::Tensor positions = at::empty({m, 3}, at::kFloat);
    float* pos = positions.data_ptr<float>();
    at::parallel_for(0, m, kGrainCells, [&](int64_t begin, int64_t end) {
      for (int64_t s = begin; s < end; ++s) {
        const int64_t c = cells[static_cast<size_t>(start + s)];
        const int64_t idx[3] = {c / (static_cast<int64_t>(res) * res), (c / res) % res, c % res};
        const uint64_t jitter = splitmix64_at(key + static_cast<uint64_t>(start + s));
        float* p = pos + 3 * s;
        for (int a = 0; a < 3; ++a)
          p[a] = m_min[a] + (static_cast<float>(idx[a]) + unit_from_bits(jitter, 21 * a)) * cell_size[a];
        if (m_contracted) uncontract_point(p, p);
      }
    });
    const at::Tensor sigma = density_fn(positions);
    SEMFIELD_ASSERT(sigma.defined() && sigma.numel() == m && sigma.device().is_cpu(),
                    fmt::format("density_fn returned {} values for {} positions",
                                sigma.defined() ? sigma.numel() : 0, m));
    const at::Tensor values = sigma.reshape({m}).to(at::kFloat).contiguous();
    const float* v = values.data_ptr<float>();
    // Serial: a cell may appear twice in one batch.
    for (int64_t s = 0; s < m; ++s) {
      const float d = v[s] > 0.0f ? std::min(v[s], FLT_MAX) : 0.0f;  // NaN -> 0
      float& slot = fresh[static_cast<size_t>(cells[static_cast<size_t>(start + s)])];
      slot = std::max(slot, d);
    }
  }

  const auto decay = static_cast<float>(m_config.decay);
  const double density_sum = at::parallel_reduce(
      0, n_cells, kGrainCells, 0.0,
      [&](int64_t begin, int64_t end, double acc) {
        for (int64_t c = begin; c < end; ++c) {
          const float f = fresh[static_cast<size_t>(c)];
          if (f >= 0.0f) density[c] = std::max(density[c] * decay, f);
          acc += density[c];
        }
        return acc;
      },
      [](double a, double b) { return a + b; });
  const double mean_density = density_sum / static_cast<double>(n_cells);
  const auto threshold = static_cast<float>(std::min(m_config.threshold / min_step_size, mean_density));
  at::parallel_for(0, n_cells, kGrainCells, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) bits[c] = density[c] > threshold ? 1 : 0;
  });
  refresh_levels();
}

}  // namespace semfield
