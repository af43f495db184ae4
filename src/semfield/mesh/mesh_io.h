// Mesh files: PLY (binary), OBJ (with the common "v x y z r g b" colour extension) and GLB (binary glTF
// 2.0), chosen by the file's extension; readers for all three (round trips, tests, tools).
#pragma once

#include <filesystem>
#include <string>

#include "semfield/mesh/triangle_mesh.h"

namespace semfield {

enum class MeshFormat { Ply, Obj, Glb };

/// ".ply" | ".obj" | ".glb" (case-insensitive) -> format; anything else is a UsageError naming the path and
/// the supported extensions.
MeshFormat mesh_format_from_path(const std::filesystem::path& path);

/// Writes atomically (write_file_atomic) in the format of the extension. Colours, when present, are
/// written as 8-bit RGB (PLY, uchar red/green/blue), as three numbers in [0,1] after each vertex (OBJ) and
/// as a float COLOR_0 attribute (GLB, with an unlit, non-metallic material so viewers show the baked
/// colours). Coordinates are written as they are (glTF's +Y-up is not imposed: files overlay the data they
/// came from). A mesh without faces is a UsageError (glTF cannot hold one, and none is useful).
void write_mesh(const std::filesystem::path& path, const TriangleMesh& mesh);
void write_ply(const std::filesystem::path& path, const TriangleMesh& mesh);
void write_obj(const std::filesystem::path& path, const TriangleMesh& mesh);
void write_glb(const std::filesystem::path& path, const TriangleMesh& mesh);

/// Reads a mesh in the format of the extension. Polygons are split into triangle fans.
///  - PLY: ascii, binary_little_endian and binary_big_endian; element "vertex" with x, y, z (any scalar
///    type) and optional red, green, blue (integers are divided by 255); element "face" with a list
///    property vertex_indices (or vertex_index); other elements and properties are skipped.
///  - OBJ: "v" lines with 3 (or 4) or 6 numbers (colours kept only when every vertex has them), "f" lines
///    with v, v/vt, v//vn or v/vt/vn references (negative = relative); other statements are ignored.
///  - GLB: every triangle primitive of every mesh (POSITION float; indices of any unsigned type; COLOR_0
///    float or normalised unsigned), node transforms not applied.
/// Malformed or truncated files throw InputError naming the file and where (header line, element, line).
TriangleMesh read_mesh(const std::filesystem::path& path);
TriangleMesh read_ply(const std::filesystem::path& path);
TriangleMesh read_obj(const std::filesystem::path& path);
TriangleMesh read_glb(const std::filesystem::path& path);

}  // namespace semfield
