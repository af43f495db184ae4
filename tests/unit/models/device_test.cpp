// The image-conditioned networks (IBR, GP-NeRF, FeatureNeRF, GNeSF) on another device against the CPU: the device-agnostic plumbing
// (to(device), sources and cameras on the images' device, seeded training samples drawn on the CPU) and the LibTorch
// paths they take there. The device under test is SEMFIELD_TEST_DEVICE ("cuda", "cuda:1"), else the first GPU of a
// CUDA build of LibTorch (scripts/cuda_check.sh builds one and runs these on a GPU machine); on a CPU-only build the
// GPU cases are skipped with that message.
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <gtest/gtest.h>

#include "semfield/core/tensor_state.h"
#include "semfield/models/featurenerf/featurenerf_network.h"
#include "semfield/models/gnesf/gnesf_network.h"
#include "semfield/models/gpnerf/gpnerf_network.h"
#include "semfield/models/ibr/ibr_network.h"
#include "semfield/models/ibr/ray_samples.h"
#include "support/small_models.h"
#include "support/test_cameras.h"
#include "support/test_support.h"

namespace semfield {
namespace {

/// SEMFIELD_TEST_DEVICE when set (a device that does not exist then fails the tests), else the first CUDA device.
std::optional<at::Device> device_under_test() {
  if (const char* name = std::getenv("SEMFIELD_TEST_DEVICE"); name != nullptr && *name != '\0') {
    const at::Device device(name);  // "cuda" means its first device, as tensors placed there report it
    return device.is_cpu() || device.has_index() ? device : at::Device(device.type(), 0);
  }
  if (at::hasCUDA()) return at::Device(at::kCUDA, 0);
  return std::nullopt;
}

/// The matmul precision by name: LibTorch 1.13 sets it from the enum or a name, 2.x from a name only.
void set_matmul_precision(at::Float32MatmulPrecision precision) {
  switch (precision) {
    case at::Float32MatmulPrecision::HIGHEST: at::globalContext().setFloat32MatmulPrecision("highest"); break;
    case at::Float32MatmulPrecision::HIGH: at::globalContext().setFloat32MatmulPrecision("high"); break;
    case at::Float32MatmulPrecision::MEDIUM: at::globalContext().setFloat32MatmulPrecision("medium"); break;
  }
}

/// TF32 off for cuDNN and cuBLAS while a test runs, the process's previous settings restored after it (the other tests
/// of the binary keep theirs).
class FullFloat32Products {
 public:
  FullFloat32Products()
      : m_cudnn(at::globalContext().allowTF32CuDNN()), m_matmul(at::globalContext().float32MatmulPrecision()) {
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  ~FullFloat32Products() {
    at::globalContext().setAllowTF32CuDNN(m_cudnn);
    // cuBLAS's switch is the matmul precision (true sets "high"): restored as it was, "medium" included.
    set_matmul_precision(m_matmul);
  }
  FullFloat32Products(const FullFloat32Products&) = delete;
  FullFloat32Products& operator=(const FullFloat32Products&) = delete;

 private:
  bool m_cudnn;
  at::Float32MatmulPrecision m_matmul;
};

#define SEMFIELD_REQUIRE_DEVICE(device)                                                                              \
  const std::optional<at::Device> device##_found = device_under_test();                                            \
  if (!device##_found)                                                                                             \
    GTEST_SKIP() << "no GPU: this LibTorch has no CUDA device (scripts/cuda_check.sh runs these on a GPU machine)"; \
  const at::Device device = *device##_found;                                                                       \
  /* Full float32 products on the GPU (cuDNN's convolutions default to TF32): the CPU is the reference. */         \
  const FullFloat32Products device##_full_float32

std::vector<Camera> ring_cameras(int n, int side) {
  std::vector<Camera> out;
  for (int i = 0; i < n; ++i) out.push_back(test::orbit_camera(0.4 * i, side));
  return out;
}

/// n rays from a camera between the source views through the box [-1, 1]^3, and one that misses it.
IbrRays toy_rays(int64_t n) {
  const Eigen::Vector3d o = test::orbit_camera(0.3, 16).origin();
  std::vector<float> origins, dirs;
  for (int64_t i = 0; i < n; ++i) {
    const Eigen::Vector3d aim(0.4 * std::sin(0.7 * static_cast<double>(i)), 0.4 * std::cos(1.3 * static_cast<double>(i)),
                              0.2 * std::sin(0.3 * static_cast<double>(i)));
    const Eigen::Vector3d d = i == 0 ? Eigen::Vector3d(0, 0, 1) : Eigen::Vector3d((aim - o).normalized());
    const Eigen::Vector3d origin = i == 0 ? Eigen::Vector3d(0, 0, 10) : o;
    for (int k = 0; k < 3; ++k) {
      origins.push_back(static_cast<float>(origin[k]));
      dirs.push_back(static_cast<float>(d[k]));
    }
  }
  IbrRays rays;
  rays.origins = at::tensor(origins).view({n, 3});
  rays.dirs = at::tensor(dirs).view({n, 3});
  std::tie(rays.near, rays.far) =
      ray_box_bounds(rays.origins, rays.dirs, Eigen::Vector3f::Constant(-1), Eigen::Vector3f::Constant(1), 1.0f);
  return rays;
}

IbrRays rays_on(const IbrRays& rays, const at::Device& device) {
  return {rays.origins.to(device), rays.dirs.to(device), rays.near.to(device), rays.far.to(device)};
}

/// max |a - b| <= rel * max |b| + abs: the device's result `a` (any device) against the CPU's `b`.
void expect_near(const std::string& what, const at::Tensor& a, const at::Tensor& b, double rel, double abs = 1e-6) {
  ASSERT_TRUE(a.defined() && b.defined()) << what;
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const at::Tensor x = a.detach().to(at::kCPU).to(at::kDouble), y = b.detach().to(at::kCPU).to(at::kDouble);
  const double diff = (x - y).abs().max().item<double>(), scale = y.abs().max().item<double>();
  EXPECT_LE(diff, rel * scale + abs) << what << ": max |device - cpu| " << diff << ", max |cpu| " << scale;
}

/// Every parameter's gradient on the device against the CPU's; some must be non-zero.
template <typename Network>
void expect_same_gradients(const Network& on_device, const Network& on_cpu, double rel) {
  const auto a = on_device.named_parameters(), b = on_cpu.named_parameters();
  ASSERT_EQ(a.size(), b.size());
  int64_t nonzero = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].first, b[i].first);
    if (!b[i].second.grad().defined()) {
      EXPECT_FALSE(a[i].second.grad().defined()) << a[i].first;
      continue;
    }
    const at::Tensor& cpu_grad = b[i].second.grad();
    expect_near("grad " + a[i].first, a[i].second.grad(), cpu_grad, rel, 1e-7);
    nonzero += cpu_grad.abs().max().item<float>() > 0 ? 1 : 0;
  }
  EXPECT_GT(nonzero, static_cast<int64_t>(a.size()) / 2);
}

/// One training step on both networks: `loss_of(network, device)` on the CPU and on the device, the losses compared,
/// then every parameter's gradient (expect_same_gradients).
template <typename Network, typename LossOf>
void expect_same_training_step(const Network& cpu, const Network& dev, const at::Device& device, const LossOf& loss_of) {
  const at::Tensor lc = loss_of(cpu, at::Device(at::kCPU)), ld = loss_of(dev, device);
  expect_near("loss", ld, lc, 1e-5);
  lc.backward();
  ld.backward();
  expect_same_gradients(dev, cpu, 2e-3);
}

// The device tests switch TF32 off while they run and give the process its settings back (runs without a GPU too:
// the switches are the process's flags).
TEST(DeviceSettings, Tf32IsOffInsideADeviceTestAndRestoredAfterIt) {
  at::Context& context = at::globalContext();
  const bool cudnn = context.allowTF32CuDNN();
  const at::Float32MatmulPrecision matmul = context.float32MatmulPrecision();
  context.setAllowTF32CuDNN(true);
  set_matmul_precision(at::Float32MatmulPrecision::MEDIUM);
  {
    const FullFloat32Products full;
    EXPECT_FALSE(context.allowTF32CuDNN());
    EXPECT_FALSE(context.allowTF32CuBLAS());
  }
  EXPECT_TRUE(context.allowTF32CuDNN());
  EXPECT_EQ(context.float32MatmulPrecision(), at::Float32MatmulPrecision::MEDIUM);
  context.setAllowTF32CuDNN(cudnn);
  set_matmul_precision(matmul);
}

TEST(DeviceSamples, SeededTrainingSamplesAreTheSameNumbersOnEveryDevice) {
  // A CPU generator's numbers, moved: the meta device (shapes only) stands in for a GPU on a CPU-only build.
  at::Generator a = at::make_generator<at::CPUGeneratorImpl>(3), b = at::make_generator<at::CPUGeneratorImpl>(3);
  const at::Tensor on_meta = seeded_uniform({4, 5}, a, at::TensorOptions().device(at::kMeta));
  EXPECT_TRUE(on_meta.is_meta());
  EXPECT_EQ(on_meta.sizes(), (std::vector<int64_t>{4, 5}));
  const at::Tensor on_cpu = seeded_uniform({4, 5}, b, at::TensorOptions());
  EXPECT_TRUE(at::equal(on_cpu, at::rand({4, 5}, at::make_generator<at::CPUGeneratorImpl>(3))));
  // Moving to the device the weights are on already changes nothing (the same tensors, still trainable).
  IbrNetwork ibr(test::small_ibr_config());
  const auto before = ibr.named_parameters();
  ibr.to(at::kCPU);
  const auto after = ibr.named_parameters();
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_TRUE(after[i].second.is_same(before[i].second)) << after[i].first;
    EXPECT_TRUE(after[i].second.requires_grad()) << after[i].first;
  }
}

