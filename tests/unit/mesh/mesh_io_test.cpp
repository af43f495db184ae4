// PLY / OBJ / GLB round trips and the readers' handling of other writers' files and of broken files.
#include "semfield/mesh/mesh_io.h"

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tiny_gltf.h>

#include "mesh_test_shapes.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/mesh/mesh_topology.h"
#include "support/test_support.h"

namespace semfield {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

TriangleMesh coloured_sphere() {
  TriangleMesh mesh = test::sphere_mesh({0.5f, -1.0f, 2.0f}, 0.75f, 16);
  for (const auto& v : mesh.vertices) mesh.colors.emplace_back(0.2f, (v.z() - 1.25f) / 1.5f, 0.9f);
  return mesh;
}

class MeshRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(MeshRoundTrip, KeepsFacesBoundsAndColours) {
  test::TempDir dir;
  const TriangleMesh mesh = coloured_sphere();
  const auto path = dir / ("sphere." + GetParam());
  write_mesh(path, mesh);
  const TriangleMesh back = read_mesh(path);
  ASSERT_EQ(back.n_faces(), mesh.n_faces());
  ASSERT_EQ(back.n_vertices(), mesh.n_vertices());
  EXPECT_EQ(back.faces, mesh.faces);
  EXPECT_TRUE(mesh_bounds(back).isApprox(mesh_bounds(mesh), 1e-6f));
  for (size_t v = 0; v < mesh.vertices.size(); ++v) ASSERT_EQ(back.vertices[v], mesh.vertices[v]) << v;  // exact
  ASSERT_TRUE(back.has_colors());
  // PLY stores 8-bit colours, OBJ 4 decimals, GLB floats.
  for (size_t v = 0; v < mesh.vertices.size(); ++v) ASSERT_TRUE(back.colors[v].isApprox(mesh.colors[v], 0.005f)) << v;
  EXPECT_TRUE(edge_stats(back).watertight());
  EXPECT_NEAR(mesh_volume(back), mesh_volume(mesh), 1e-6);  // orientation kept
}

INSTANTIATE_TEST_SUITE_P(Formats, MeshRoundTrip, ::testing::Values("ply", "obj", "glb", "PLY"));

TEST(MeshIo, WithoutColours) {
  test::TempDir dir;
  const TriangleMesh mesh = test::box_mesh({0, 0, 0}, {1, 2, 3});
  for (const char* ext : {"ply", "obj", "glb"}) {
    const auto path = dir / (std::string("box.") + ext);
    write_mesh(path, mesh);
    const TriangleMesh back = read_mesh(path);
    EXPECT_EQ(back.n_faces(), 12) << ext;
    EXPECT_FALSE(back.has_colors()) << ext;
  }
}

TEST(MeshIo, GlbIsValidGltfWithAnUnlitMaterial) {
  test::TempDir dir;
  write_mesh(dir / "s.glb", coloured_sphere());
  tinygltf::Model model;
  tinygltf::TinyGLTF loader;
  std::string err, warn;
  ASSERT_TRUE(loader.LoadBinaryFromFile(&model, &err, &warn, (dir / "s.glb").string())) << err;
  ASSERT_EQ(model.meshes.size(), 1u);
  const tinygltf::Primitive& p = model.meshes[0].primitives.at(0);
  EXPECT_EQ(p.mode, TINYGLTF_MODE_TRIANGLES);
  EXPECT_TRUE(p.attributes.count("COLOR_0"));
  const tinygltf::Accessor& pos = model.accessors.at(static_cast<size_t>(p.attributes.at("POSITION")));
  ASSERT_EQ(pos.minValues.size(), 3u);  // required by the glTF spec
  EXPECT_NEAR(pos.maxValues[2], 2.75, 0.01);
  EXPECT_EQ(model.materials.at(0).pbrMetallicRoughness.metallicFactor, 0.0);
  EXPECT_TRUE(model.materials.at(0).extensions.count("KHR_materials_unlit"));
}

TEST(MeshIo, ReadsAsciiAndBigEndianPlyWithQuadsAndExtraProperties) {
  test::TempDir dir;
  test::write_text(dir / "quad.ply",
                   "ply\nformat ascii 1.0\ncomment other writer\nelement vertex 4\nproperty double x\nproperty double y\n"
                   "property double z\nproperty float nx\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n"
                   "element face 1\nproperty list uchar uint vertex_index\nproperty int flags\nend_header\n"
                   "0 0 0 1 255 0 0\n1 0 0 1 255 0 0\n1 1 0 1 0 255 0\n0 1 0 1 0 0 255\n4 0 1 2 3 7\n");
  TriangleMesh quad = read_mesh(dir / "quad.ply");
  ASSERT_EQ(quad.n_faces(), 2);  // fan-split
  EXPECT_EQ(quad.faces[1], Eigen::Vector3i(0, 2, 3));
  EXPECT_EQ(quad.colors[2], Eigen::Vector3f(0, 1, 0));

  // Big-endian: one triangle, float coordinates, int indices.
  std::string be = "ply\nformat binary_big_endian 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                   "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n";
  auto put_be = [&](const void* data, size_t size) {
    for (size_t i = size; i-- > 0;) be.push_back(static_cast<const char*>(data)[i]);
  };
  const float coords[9] = {0, 0, 0, 2, 0, 0, 0, 3, 0};
  for (float c : coords) put_be(&c, 4);
  be.push_back(3);
  for (int32_t i : {0, 1, 2}) put_be(&i, 4);
  write_file_atomic(dir / "be.ply", be);
  const TriangleMesh tri = read_mesh(dir / "be.ply");
  ASSERT_EQ(tri.n_faces(), 1);
  EXPECT_EQ(tri.vertices[2], Eigen::Vector3f(0, 3, 0));
}

TEST(MeshIo, ReadsObjFaceForms) {
  test::TempDir dir;
  test::write_text(dir / "m.obj",
                   "# other writer\nmtllib x.mtl\no thing\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvn 0 0 1\n"
                   "usemtl red\nf 1/1/1 2/1/1 3/1/1 4/1/1\nf -4//1 -2//1 -1//1\n");
  const TriangleMesh mesh = read_mesh(dir / "m.obj");
  ASSERT_EQ(mesh.n_faces(), 3);
  EXPECT_EQ(mesh.faces[2], Eigen::Vector3i(0, 2, 3));
  EXPECT_FALSE(mesh.has_colors());
}

TEST(MeshIo, ErrorsNameTheFileAndPlace) {
  test::TempDir dir;
  const TriangleMesh box = test::box_mesh({0, 0, 0}, {1, 1, 1});
  EXPECT_THAT([&] { write_mesh(dir / "m.stl", box); },
              ThrowsMessage<UsageError>(HasSubstr("unknown mesh format '.stl' (use .ply, .obj or .glb)")));
  EXPECT_THAT([&] { write_mesh(dir / "m.ply", TriangleMesh{}); }, ThrowsMessage<UsageError>(HasSubstr("no faces")));
  EXPECT_THAT([&] { read_mesh(dir / "missing.ply"); }, ThrowsMessage<InputError>(HasSubstr("missing.ply")));

  // A binary PLY cut short.
  write_mesh(dir / "cut.ply", box);
  std::string bytes = read_file_text(dir / "cut.ply");
  write_file_atomic(dir / "cut.ply", bytes.substr(0, bytes.size() - 10));
  EXPECT_THAT([&] { read_mesh(dir / "cut.ply"); }, ThrowsMessage<InputError>(HasSubstr("face 11: the file ends early")));
  test::write_text(dir / "nohead.ply", "ply\nformat ascii 1.0\nelement vertex 1\n");
  EXPECT_THAT([&] { read_mesh(dir / "nohead.ply"); }, ThrowsMessage<InputError>(HasSubstr("no 'end_header'")));
  test::write_text(dir / "type.ply", "ply\nformat ascii 1.0\nelement vertex 1\nproperty quad x\nend_header\n0\n");
  EXPECT_THAT([&] { read_mesh(dir / "type.ply"); },
              ThrowsMessage<InputError>(HasSubstr("header line 4: unknown property type 'quad'")));
  test::write_text(dir / "idx.ply", "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
                                    "property float z\nelement face 1\nproperty list uchar int vertex_indices\n"
                                    "end_header\n0 0 0\n3 0 0 5\n");
  EXPECT_THAT([&] { read_mesh(dir / "idx.ply"); }, ThrowsMessage<InputError>(HasSubstr("face 0 uses vertex 5")));

  test::write_text(dir / "bad.obj", "v 0 0 0\nv 1 0 0\nf 1 2 3\n");
  EXPECT_THAT([&] { read_mesh(dir / "bad.obj"); },
              ThrowsMessage<InputError>(HasSubstr("bad.obj: line 3: vertex 3 does not exist")));
  test::write_text(dir / "nan.obj", "v 0 nan 0\n");
  EXPECT_THAT([&] { read_mesh(dir / "nan.obj"); }, ThrowsMessage<InputError>(HasSubstr("line 1: 'nan' is not a finite")));

  test::write_text(dir / "fake.glb", "glTF but not really");
  EXPECT_THAT([&] { read_mesh(dir / "fake.glb"); }, ThrowsMessage<InputError>(HasSubstr("not a valid GLB file")));
}

}  // namespace
}  // namespace semfield
