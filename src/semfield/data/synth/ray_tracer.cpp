// Embree 3 ray tracing of synthetic scenes: one triangle geometry per primitive, Lambert shading, shadows.
#include "semfield/data/synth/ray_tracer.h"

#include <embree3/rtcore.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "semfield/core/constants.h"
#include "semfield/core/error.h"
#include "semfield/core/parallel.h"
#include "semfield/core/splitmix64.h"

namespace semfield::synth {

namespace {

// Shadow rays start this far off the surface, along the geometric normal. It exceeds the tessellation's
// sagitta (< 1e-3 for the radii and segment counts used), so a facet never shadows itself.
constexpr double kShadowEpsilon = 2e-3;

const char* embree_error_name(RTCError error) {
  switch (error) {
    case RTC_ERROR_NONE: return "no error";
    case RTC_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case RTC_ERROR_INVALID_OPERATION: return "invalid operation";
    case RTC_ERROR_OUT_OF_MEMORY: return "out of memory";
    case RTC_ERROR_UNSUPPORTED_CPU: return "unsupported CPU";
    case RTC_ERROR_CANCELLED: return "cancelled";
    default: return "unknown error";
  }
}

void check_embree(RTCDevice device, const char* what) {
  const RTCError error = rtcGetDeviceError(device);
  if (error != RTC_ERROR_NONE) throw Error(fmt::format("embree: {} failed: {}", what, embree_error_name(error)));
}

}  // namespace

struct RayTracer::Impl {
  const SynthScene* scene = nullptr;
  RTCDevice device = nullptr;
  RTCScene rtc_scene = nullptr;
  struct GeometryRef {
    int object_index;
    int part_index;
  };
  std::vector<GeometryRef> geometries;  // indexed by Embree geometry id

  ~Impl() {
    if (rtc_scene) rtcReleaseScene(rtc_scene);
    if (device) rtcReleaseDevice(device);
  }

