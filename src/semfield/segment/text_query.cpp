// LERF relevancy and Laser's text augmentation for CLIP fields.
#include "semfield/segment/text_query.h"

#include <limits>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/tensor_state.h"
#include "semfield/fields/laser_modules.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/npy.h"
#include "semfield/pipeline/distill_run.h"

namespace semfield {

at::Tensor normalised_rows(const at::Tensor& x) { return x / x.norm(2, -1, true).clamp_min(1e-8); }

at::Tensor read_text_embeddings(const std::filesystem::path& path, int64_t n_classes) {
  const at::Tensor t = array_to_tensor(read_npy(path));
  if (t.dim() != 2 || !at::isFloatingType(t.scalar_type()))
    fail_input(path, "", "expected a float array [classes, dim] of text embeddings, got {}", describe_tensor(t));
  if (t.size(0) != n_classes)
    fail_input(path, "", "holds {} text embeddings but {} classes were given (one row per class, in their order)",
               t.size(0), n_classes);
  if (!at::isfinite(t).all().item<bool>()) fail_input(path, "", "text embeddings must be finite");
  return t.to(at::kFloat).contiguous();
}

std::vector<std::string> split_class_list(const std::string& text) {
  std::vector<std::string> names;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = text.find(',', begin);
    if (end == std::string::npos) end = text.size();
    std::string name = text.substr(begin, end - begin);
    const size_t a = name.find_first_not_of(" \t"), b = name.find_last_not_of(" \t");
    if (a == std::string::npos) fail_usage("class list '{}' has an empty name", text);
    names.push_back(name.substr(a, b - a + 1));
    begin = end + 1;
  }
  if (names.empty()) fail_usage("the class list is empty");
  return names;
}

const std::vector<std::string>& canonical_negatives() {
  static const std::vector<std::string> negatives{"object", "things", "stuff", "texture"};
  return negatives;
}

at::Tensor lerf_relevancy(const at::Tensor& features, const at::Tensor& positive, const at::Tensor& negatives,
                          double temperature) {
  SEMFIELD_ASSERT(features.dim() == 2 && positive.dim() == 1 && negatives.dim() == 2, "shapes [N,E], [E], [M,E]");
  SEMFIELD_ASSERT(negatives.size(0) > 0, "LERF relevancy needs at least one negative");
  const at::Tensor f = normalised_rows(features.to(at::kFloat));
  const at::Tensor q = at::matmul(f, normalised_rows(positive.to(at::kFloat)));              // [N]
  const at::Tensor n = at::matmul(f, normalised_rows(negatives.to(at::kFloat)).t());         // [N,M]
  // exp(t c_q) / (exp(t c_q) + exp(t c_i)) = sigmoid(t (c_q - c_i)).
  const at::Tensor pairwise = at::sigmoid(temperature * (q.unsqueeze(1) - n));
  return std::get<0>(pairwise.min(1));
}

std::string repeat_text(const std::string& phrase, int repeat) {
  SEMFIELD_ASSERT(repeat >= 1, "repeat must be positive");
  std::string out = phrase;
  for (int i = 1; i < repeat; ++i) out += " " + phrase;
  return out;
}

at::Tensor standardise_rows(const at::Tensor& scores, const at::Tensor& valid) {
  SEMFIELD_ASSERT(scores.dim() == 2, "scores must be [K,N]");
  const at::Tensor s = scores.to(at::kFloat);
  if (s.size(1) == 0) return s.clone();
  at::Tensor lo, hi;
  if (valid.defined()) {
    const at::Tensor v = valid.to(at::kBool).view({1, -1}).expand_as(s);
    if (!v.any().item<bool>()) return at::zeros_like(s);
    const float inf = std::numeric_limits<float>::infinity();
    lo = std::get<0>(at::where(v, s, at::full_like(s, inf)).min(1, true));
    hi = std::get<0>(at::where(v, s, at::full_like(s, -inf)).max(1, true));
  } else {
    lo = std::get<0>(s.min(1, true));
    hi = std::get<0>(s.max(1, true));
  }
  const at::Tensor range = hi - lo;
  return at::where(range > 0, (s - lo) / range.clamp_min(1e-12f), at::zeros_like(s));
}

at::Tensor classify_features(const at::Tensor& features, const at::Tensor& texts, const at::Tensor& valid,
                             bool standardise) {
  const at::Tensor scores = at::matmul(normalised_rows(texts.to(at::kFloat)), normalised_rows(features.to(at::kFloat)).t());
  return (standardise ? standardise_rows(scores, valid) : scores).argmax(0);
}