TEST(DeviceIbr, RenderAndTrainingGradientsMatchTheCpu) {
  SEMFIELD_REQUIRE_DEVICE(device);
  const IbrConfig config = test::small_ibr_config();
  IbrNetwork cpu(config), dev(config);
  const auto handles = dev.named_parameters();
  dev.to(device);
  // Moved in place: the handles taken before share the module's tensors, which stay trainable.
  for (const auto& [name, t] : handles) {
    ASSERT_EQ(t.device(), device) << name;
    EXPECT_TRUE(t.requires_grad()) << name;
  }
  const std::vector<Camera> cams = ring_cameras(3, 16);
  const at::Tensor images = at::rand({3, 3, 16, 16}, at::make_generator<at::CPUGeneratorImpl>(1));
  const IbrRays rays = toy_rays(40);
  const at::Tensor bg = at::full({40, 3}, 0.25f);
  {
    // Inference: the CPU's fused kernels against the device's LibTorch path.
    at::NoGradGuard no_grad;
    const IbrRenderOutput c = cpu.render(rays, cpu.prepare(cams, images), bg, false, 1);
    const IbrRenderOutput d = dev.render(rays_on(rays, device), dev.prepare(cams, images.to(device)), bg.to(device), false, 1);
    EXPECT_EQ(d.rgb.device(), device);
    expect_near("rgb", d.rgb, c.rgb, 1e-4);
    expect_near("opacity", d.opacity, c.opacity, 1e-4);
    expect_near("depth", d.depth, c.depth, 1e-4);
    expect_near("weights", d.weights, c.weights, 1e-4);
    EXPECT_GT(c.opacity.max().item<float>(), 0.0f);
  }
  // A training step's loss and gradients (stratified jitter and random importance samples from the same seed).
  const at::Tensor target = at::rand({40, 3}, at::make_generator<at::CPUGeneratorImpl>(2));
  auto loss_of = [&](const IbrNetwork& net, const at::Device& on) {
    const IbrRenderOutput o = net.render(rays_on(rays, on), net.prepare(cams, images.to(on)), bg.to(on), true, 7);
    return (o.rgb - target.to(on)).square().mean() + 0.5 * (o.rgb_coarse - target.to(on)).square().mean() +
           0.1 * o.depth.mean();
  };
  expect_same_training_step(cpu, dev, device, loss_of);
  // Moving to the device the weights are on (named without an index: whichever of its kind holds them) moves nothing
  // and keeps the gradients.
  auto with_grads = [&] {
    int64_t n = 0;
    for (const auto& [name, t] : dev.named_parameters()) n += t.grad().defined() ? 1 : 0;
    return n;
  };
  const int64_t before = with_grads();
  EXPECT_GT(before, 0);
  dev.to(at::Device(device.type()));
  EXPECT_EQ(with_grads(), before);
}

