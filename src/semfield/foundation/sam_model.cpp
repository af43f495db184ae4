// Segment Anything facade.
#include "semfield/foundation/sam_model.h"

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/foundation/checkpoint_naming.h"
#include "semfield/foundation/model_files.h"
#include "semfield/foundation/sam_transforms.h"
#include "semfield/foundation/torch_checkpoint.h"

namespace semfield::foundation {

SamModel::SamModel(SamConfig config) : m_config(std::move(config)) {
  if (m_config.prompt_embed_dim != m_config.transformer_dim || m_config.out_chans != m_config.transformer_dim)
    fail_usage("SAM needs out_chans = prompt embed_dim = transformer_dim ({}, {}, {})", m_config.out_chans,
               m_config.prompt_embed_dim, m_config.transformer_dim);
  m_encoder = std::make_shared<SamImageEncoder>(m_config, m_weights);
  m_prompt = std::make_shared<SamPromptEncoder>(m_config, m_weights);
  m_decoder = std::make_shared<SamMaskDecoder>(m_config, m_weights);
}

SamModel SamModel::load(const std::filesystem::path& path) {
  const ModelFiles files = locate_model_files(path);
  const TensorMap tensors = sam_reference_names(load_weight_file(files.weights), files.weights);
  SamModel model(sam_config_for(tensors, files.config, files.weights));
  model.m_weights.bind(tensors, files.weights, model.m_config.describe());
  return model;
}

SamImage SamModel::set_image(const at::Tensor& rgb_uint8) const {
  const at::Tensor resized = sam_resize_image(rgb_uint8, m_config.img_size);
  SamImage image;
  image.original = {rgb_uint8.size(0), rgb_uint8.size(1)};
  image.input = {resized.size(0), resized.size(1)};
  image.embedding = m_encoder->forward(
      sam_normalize_and_pad(resized, m_config.pixel_mean, m_config.pixel_std, m_config.img_size));
  return image;
}

SamImage SamModel::from_embedding(const at::Tensor& embedding, int64_t original_h, int64_t original_w) const {
  const int64_t g = m_config.grid();
  if (embedding.dim() != 4 || embedding.size(0) != 1 || embedding.size(1) != m_config.out_chans ||
      embedding.size(2) != g || embedding.size(3) != g)
    fail_usage("SAM image embedding must be [1, {}, {}, {}]", m_config.out_chans, g, g);
  if (original_h < 1 || original_w < 1) fail_usage("image size {}x{} must be positive", original_w, original_h);
  SamImage image;
  image.embedding = embedding.to(at::kFloat);
  image.original = {original_h, original_w};
  image.input = sam_resized_shape(original_h, original_w, m_config.img_size);
  return image;
}

SamPrediction SamModel::predict(const SamImage& image, const SamPrompt& prompt) const {
  SamPrediction out = decode(image, prompt);
  out.masks =
      sam_postprocess_masks(out.low_res_logits.unsqueeze(0), image.input, image.original, m_config.img_size).squeeze(0);
  return out;
}

at::Tensor SamModel::upscale_mask(const SamImage& image, const SamPrediction& prediction, int64_t k) const {
  SEMFIELD_ASSERT(k >= 0 && k < prediction.low_res_logits.size(0), "upscale_mask: no such candidate");
  const at::Tensor low = prediction.low_res_logits.narrow(0, k, 1).unsqueeze(0);  // [1, 1, h, w]
  return sam_postprocess_masks(low, image.input, image.original, m_config.img_size)[0][0];
}

SamPrediction SamModel::decode(const SamImage& image, const SamPrompt& prompt) const {
  const auto [oh, ow] = image.original;
  at::Tensor points, labels, boxes, masks;
  if (!prompt.points.empty()) {
    if (prompt.labels.size() != prompt.points.size())
      fail_usage("{} points but {} labels", prompt.points.size(), prompt.labels.size());
    std::vector<double> xy;
    std::vector<float> lab;
    for (size_t i = 0; i < prompt.points.size(); ++i) {
      if (prompt.labels[i] != 0 && prompt.labels[i] != 1)
        fail_usage("point label {} is not 1 (foreground) or 0 (background)", prompt.labels[i]);
      xy.push_back(prompt.points[i][0]);
      xy.push_back(prompt.points[i][1]);
      lab.push_back(static_cast<float>(prompt.labels[i]));
    }
    const auto n = static_cast<int64_t>(prompt.points.size());
    points = sam_apply_coords(at::tensor(xy, at::kDouble).view({1, n, 2}), oh, ow, m_config.img_size);
    labels = at::tensor(lab).view({1, n});
  }
  if (prompt.box) {
    const auto& b = *prompt.box;
    boxes = sam_apply_boxes(at::tensor(std::vector<double>{b[0], b[1], b[2], b[3]}, at::kDouble).view({1, 4}), oh, ow,
                            m_config.img_size);
  }
  if (prompt.mask_input.defined()) masks = prompt.mask_input.to(at::kFloat).unsqueeze(0);
  const SamPromptEmbeddings emb = m_prompt->forward(points, labels, boxes, masks);
  const SamDecoderOutput dec = m_decoder->forward(image.embedding, m_prompt->dense_positional_encoding(), emb.sparse,
                                                  emb.dense, prompt.multimask);
  SamPrediction out;
  out.low_res_logits = dec.masks.squeeze(0);
  out.iou = dec.iou.squeeze(0);
  return out;
}

}  // namespace semfield::foundation