  bool occluded(const Eigen::Vector3d& origin, const Eigen::Vector3d& direction) const {
    RTCIntersectContext context;
    rtcInitIntersectContext(&context);
    RTCRay ray{};
    ray.org_x = static_cast<float>(origin.x());
    ray.org_y = static_cast<float>(origin.y());
    ray.org_z = static_cast<float>(origin.z());
    ray.dir_x = static_cast<float>(direction.x());
    ray.dir_y = static_cast<float>(direction.y());
    ray.dir_z = static_cast<float>(direction.z());
    ray.tnear = 0.0f;
    ray.tfar = std::numeric_limits<float>::infinity();
    ray.mask = 0xFFFFFFFFu;
    rtcOccluded1(rtc_scene, &context, &ray);
    return ray.tfar < 0.0f;  // Embree marks an occluded ray with tfar = -inf
  }
};

RayTracer::RayTracer(const SynthScene& scene) : m_impl(std::make_unique<Impl>()) {
  m_impl->scene = &scene;
  m_impl->device = rtcNewDevice(nullptr);
  if (!m_impl->device) throw Error(fmt::format("embree: cannot create a device: {}",
                                               embree_error_name(rtcGetDeviceError(nullptr))));
  m_impl->rtc_scene = rtcNewScene(m_impl->device);
  // Robust mode avoids the fast path's cracks along shared triangle edges, which would let a few rays
  // slip through closed meshes (holes in id maps and light leaks in shadows).
  rtcSetSceneFlags(m_impl->rtc_scene, RTC_SCENE_FLAG_ROBUST);
  rtcSetSceneBuildQuality(m_impl->rtc_scene, RTC_BUILD_QUALITY_HIGH);
  for (size_t o = 0; o < scene.objects.size(); ++o) {
    const SynthObject& object = scene.objects[o];
    for (size_t p = 0; p < object.meshes.size(); ++p) {
      const TriangleMesh& mesh = object.meshes[p];
      RTCGeometry geometry = rtcNewGeometry(m_impl->device, RTC_GEOMETRY_TYPE_TRIANGLE);
      auto* vertices = static_cast<float*>(rtcSetNewGeometryBuffer(
          geometry, RTC_BUFFER_TYPE_VERTEX, 0, RTC_FORMAT_FLOAT3, 3 * sizeof(float), mesh.positions.size()));
      auto* indices = static_cast<uint32_t*>(rtcSetNewGeometryBuffer(
          geometry, RTC_BUFFER_TYPE_INDEX, 0, RTC_FORMAT_UINT3, 3 * sizeof(uint32_t), mesh.triangles.size()));
      check_embree(m_impl->device, "allocating mesh buffers");
      for (size_t v = 0; v < mesh.positions.size(); ++v)
        for (int c = 0; c < 3; ++c) vertices[3 * v + c] = mesh.positions[v][c];
      for (size_t t = 0; t < mesh.triangles.size(); ++t)
        for (int c = 0; c < 3; ++c) indices[3 * t + c] = mesh.triangles[t][static_cast<size_t>(c)];
      rtcCommitGeometry(geometry);
      const unsigned id = rtcAttachGeometry(m_impl->rtc_scene, geometry);
      rtcReleaseGeometry(geometry);
      SEMFIELD_ASSERT(id == m_impl->geometries.size(), "embree geometry ids are not sequential");
      m_impl->geometries.push_back({static_cast<int>(o), static_cast<int>(p)});
    }
  }
  rtcCommitScene(m_impl->rtc_scene);
  check_embree(m_impl->device, "building the scene");
}

RayTracer::~RayTracer() = default;

std::optional<SynthHit> RayTracer::trace(const Eigen::Vector3d& origin, const Eigen::Vector3d& direction) const {
  RTCIntersectContext context;
  rtcInitIntersectContext(&context);
  RTCRayHit rayhit{};
  rayhit.ray.org_x = static_cast<float>(origin.x());
  rayhit.ray.org_y = static_cast<float>(origin.y());
  rayhit.ray.org_z = static_cast<float>(origin.z());
  rayhit.ray.dir_x = static_cast<float>(direction.x());
  rayhit.ray.dir_y = static_cast<float>(direction.y());
  rayhit.ray.dir_z = static_cast<float>(direction.z());
  rayhit.ray.tnear = 0.0f;
  rayhit.ray.tfar = std::numeric_limits<float>::infinity();
  rayhit.ray.mask = 0xFFFFFFFFu;
  rayhit.hit.geomID = RTC_INVALID_GEOMETRY_ID;
  rayhit.hit.instID[0] = RTC_INVALID_GEOMETRY_ID;
  rtcIntersect1(m_impl->rtc_scene, &context, &rayhit);
  if (rayhit.hit.geomID == RTC_INVALID_GEOMETRY_ID) return std::nullopt;

  const auto& ref = m_impl->geometries[rayhit.hit.geomID];
  const TriangleMesh& mesh =
      m_impl->scene->objects[static_cast<size_t>(ref.object_index)].meshes[static_cast<size_t>(ref.part_index)];
  const auto& tri = mesh.triangles[rayhit.hit.primID];
  const double u = rayhit.hit.u, v = rayhit.hit.v;
  // Embree's barycentrics weight vertices 1 and 2 by u and v.
  Eigen::Vector3d normal = ((1 - u - v) * mesh.normals[tri[0]].cast<double>() +
                            u * mesh.normals[tri[1]].cast<double>() + v * mesh.normals[tri[2]].cast<double>())
                               .normalized();
  Eigen::Vector3d geometric(rayhit.hit.Ng_x, rayhit.hit.Ng_y, rayhit.hit.Ng_z);
  geometric.normalize();
  if (geometric.dot(direction) > 0) geometric = -geometric;
  if (normal.dot(direction) > 0) normal = -normal;

  SynthHit hit;
  hit.t = rayhit.ray.tfar;
  hit.point = origin + hit.t * direction;
  hit.normal = normal;
  hit.geometric_normal = geometric;
  hit.object_index = ref.object_index;
  hit.part_index = ref.part_index;
  return hit;
}

Eigen::Vector3d RayTracer::shade(const SynthHit& hit, const Eigen::Vector3d& direction, uint64_t sample) const {
  const SynthScene& scene = *m_impl->scene;
  const Primitive& part =
      scene.objects[static_cast<size_t>(hit.object_index)].parts[static_cast<size_t>(hit.part_index)];
  const Eigen::Vector3d albedo = texture_color(part.material, part.to_local(hit.point));
  const SynthLight& light = scene.light;
  const Eigen::Vector3d shadow_origin = hit.point + kShadowEpsilon * hit.geometric_normal;
  if (scene.config.style != "studio") {
    double lit = std::max(0.0, hit.normal.dot(light.direction));
    if (lit > 0 && m_impl->occluded(shadow_origin, light.direction)) lit = 0;
    return (albedo * (light.ambient + light.diffuse * lit)).cwiseMax(0.0).cwiseMin(1.0);
  }
  // "studio": light is added in linear units (albedo decoded with gamma 2.2, the result encoded again).
  const SynthScene::Studio& st = scene.studio;
  const Eigen::Vector3d n = hit.normal;
  const Eigen::Vector3d linear_albedo = albedo.array().max(0.0).pow(2.2).matrix();
  // Key light: a disc of half-angle key_angle; kKeyRays shadow rays on a Vogel spiral over it, rotated per sample.
  constexpr int kKeyRays = 6;
  const Eigen::Vector3d& l = light.direction;
  const Eigen::Vector3d a =
      (std::abs(l.x()) < 0.9 ? Eigen::Vector3d::UnitX() : Eigen::Vector3d::UnitY()).cross(l).normalized();
  const Eigen::Vector3d b = l.cross(a);
  const double rotation = 2.0 * kPi * static_cast<double>(splitmix64_finalize(sample) >> 11) * 0x1.0p-53;
  double key = 0.0, key_visible = 0.0;
  for (int i = 0; i < kKeyRays; ++i) {
    const double radius = std::tan(st.key_angle) * std::sqrt((i + 0.5) / kKeyRays);
    const double phi = rotation + i * kPi * (3.0 - std::sqrt(5.0));
    const Eigen::Vector3d d = (l + radius * (std::cos(phi) * a + std::sin(phi) * b)).normalized();
    const double cosine = n.dot(d);
    if (cosine <= 0 || m_impl->occluded(shadow_origin, d)) continue;
    key += cosine / kKeyRays;
    key_visible += 1.0 / kKeyRays;
  }
  const double fill = std::max(0.0, n.dot(st.fill_direction));
  const Eigen::Vector3d ambient = st.ground_colour + 0.5 * (n.z() + 1.0) * (st.sky_colour - st.ground_colour);
  Eigen::Vector3d linear = linear_albedo.cwiseProduct(ambient + key * st.key_colour + fill * st.fill_colour);
  const auto o = static_cast<size_t>(hit.object_index);
  if (direction.squaredNorm() > 0 && key_visible > 0 && o < st.specular.size() && o < st.shininess.size()) {
    const Eigen::Vector3d h = (l - direction.normalized()).normalized();
    linear += st.specular[o] * std::pow(std::max(0.0, n.dot(h)), st.shininess[o]) * key_visible * st.key_colour;
  }
  return linear.array().max(0.0).pow(1.0 / 2.2).min(1.0).matrix();
}

SynthRender RayTracer::render(const Camera& camera) const {
  const int width = camera.intrinsics.width, height = camera.intrinsics.height;
  SEMFIELD_ASSERT(width > 0 && height > 0, "camera without an image size");
  SynthRender out;
  out.rgba = Image(width, height, 4);
  out.depth = Image(width, height, 1);
  out.instance = Image(width, height, 1);
  out.semantic = Image(width, height, 1);
  const Eigen::Vector3d forward = camera.forward();
  const SynthScene& scene = *m_impl->scene;

  parallel_for(0, height, 1, [&](int64_t row_begin, int64_t row_end) {
    for (int y = static_cast<int>(row_begin); y < row_end; ++y) {
      for (int x = 0; x < width; ++x) {
        const Ray centre_ray = camera.pixel_to_ray(x + 0.5, y + 0.5);
        const auto centre = trace(centre_ray.origin, centre_ray.direction);
        if (!centre) continue;  // every map stays 0
        const SynthObject& object = scene.objects[static_cast<size_t>(centre->object_index)];
        out.depth.at(x, y) = static_cast<float>(centre->t * centre_ray.direction.dot(forward));
        out.instance.at(x, y) = static_cast<float>(object.instance_id);
        out.semantic.at(x, y) = static_cast<float>(object.class_id);

        // 2x2 supersampling on a regular grid; colour averages the samples that hit (straight alpha).
        Eigen::Vector3d colour = Eigen::Vector3d::Zero();
        int hits = 0;
        for (int sy = 0; sy < 2; ++sy)
          for (int sx = 0; sx < 2; ++sx) {
            const Ray ray = camera.pixel_to_ray(x + 0.25 + 0.5 * sx, y + 0.25 + 0.5 * sy);
            if (const auto hit = trace(ray.origin, ray.direction)) {
              colour += shade(*hit, ray.direction, (static_cast<uint64_t>(y) * width + x) * 4 + sy * 2 + sx);
              ++hits;
            }
          }
        // A centre hit that all four sub-samples miss (a sliver thinner than half a pixel) still counts as
        // one sample, so alpha stays > 0 wherever the id maps say there is a surface.
        if (hits == 0) {
          colour = shade(*centre, centre_ray.direction, (static_cast<uint64_t>(y) * width + x) * 4);
          hits = 1;
        }
        colour /= hits;
        for (int c = 0; c < 3; ++c) out.rgba.at(x, y, c) = static_cast<float>(colour[c]);
        out.rgba.at(x, y, 3) = static_cast<float>(hits) / 4.0f;
      }
    }
  });
  return out;
}

}  // namespace semfield::synth