TEST(DeviceGpnerf, RenderHeadsAndTrainingGradientsMatchTheCpu) {
  SEMFIELD_REQUIRE_DEVICE(device);
  GpnerfConfig config = test::small_gpnerf_config();
  config.n_fine = 6;
  config.source_views = 3;
  config.instance_slots = 3;
  GpnerfNetwork cpu(config), dev(config);
  dev.to(device);
  for (const auto& [name, t] : dev.named_parameters()) ASSERT_EQ(t.device(), device) << name;
  const std::vector<Camera> cams = ring_cameras(3, 32);
  const at::Tensor images = at::rand({3, 3, 32, 32}, at::make_generator<at::CPUGeneratorImpl>(5));
  const IbrRays rays = toy_rays(24);
  const at::Tensor bg = at::full({24, 3}, 0.25f);
  {
    at::NoGradGuard no_grad;
    const GpnerfRenderOutput c = cpu.render(rays, cpu.prepare(cams, images), bg, false, 0);
    const GpnerfRenderOutput d = dev.render(rays_on(rays, device), dev.prepare(cams, images.to(device)), bg.to(device), false, 0);
    EXPECT_EQ(d.semantic.device(), device);
    for (const auto& [name, a, b] : {std::tuple<const char*, at::Tensor, at::Tensor>{"rgb", d.rgb, c.rgb},
                                     {"semantic", d.semantic, c.semantic},
                                     {"rgb_point", d.rgb_point, c.rgb_point},
                                     {"opacity", d.opacity, c.opacity},
                                     {"depth", d.depth, c.depth}})
      expect_near(name, a, b, 2e-4);
    EXPECT_TRUE(at::equal(d.valid.to(at::kCPU), c.valid));
    EXPECT_GT(c.semantic.std().item<float>(), 1e-3f);
  }
  // A training step: the render's colour and semantics, S_novel, the perception and instance heads.
  const at::Tensor target = at::rand({24, 3}, at::make_generator<at::CPUGeneratorImpl>(6));
  const at::Tensor maps = at::randn({1, config.extractor.semantic_channels, 16, 16}, at::make_generator<at::CPUGeneratorImpl>(7));
  auto loss_of = [&](const GpnerfNetwork& net, const at::Device& on) {
    const GpnerfRenderOutput o = net.render(rays_on(rays, on), net.prepare(cams, images.to(on)), bg.to(on), true, 9);
    const at::Tensor novel = net.novel_semantics(images.narrow(0, 0, 1).to(on));
    const at::Tensor logits = net.decode(maps.to(on) + 0.1 * novel.mean());
    const at::Tensor slots = net.decode_instances(maps.to(on));
    return (o.rgb - target.to(on)).square().mean() + (o.rgb_point - target.to(on)).square().mean() +
           o.semantic.square().mean() + o.point_semantic.square().mean() + 0.01 * o.depth.mean() +
           at::log_softmax(logits, 1).select(1, 0).mean().neg() + at::softmax(slots, 1).select(1, 1).mean();
  };
  expect_same_training_step(cpu, dev, device, loss_of);
}

