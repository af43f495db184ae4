// The simulated open-vocabulary teacher: a measuring instrument standing in for dense CLIP features (MaskCLIP /
// SCLIP tokens of ViT-B/16) where no CLIP weights can be downloaded (docs/teachers.md, "Simulated CLIP"). It is
// built from a view's ground-truth class map and has the defects of CLIP's dense features that Laser's modules
// address:
//  - coarse patches: one token per cell of CLIP's patch grid (14 cells on the short side, as `clip:PATH` makes for
//    any image), each the area mix of the classes inside the cell;
//  - boundary bleeding: the mix is blurred over neighbouring cells (attention spreads a patch over its neighbours);
//  - a modality gap: every token carries a large component shared by all image tokens and orthogonal to the text
//    side, so cosines with text embeddings are small (~0.2-0.3) and close together;
//  - per-class text bias: some class names' embeddings lean towards that shared component, so they score high on
//    every pixel (the plain arg-max over classes then over-predicts them);
//  - confusions between similar classes: the image-side direction of class k is pulled towards a "similar" class's
//    text embedding (pairs fixed per class list), and similar classes' text embeddings are close;
//  - global context: every token takes in a fraction of the view's mean token (MaskCLIP's known context leak);
//  - noisy patches: per-view Gaussian noise on every token, plus a fraction of outlier tokens whose class direction
//    is replaced by a random class's (the "salt" noise of dense CLIP maps);
// and it is not multi-view consistent (every view draws its own noise and outliers).
// Text embeddings for the class list come with it (simulated_clip_text_embeddings), in the same space.
// Deterministic: the same inputs, keys and options give the same maps and embeddings on every platform.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace semfield {

struct SimulatedClipOptions {
  int64_t dim = 512;          ///< embedding width (CLIP ViT-B/16: 512)
  int64_t grid = 14;          ///< patch cells on the image's shorter side (ViT-B/16 at 224: 14)
  double bleed_sigma = 0.7;   ///< Gaussian blur of the class mix, in cells
  double gap = 2.2;           ///< norm of the component shared by all image tokens (text-orthogonal)
  double text_bias = 0.15;    ///< largest lean of a class's text embedding towards the image-shared component
  double confusion = 0.5;     ///< largest pull of a class's image direction towards its similar class
  double context = 0.25;      ///< fraction of the view's mean token added to every token
  double noise = 0.45;        ///< per-view, per-token Gaussian noise (norm relative to a class direction)
  double outliers = 0.06;     ///< fraction of tokens whose class direction is a random class's
  uint64_t seed = 0xC11Bull;  ///< the instrument's own random codes
};

/// Text embeddings [K, dim] (unit norm) of classes `names` (the class list of one scene, in order): each name's
/// embedding depends only on the name and the options (so "chair" is the same vector in every scene); similar
/// classes share a component. The image-side class directions are derived from them.
at::Tensor simulated_clip_text_embeddings(const std::vector<std::string>& names, const SimulatedClipOptions& options = {});

/// One view's token map: labels [H,W] int64 with 1..K = index into `names` + 1 and 0 = nothing hit (void), the
/// view's key (a different key gives different noise) -> [dim, gh, gw] float32 with (gh, gw) =
/// aspect_grid(H, W, grid), in the map-geometry contract of teacher.h. `scene_key` fixes the per-scene confusion
/// strengths.
at::Tensor simulated_clip_map(const at::Tensor& labels, const std::vector<std::string>& names, uint64_t scene_key,
                              uint64_t view_key, const SimulatedClipOptions& options = {});

}  // namespace semfield