namespace {
/// Per-pixel classes [H*W] as a [H,W] map with -1 where valid [H,W] is false.
at::Tensor masked_class_map(const at::Tensor& classes, const at::Tensor& valid_flat, const at::Tensor& valid) {
  return at::where(valid_flat, classes, at::full_like(classes, -1)).view({valid.size(0), valid.size(1)}).contiguous();
}
}  // namespace

at::Tensor open_vocabulary_classes(const at::Tensor& features, const at::Tensor& texts, const at::Tensor& valid,
                                   bool standardise) {
  at::NoGradGuard guard;
  const at::Tensor v = valid.reshape(-1).to(at::kBool);
  return masked_class_map(classify_features(features, texts, v, standardise), v, valid);
}

at::Tensor label_volume_classes(const LabelVolume& volume, const at::Tensor& values, const at::Tensor& opacity,
                                const at::Tensor& texts_plain, const at::Tensor& valid) {
  at::NoGradGuard guard;
  const at::Tensor v = valid.reshape(-1).to(at::kBool);
  return masked_class_map(volume.logits_of_values(values, opacity, texts_plain).argmax(1), v, valid);
}

TextQuery::TextQuery(std::shared_ptr<const foundation::ClipModel> clip, TextQueryOptions options)
    : m_clip(std::move(clip)), m_options(std::move(options)) {
  if (m_options.repeat < 1) fail_usage("text repetition must be at least 1, got {}", m_options.repeat);
  if (m_options.negatives.empty()) fail_usage("LERF relevancy needs at least one negative phrase");
}

TextQuery TextQuery::for_field(const LoadedDistill& field, TextQueryOptions options) {
  if (!field.teacher.is_clip())
    fail_usage("field '{}' was distilled from '{}': text queries need a field distilled from a CLIP teacher "
               "(semfield distill --teacher clip:PATH)",
               field.name, field.teacher.to_string());
  const std::string& weights = field.teacher.arg;
  auto clip = std::make_shared<const foundation::ClipModel>(foundation::ClipModel::load(weights));
  const int64_t channels = field.model->channels().front();
  if (channels != clip->config().embed_dim)
    fail_usage("field '{}' has {} channels but the CLIP model at {} embeds to {}", field.name, channels, weights,
               clip->config().embed_dim);
  return TextQuery(std::move(clip), std::move(options));
}

at::Tensor TextQuery::encode(const std::vector<std::string>& texts) const {
  at::InferenceMode guard;
  const at::Tensor tokens = m_clip->tokenizer().tokenize(texts, m_clip->config().context_length, true);
  return m_clip->encode_text(tokens).embedding.clone();
}

TextQueryResult TextQuery::run(const at::Tensor& features, const at::Tensor& opacity,
                               const std::vector<std::string>& phrases) {
  if (phrases.empty()) fail_usage("give at least one --text phrase");
  SEMFIELD_ASSERT(features.dim() == 3 && opacity.dim() == 2, "features [E,H,W], opacity [H,W]");
  if (phrases != m_cached_phrases) {
    std::vector<std::string> augmented;
    for (const std::string& p : phrases) augmented.push_back(repeat_text(p, m_options.repeat));
    m_plain = encode(phrases);
    m_augmented = encode(augmented);
    m_negatives = encode(m_options.negatives);
    m_cached_phrases = phrases;
  }
  const int64_t e = features.size(0), h = features.size(1), w = features.size(2);
  const at::Tensor flat = features.reshape({e, -1}).t();
  const at::Tensor valid = opacity.reshape(-1) >= m_options.min_opacity;
  TextQueryResult result;
  for (size_t k = 0; k < phrases.size(); ++k) {
    const at::Tensor r = lerf_relevancy(flat, m_plain[static_cast<int64_t>(k)], m_negatives, m_options.temperature);
    result.relevancy.push_back(at::where(valid, r, at::zeros_like(r)).view({h, w}).contiguous());
  }
  at::Tensor classes;
  if (phrases.size() == 1) {
    classes = at::where(result.relevancy[0].reshape(-1) > 0.5f, at::zeros({h * w}, at::kLong),
                        at::full({h * w}, -1, at::kLong));
  } else {
    classes = classify_features(flat, m_augmented, valid, m_options.standardise);
  }
  result.classes = at::where(valid, classes, at::full_like(classes, -1)).view({h, w}).contiguous();
  return result;
}

}  // namespace semfield