TEST(DeviceFeatureNerf, RenderDescriptorsAndTrainingGradientsMatchTheCpu) {
  SEMFIELD_REQUIRE_DEVICE(device);
  const FeatureNerfConfig config = test::small_featurenerf_config();
  FeatureNerfNetwork cpu(config), dev(config);
  dev.to(device);
  for (const auto& [name, t] : dev.named_parameters()) {
    ASSERT_EQ(t.device(), device) << name;
    EXPECT_TRUE(t.requires_grad()) << name;
  }
  const std::vector<Camera> cams = ring_cameras(2, 32);
  const at::Tensor images = at::rand({2, 3, 32, 32}, at::make_generator<at::CPUGeneratorImpl>(4));
  const IbrRays rays = toy_rays(30);
  const at::Tensor bg = at::full({30, 3}, 0.25f);
  const double world_scale = 0.8;  // the points' camera-frame coordinates are in world units
  {
    // Inference: the CPU's fused kernel against the device's LibTorch path; deterministic midpoints and quantiles.
    at::NoGradGuard no_grad;
    const FeatureNerfRenderOutput c = cpu.render(rays, cpu.sources(images, cams, world_scale), bg, nullptr, true);
    const FeatureNerfRenderOutput d =
        dev.render(rays_on(rays, device), dev.sources(images.to(device), cams, world_scale), bg.to(device), nullptr, true);
    EXPECT_EQ(d.internal.device(), device);
    for (const auto& [name, a, b] : {std::tuple<const char*, at::Tensor, at::Tensor>{"rgb", d.rgb, c.rgb},
                                     {"opacity", d.opacity, c.opacity},
                                     {"depth", d.depth, c.depth},
                                     {"feature", d.feature, c.feature},
                                     {"internal (v_NeRF)", d.internal, c.internal},
                                     {"coord", d.coord, c.coord},
                                     {"points", d.points, c.points}})
      expect_near(name, a, b, 2e-4);
    EXPECT_GT(c.internal.std().item<float>(), 1e-4f);
  }
  // A training step from the same seed: colour (coarse and fine), the distilled feature, the coordinate, the depth.
  const at::Tensor target = at::rand({30, 3}, at::make_generator<at::CPUGeneratorImpl>(6));
  auto loss_of = [&](const FeatureNerfNetwork& net, const at::Device& on) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(9);
    const FeatureNerfRenderOutput o =
        net.render(rays_on(rays, on), net.sources(images.to(on), cams, world_scale), bg.to(on), &gen, true);
    return (o.rgb - target.to(on)).square().mean() + 0.5 * (o.rgb_coarse - target.to(on)).square().mean() +
           0.25 * (o.feature.square().mean() + o.feature_coarse.square().mean()) + 0.25 * o.coord.square().mean() +
           0.1 * o.internal.square().mean() + 0.01 * o.depth.mean();
  };
  expect_same_training_step(cpu, dev, device, loss_of);
}

