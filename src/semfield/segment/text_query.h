// Text queries on a CLIP-distilled field: LERF's relevancy of a phrase against canonical negatives, and for several
// phrases a per-pixel class map with Laser's simplified text augmentation (repeated text, per-class
// standardisation of the relevancy maps before the arg-max).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/foundation/clip_model.h"

namespace semfield {

struct LoadedDistill;

/// Each row of x (the last dimension) scaled to unit length (rows of norm < 1e-8 are divided by 1e-8): cosine
/// comparisons of features and text embeddings, in the query and in Laser's training losses.
at::Tensor normalised_rows(const at::Tensor& x);

/// LERF's canonical negative phrases: "object", "things", "stuff", "texture".
const std::vector<std::string>& canonical_negatives();

/// LERF relevancy of features [N,E] for one query embedding positive [E] against negative embeddings [M,E] (all
/// compared by cosine, so their scale does not matter): with c_q and c_i the cosines of a feature to the query
/// and to negative i, relevancy = min_i exp(t c_q) / (exp(t c_q) + exp(t c_i)), in [0,1]; > 0.5 means the query
/// beats every negative. Returns [N].
at::Tensor lerf_relevancy(const at::Tensor& features, const at::Tensor& positive, const at::Tensor& negatives,
                          double temperature = 10.0);

/// Laser's simplified text augmentation: the phrase repeated `repeat` times, joined by single spaces
/// ("chair" x 2 -> "chair chair"); repeat 1 is the phrase itself.
std::string repeat_text(const std::string& phrase, int repeat);

/// Laser's per-class standardisation: each row of scores [K,N] min-max scaled to [0,1] over the columns where
/// valid [N] (bool; undefined = all) is true, so each class's map spans the same range; a constant row becomes 0.
at::Tensor standardise_rows(const at::Tensor& scores, const at::Tensor& valid = {});

/// Class of each feature [N,E] among text embeddings [K,E]: arg-max over k of the cosine similarity, after
/// standardise_rows when `standardise`. int64 [N].
at::Tensor classify_features(const at::Tensor& features, const at::Tensor& texts, const at::Tensor& valid,
                             bool standardise = true);

/// Text embeddings of a class list from an .npy [K, D] (float of any width), in the order of the list: InputError
/// naming the file for a malformed array or a row count other than `n_classes`.
at::Tensor read_text_embeddings(const std::filesystem::path& path, int64_t n_classes);

/// Splits a comma-separated class list ("chair,table lamp,cup") into trimmed names; UsageError for an empty name or
/// list.
std::vector<std::string> split_class_list(const std::string& text);

class LabelVolume;

/// Laser's class map of one rendered view, [H,W] int64 with the index of the winning text (0..K-1) and -1 where
/// `valid` [H,W] is false: the cosines of features [H*W, E] (row-major per pixel, as SemanticRenderOutput gives them,
/// no transpose) with texts [K,E] (repeated names when text augmentation is on), each class's map standardised over
/// the valid pixels when `standardise`.
at::Tensor open_vocabulary_classes(const at::Tensor& features, const at::Tensor& texts, const at::Tensor& valid,
                                   bool standardise);
/// The class map of a field with a Laser label volume, from the volume's composited values [H*W, 3R] and opacity
/// [H*W] (FeatureModel::render_label_values): the arg-max of LabelVolume::logits_of_values against texts_plain [K,D],
/// -1 where `valid` [H,W] is false.
at::Tensor label_volume_classes(const LabelVolume& volume, const at::Tensor& values, const at::Tensor& opacity,
                                const at::Tensor& texts_plain, const at::Tensor& valid);

struct TextQueryOptions {
  int repeat = 2;             ///< text repetition for the class map (Laser uses 2; 1 switches it off)
  bool standardise = true;    ///< per-class standardisation before the arg-max
  double temperature = 10.0;  ///< LERF's softmax temperature
  std::vector<std::string> negatives = canonical_negatives();
  double min_opacity = 0.5;   ///< pixels below it show empty space: class -1, relevancy 0
};

struct TextQueryResult {
  std::vector<at::Tensor> relevancy;  ///< per phrase [H,W] float in [0,1] (LERF, plain phrase)
  at::Tensor classes;                 ///< [H,W] int64: index of the phrase, -1 for empty pixels; with one phrase,
                                      ///< 0 where its relevancy > 0.5 and -1 elsewhere
};

/// CLIP's text tower for a CLIP-distilled field.
class TextQuery {
 public:
  explicit TextQuery(std::shared_ptr<const foundation::ClipModel> clip, TextQueryOptions options = {});
  /// From a field distilled with a `clip:PATH` teacher (loads the model from PATH; the tokenizer files must lie
  /// beside the weights). UsageError naming the field's teacher for any other field.
  static TextQuery for_field(const LoadedDistill& field, TextQueryOptions options = {});

  /// Text embeddings [N,E] (not normalised).
  at::Tensor encode(const std::vector<std::string>& texts) const;
  /// Relevancy maps and the class map of phrases for rendered features [E,H,W] with opacity [H,W]. The text
  /// embeddings are computed once per TextQuery and phrase list (cached).
  TextQueryResult run(const at::Tensor& features, const at::Tensor& opacity, const std::vector<std::string>& phrases);

 private:
  std::shared_ptr<const foundation::ClipModel> m_clip;
  TextQueryOptions m_options;
  std::vector<std::string> m_cached_phrases;
  at::Tensor m_plain, m_augmented, m_negatives;
};

}  // namespace semfield
