// `semfield teacher`: run a foundation-model teacher (sam:/clip:/dino:) on one image and write its feature maps,
// and/or write CLIP text embeddings.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>

#include <ATen/ATen.h>

#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/image.h"
#include "semfield/io/npy.h"
#include "semfield/io/safetensors.h"
#include "semfield/teachers/clip_teacher.h"
#include "semfield/teachers/teacher.h"

namespace semfield::cli {

namespace {

struct TeacherArgs {
  std::string model, image, out;
  std::vector<std::string> texts;
};

std::string describe_shape(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// RGB [H, W, 3] in [0, 1] from any image the reader supports (gray is replicated, alpha dropped).
at::Tensor load_rgb(const std::string& path) {
  const Image image = read_image(path);
  at::Tensor t = at::from_blob(const_cast<float*>(image.pixels.data()), {image.height, image.width, image.channels},
                               at::kFloat)
                     .clone();
  if (image.channels <= 2) return t.narrow(2, 0, 1).expand({-1, -1, 3}).contiguous();
  return t.narrow(2, 0, 3).contiguous();
}

// --model: a foundation-model teacher spec.
TeacherSpec foundation_spec(const std::string& text) {
  std::optional<TeacherSpec> spec;
  try {
    spec = TeacherSpec::parse(text);
  } catch (const UsageError&) {
    // Reported below with the forms this command takes, rather than every teacher's.
  }
  if (!spec || !spec->is_foundation_model())
    fail_usage("--model must be sam:PATH, clip:PATH or dino:PATH, got '{}'", text);
  return *spec;
}

void run_teacher(const TeacherArgs& args) {
  const TeacherSpec spec = foundation_spec(args.model);
  if (args.image.empty() && args.texts.empty()) fail_usage("give --image and/or --text");
  if (!args.texts.empty() && !spec.is_clip())
    fail_usage("--text needs a clip: model, got '{}'", args.model);
  const std::filesystem::path out(args.out);
  const std::string ext = out.extension().string();
  if (ext != ".npy" && ext != ".safetensors") fail_usage("--out must end in .npy or .safetensors, got '{}'", args.out);
  if (ext == ".npy" && !args.image.empty() && !args.texts.empty())
    fail_usage("a .npy file holds one array: write image features and text embeddings to a .safetensors file");

  const std::unique_ptr<Teacher> teacher = make_foundation_teacher(spec);
  std::vector<std::pair<std::string, at::Tensor>> outputs;
  if (!args.image.empty()) {
    TeacherInput input;
    input.rgb = load_rgb(args.image);
    const std::vector<at::Tensor> maps = teacher->compute(input);
    for (size_t s = 0; s < maps.size(); ++s) outputs.emplace_back("scale" + std::to_string(s), maps[s]);
  }
  if (!args.texts.empty())
    outputs.emplace_back("text_embeddings", static_cast<const ClipTeacher&>(*teacher).encode_text(args.texts));
  if (ext == ".npy") {
    if (outputs.size() != 1) fail_usage("the teacher made {} maps; use .safetensors to keep them all", outputs.size());
    write_npy(out, tensor_to_array(outputs.front().second.contiguous()));
  } else {
    SafetensorsFile file;
    file.metadata["teacher"] = teacher->spec();
    for (const auto& [name, t] : outputs) file.tensors[name] = tensor_to_array(t.contiguous());
    write_safetensors(out, file);
  }
  for (const auto& [name, t] : outputs) std::printf("%s: %s %s\n", args.out.c_str(), name.c_str(), describe_shape(t).c_str());
}

}  // namespace

void add_teacher_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("teacher", "Run a foundation-model teacher on an image (feature maps) or texts (CLIP)");
  auto args = std::make_shared<TeacherArgs>();
  cmd->add_option("--model", args->model, "sam:PATH | clip:PATH | dino:PATH (weight file or folder)")->required();
  cmd->add_option("--image", args->image, "Image file (PNG or JPEG)");
  cmd->add_option("--text", args->texts, "Text to embed with CLIP (repeatable)");
  cmd->add_option("--out", args->out, "Output .npy (one array) or .safetensors (scale0.., text_embeddings)")->required();
  cmd->callback([args] { run_teacher(*args); });
}

}  // namespace semfield::cli