TEST(DeviceGnesf, VoteGeometryVolumeAndTrainingGradientsMatchTheCpu) {
  SEMFIELD_REQUIRE_DEVICE(device);
  GnesfConfig config;
  config.radiance = test::small_ibr_config();
  config.vote_hidden = 8;
  config.train_radiance = true;  // the training step differentiates the radiance network too
  config.geometry.enabled = true;
  config.geometry.resolution = 8;
  config.geometry.views = 3;
  config.geometry.channels = 4;
  config.semantic_weights = "sdf";  // with a volume given; density weights without one
  GnesfNetwork cpu(config), dev(config);
  dev.to(device);
  for (const auto& [name, t] : dev.named_parameters()) ASSERT_EQ(t.device(), device) << name;
  const std::vector<Camera> cams = ring_cameras(3, 16);
  const at::Tensor images = at::rand({3, 3, 16, 16}, at::make_generator<at::CPUGeneratorImpl>(1));
  const at::Tensor ids = at::randint(-1, 4, {3, 16, 16}, at::make_generator<at::CPUGeneratorImpl>(2));
  const SemanticMaps maps_cpu = semantic_maps_from_ids(ids, 4);
  const SemanticMaps maps_dev{maps_cpu.probs.to(device)};
  const IbrRays rays = toy_rays(40);
  const at::Tensor bg = at::full({40, 3}, 0.25f);
  const VoxelGrid grid = cpu.geometry_grid(Eigen::Vector3f::Constant(-1), Eigen::Vector3f::Constant(1));
  {
    at::NoGradGuard no_grad;
    const IbrSources sc = cpu.radiance().prepare(cams, images), sd = dev.radiance().prepare(cams, images.to(device));
    // Density-weighted semantics (all samples, then each ray's 3 heaviest, scaled to its opacity).
    for (int max_samples : {0, 3}) {
      const GnesfRenderOutput c = cpu.render(rays, sc, maps_cpu, bg, false, 0, 1e-5f, max_samples);
      const GnesfRenderOutput d =
          dev.render(rays_on(rays, device), sd, maps_dev, bg.to(device), false, 0, 1e-5f, max_samples);
      EXPECT_EQ(d.semantics.device(), device);
      expect_near("semantics, max_samples " + std::to_string(max_samples), d.semantics, c.semantics, 2e-4);
      expect_near("rgb", d.radiance.rgb, c.radiance.rgb, 1e-4);
      EXPECT_GT(c.semantics.sum(1).min().item<float>(), 0.2f);
    }
    // The geometry volume's input and TSDF, and semantics rendered with its SDF weights.
    const at::Tensor in_c = cpu.geometry_input(sc, grid), in_d = dev.geometry_input(sd, grid);
    expect_near("geometry input", in_d, in_c, 1e-4);
    const SdfVolume vc = cpu.geometry(in_c, grid), vd = dev.geometry(in_d, grid);
    expect_near("tsdf", vd.tsdf, vc.tsdf, 2e-4);
    const GnesfRenderOutput c = cpu.render(rays, sc, maps_cpu, bg, false, 0, 1e-5f, 0, &vc);
    const GnesfRenderOutput d = dev.render(rays_on(rays, device), sd, maps_dev, bg.to(device), false, 0, 1e-5f, 0, &vd);
    expect_near("semantics with the SDF volume", d.semantics, c.semantics, 2e-4);
  }
  // A training step: colour, the vote's semantics and the TSDF, from the same seed.
  const at::Tensor target = at::rand({40, 3}, at::make_generator<at::CPUGeneratorImpl>(3));
  const at::Tensor target_sem = at::softmax(at::randn({40, 4}, at::make_generator<at::CPUGeneratorImpl>(4)), 1);
  auto loss_of = [&](const GnesfNetwork& net, const SemanticMaps& maps, const at::Device& on) {
    const IbrSources s = net.radiance().prepare(cams, images.to(on));
    const GnesfRenderOutput o = net.render(rays_on(rays, on), s, maps, bg.to(on), true, 7, 1e-5f);
    const SdfVolume v = net.geometry(net.geometry_input(s, grid), grid);
    return (o.radiance.rgb - target.to(on)).square().mean() + (o.semantics - target_sem.to(on)).square().mean() +
           0.1 * v.tsdf.square().mean();
  };
  expect_same_training_step(cpu, dev, device, [&](const GnesfNetwork& net, const at::Device& on) {
    return loss_of(net, on.is_cpu() ? maps_cpu : maps_dev, on);
  });
}

}  // namespace
}  // namespace semfield
