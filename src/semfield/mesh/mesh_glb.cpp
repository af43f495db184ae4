// Binary glTF 2.0 (GLB) mesh files through TinyGLTF (Debian's libtinygltf): one mesh, one triangle
// primitive with POSITION, optional COLOR_0 and uint32 indices.
#include <cstring>
#include <sstream>

#include <tiny_gltf.h>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/mesh/mesh_io.h"

namespace semfield {

namespace {

// Appends raw bytes to the buffer as a new buffer view, 4-byte aligned as glTF requires.
int add_view(tinygltf::Model& model, const void* data, size_t size, int target) {
  std::vector<unsigned char>& buffer = model.buffers[0].data;
  while (buffer.size() % 4) buffer.push_back(0);
  tinygltf::BufferView view;
  view.buffer = 0;
  view.byteOffset = buffer.size();
  view.byteLength = size;
  view.target = target;
  buffer.insert(buffer.end(), static_cast<const unsigned char*>(data), static_cast<const unsigned char*>(data) + size);
  model.bufferViews.push_back(view);
  return static_cast<int>(model.bufferViews.size()) - 1;
}

int add_accessor(tinygltf::Model& model, int view, int component_type, int type, size_t count) {
  tinygltf::Accessor accessor;
  accessor.bufferView = view;
  accessor.componentType = component_type;
  accessor.type = type;
  accessor.count = count;
  model.accessors.push_back(accessor);
  return static_cast<int>(model.accessors.size()) - 1;
}

// The bytes of element i of an accessor, after checking the whole accessor lies inside its buffer.
class AccessorReader {
 public:
  AccessorReader(const tinygltf::Model& model, int index, const std::filesystem::path& path, const std::string& what) {
    if (index < 0 || index >= static_cast<int>(model.accessors.size())) fail_input(path, what, "no such accessor");
    m_accessor = &model.accessors[static_cast<size_t>(index)];
    const int v = m_accessor->bufferView;
    if (v < 0 || v >= static_cast<int>(model.bufferViews.size())) fail_input(path, what, "accessor without a buffer view");
    const tinygltf::BufferView& view = model.bufferViews[static_cast<size_t>(v)];
    if (view.buffer < 0 || view.buffer >= static_cast<int>(model.buffers.size())) fail_input(path, what, "bad buffer");
    const std::vector<unsigned char>& data = model.buffers[static_cast<size_t>(view.buffer)].data;
    const int stride = m_accessor->ByteStride(view);
    m_element = static_cast<size_t>(tinygltf::GetComponentSizeInBytes(static_cast<uint32_t>(m_accessor->componentType)) *
                                    tinygltf::GetNumComponentsInType(static_cast<uint32_t>(m_accessor->type)));
    if (stride <= 0 || m_accessor->sparse.isSparse) fail_input(path, what, "unsupported accessor layout");
    m_stride = static_cast<size_t>(stride);
    const size_t start = view.byteOffset + m_accessor->byteOffset;
    const size_t end = m_accessor->count == 0 ? start : start + m_stride * (m_accessor->count - 1) + m_element;
    if (end > data.size() || end > view.byteOffset + view.byteLength) fail_input(path, what, "accessor runs past its buffer");
    m_data = data.data() + start;
  }
  size_t count() const { return m_accessor->count; }
  int component_type() const { return m_accessor->componentType; }
  int type() const { return m_accessor->type; }
  // Component c of element i, as a double; normalised integer types map to [0,1].
  double get(size_t i, int c) const {
    const unsigned char* p = m_data + i * m_stride;
    switch (m_accessor->componentType) {
      case TINYGLTF_COMPONENT_TYPE_FLOAT: return load<float>(p, c);
      case TINYGLTF_COMPONENT_TYPE_UNSIGNED_BYTE: return scale(load<uint8_t>(p, c), 255.0);
      case TINYGLTF_COMPONENT_TYPE_UNSIGNED_SHORT: return scale(load<uint16_t>(p, c), 65535.0);
      case TINYGLTF_COMPONENT_TYPE_UNSIGNED_INT: return load<uint32_t>(p, c);
      default: return 0.0;
    }
  }

 private:
  template <typename T>
  static double load(const unsigned char* p, int c) {
    T value;
    std::memcpy(&value, p + sizeof(T) * static_cast<size_t>(c), sizeof(T));
    return static_cast<double>(value);
  }
  double scale(double value, double max) const { return m_accessor->normalized ? value / max : value; }

