// Which distilled field of a run a segmentation, query or transfer command uses, and which views a split names.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/run_folder.h"

namespace semfield {

enum class FieldUse {
  Segment,   ///< any field; by default a SAM field, else a label field, else another feature field
  Query,     ///< a CLIP field
  Classes,   ///< class maps: a Laser field, else a CLIP field, else precomputed (files:DIR) CLIP-like features
  Transfer,  ///< a feature field (not labels); by default the first non-SAM one, else a SAM field
};

/// The field name to load: `requested` when given (its existence is checked by load_distilled), otherwise the
/// default for the use, reading each field's RUN/distill/<name>/config.json (names in sorted order within each
/// preference). UsageError when the run has no distilled field, or none fit (naming the fields it has and the
/// `semfield distill` call that would add one).
std::string choose_field(const std::filesystem::path& run_dir, const std::string& requested, FieldUse use);

/// choose_field over the run model's own semantics as well (kModelSemantics, pipeline/distill_run.h): `requested`
/// kModelSemantics picks them (UsageError when the run's model has none, or for Query / Classes, which need CLIP
/// features). With nothing requested — Segment: the model's own when the run has no distilled field (a distilled
/// field was made on purpose: it wins); Transfer: the model's own features first (FeatureNeRF), not its classes.
/// Otherwise choose_field's choice.
std::string choose_semantics(const std::filesystem::path& run_dir, const LoadedRun& run, const std::string& requested,
                             FieldUse use);
/// choose_semantics' choice, loaded: the distilled field, or the run's model as its own source (`run` must outlive
/// the result).
RunSemantics load_semantics(const std::filesystem::path& run_dir, const LoadedRun& run, const std::string& requested,
                            FieldUse use);

/// The run's cameras of a split ("train", "val", "test"); UsageError for an unknown split name or an empty split.
std::vector<const CameraRecord*> split_cameras(const std::vector<CameraRecord>& cameras, const std::string& split);

}  // namespace semfield