  const tinygltf::Accessor* m_accessor = nullptr;
  const unsigned char* m_data = nullptr;
  size_t m_stride = 0, m_element = 0;
};

}  // namespace

void write_glb(const std::filesystem::path& path, const TriangleMesh& mesh) {
  if (mesh.faces.empty()) fail_usage("{}: the mesh has no faces; nothing to write", path.string());
  tinygltf::Model model;
  model.asset.version = "2.0";
  model.asset.generator = "semfield";
  model.buffers.emplace_back();

  tinygltf::Primitive primitive;
  primitive.mode = TINYGLTF_MODE_TRIANGLES;
  const int positions = add_accessor(
      model, add_view(model, mesh.vertices.data(), mesh.vertices.size() * sizeof(Eigen::Vector3f), TINYGLTF_TARGET_ARRAY_BUFFER),
      TINYGLTF_COMPONENT_TYPE_FLOAT, TINYGLTF_TYPE_VEC3, mesh.vertices.size());
  // glTF requires POSITION bounds, over every vertex of the accessor (used by a face or not).
  Eigen::AlignedBox3f box;
  for (const auto& v : mesh.vertices) box.extend(v);
  model.accessors[static_cast<size_t>(positions)].minValues = {box.min().x(), box.min().y(), box.min().z()};
  model.accessors[static_cast<size_t>(positions)].maxValues = {box.max().x(), box.max().y(), box.max().z()};
  primitive.attributes["POSITION"] = positions;
  if (mesh.has_colors())
    primitive.attributes["COLOR_0"] = add_accessor(
        model, add_view(model, mesh.colors.data(), mesh.colors.size() * sizeof(Eigen::Vector3f), TINYGLTF_TARGET_ARRAY_BUFFER),
        TINYGLTF_COMPONENT_TYPE_FLOAT, TINYGLTF_TYPE_VEC3, mesh.colors.size());
  primitive.indices = add_accessor(
      model, add_view(model, mesh.faces.data(), mesh.faces.size() * sizeof(Eigen::Vector3i), TINYGLTF_TARGET_ELEMENT_ARRAY_BUFFER),
      TINYGLTF_COMPONENT_TYPE_UNSIGNED_INT, TINYGLTF_TYPE_SCALAR, mesh.faces.size() * 3);

  // The colours are baked radiance: show them unlit where viewers support it, else as a matte surface
  // (glTF's default material is fully metallic, which renders baked colours nearly black).
  tinygltf::Material material;
  material.name = "vertex_colors";
  material.pbrMetallicRoughness.metallicFactor = 0.0;
  material.pbrMetallicRoughness.roughnessFactor = 1.0;
  material.doubleSided = true;
  material.extensions["KHR_materials_unlit"] = tinygltf::Value(tinygltf::Value::Object());
  model.extensionsUsed.push_back("KHR_materials_unlit");
  model.materials.push_back(material);
  primitive.material = 0;

  tinygltf::Mesh gltf_mesh;
  gltf_mesh.name = "semfield";
  gltf_mesh.primitives.push_back(primitive);
  model.meshes.push_back(gltf_mesh);
  tinygltf::Node node;
  node.mesh = 0;
  model.nodes.push_back(node);
  tinygltf::Scene scene;
  scene.nodes.push_back(0);
  model.scenes.push_back(scene);
  model.defaultScene = 0;

  write_file_atomic(path, [&](std::ostream& out) {
    tinygltf::TinyGLTF writer;
    if (!writer.WriteGltfSceneToStream(&model, out, false, true))
      throw InputError(path, "", "glTF writer failed");
  });
}

TriangleMesh read_glb(const std::filesystem::path& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  tinygltf::Model model;
  tinygltf::TinyGLTF loader;
  std::string err, warn;
  if (!loader.LoadBinaryFromMemory(&model, &err, &warn, bytes.data(), static_cast<unsigned int>(bytes.size())))
    fail_input(path, "", "not a valid GLB file: {}", err.empty() ? "unknown error" : err);
  TriangleMesh mesh;
  bool all_colored = true;
  for (size_t m = 0; m < model.meshes.size(); ++m)
    for (size_t p = 0; p < model.meshes[m].primitives.size(); ++p) {
      const tinygltf::Primitive& primitive = model.meshes[m].primitives[p];
      const std::string where = fmt::format("meshes[{}].primitives[{}]", m, p);
      if (primitive.mode != TINYGLTF_MODE_TRIANGLES && primitive.mode != -1) continue;
      const auto pos = primitive.attributes.find("POSITION");
      if (pos == primitive.attributes.end()) fail_input(path, where, "no POSITION attribute");
      const AccessorReader positions(model, pos->second, path, where + ".POSITION");
      if (positions.component_type() != TINYGLTF_COMPONENT_TYPE_FLOAT || positions.type() != TINYGLTF_TYPE_VEC3)
        fail_input(path, where + ".POSITION", "expected float VEC3");
      const int base = static_cast<int>(mesh.vertices.size());
      for (size_t i = 0; i < positions.count(); ++i)
        mesh.vertices.emplace_back(static_cast<float>(positions.get(i, 0)), static_cast<float>(positions.get(i, 1)),
                                   static_cast<float>(positions.get(i, 2)));
      const auto col = primitive.attributes.find("COLOR_0");
      if (col != primitive.attributes.end()) {
        const AccessorReader colors(model, col->second, path, where + ".COLOR_0");
        if (colors.count() != positions.count() ||
            (colors.type() != TINYGLTF_TYPE_VEC3 && colors.type() != TINYGLTF_TYPE_VEC4))
          fail_input(path, where + ".COLOR_0", "expected one VEC3/VEC4 colour per vertex");
        for (size_t i = 0; i < colors.count(); ++i)
          mesh.colors.emplace_back(static_cast<float>(colors.get(i, 0)), static_cast<float>(colors.get(i, 1)),
                                   static_cast<float>(colors.get(i, 2)));
      } else {
        all_colored = false;
      }
      std::vector<int> index;
      if (primitive.indices >= 0) {
        const AccessorReader indices(model, primitive.indices, path, where + ".indices");
        if (indices.type() != TINYGLTF_TYPE_SCALAR) fail_input(path, where + ".indices", "expected SCALAR indices");
        for (size_t i = 0; i < indices.count(); ++i) index.push_back(base + static_cast<int>(indices.get(i, 0)));
      } else {
        for (size_t i = 0; i < positions.count(); ++i) index.push_back(base + static_cast<int>(i));
      }
      if (index.size() % 3) fail_input(path, where, "{} indices is not a whole number of triangles", index.size());
      for (size_t i = 0; i < index.size(); i += 3) mesh.faces.emplace_back(index[i], index[i + 1], index[i + 2]);
    }
  if (!all_colored) mesh.colors.clear();
  mesh.validate(path.string());
  return mesh;
}

}  // namespace semfield
