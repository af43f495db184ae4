// GP-NeRF's network (../shared/papers/gp-nerf-*.txt §4; GNT's transformers, §3): a generalizable NeRF inside a
// segmenter. From N reference views of a scene it renders a target ray's colour and a semantic feature, and a
// perception head turns a whole view's semantic feature map into classes with the image's context.
//
//   extractor   ResNet + FPN (encoders/resnet_fpn.h): F_rgb (low level) and F_sem (D channels, 4 pyramid groups)
//   gather      every sample projected into every reference view (validity mask), F_rgb, colour and F_sem bilinearly
//               sampled there; k_v = MLP([F_rgb, colour]) [V,N,W]; the view/target direction difference as position
//   FAT         per layer l, a view transformer over the V views of each sample (GNT's subtraction attention, one
//               weight per channel): a = softmax_v(attn_fc(K_v - Q + P_v)), q += out_fc(sum_v a (V_v + P_v)), + FF.
//               Reuse (Eq. 5): the semantic field of that layer f_l(x) = sum_v repeat(a_l) F_sem_v (each attention
//               channel repeated D/W times to cover the semantic width)
//   position    every other layer q = MLP([q, PE(t along the ray), view direction])
//   RAT         per layer l, a ray transformer: multi-head self-attention over the S samples of each ray.
//               Reuse (Eq. 7): s_l = A_RAT,l f_l per head (the semantic channels split across the heads like q's)
//   outputs     colour, "blend" (default): per sample the source colours pooled by the last layer's view attention
//               (its mean over channels), then over the samples by alpha = softmax_s(score(LN(q))), an attention
//               on the ray transformer's output; "alpha": the same per-sample colours composited front to back
//               with opacity sigmoid(score(LN(q))) over the background; "density": the same per-sample colours
//               composited with the point head's density at the fine samples (volume rendering, as rgb_point_fine);
//               "mlp": C(r) = sigmoid(rgb_fc(mean_s LN(q)))
//               (Eq. 6, GNT); "ibr": a head of its own (models/ibr's aggregation and ray density on F_rgb, or with
//               colour_encoder "own" on its own encoder's maps, and the source colours at the fine samples, with
//               colour_samples "all" also at the proposal's bin centres), volume rendered
//               semantic field f_sem(x) = sum_l f_l(x); S_sem(r) = adaptor(mean_s sum_l s_l), the adaptor
//               linear                                                                                   (Eq. 5, 7)
//   head        Semantic-FPN (Eq. 3 family): the [D,H,W] map split into 4 channel groups resampled to 1, 1/2, 1/4,
//               1/8; group i through max(1, i) conv-GN-ReLU(-upsample) stages back to H x W; summed; 1x1 -> classes
//
// Sampling (no occupancy grid, nothing per scene): n_coarse stratified samples between the ray's entry into and exit
// from the scene box go through the first view transformer only and a point head (density and colour per point: the
// "proposal", trained by its own compositing loss; it also gives the SceneModel's depth, opacity, per-sample weights
// and density at points). n_fine importance samples from its weights go through every layer. GNT renders its fine
// pass over coarse + fine samples with all layers; rendering only the importance samples is this port's CPU saving.
//
// Gradient block (§4.3): with config.gradient_block the reference views' F_sem are detached on the rendering path, so
// the distillation losses train the transformers' aggregation, not the extractor (which then learns semantics
// through the head's loss on S_novel, the extractor's map of the target image). joint_attention = false detaches the
// attention maps on the semantic path (Table 4, ID 1).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/core/tensor_state.h"
#include "semfield/encoders/conv_layers.h"
#include "semfield/encoders/resnet_fpn.h"
#include "semfield/fields/mlp.h"
#include "semfield/kernels/gather_project.h"
#include "semfield/kernels/gpnerf_forward.h"
#include "semfield/models/gpnerf/gpnerf_config.h"
#include "semfield/models/ibr/ibr_network.h"
#include "semfield/models/ibr/ray_samples.h"

namespace semfield {

/// A scene's reference views as the network reads them (channels last, as the fused gather reads them).
struct GpnerfSources {
  SourceCameraBatch cameras;  ///< normalised scene frame
  at::Tensor colours;         ///< [V,H,W,3] in [0,1]
  at::Tensor rgb;             ///< [V,h,w,C] F_rgb
  at::Tensor semantic;        ///< [V,h,w,D] F_sem
  at::Tensor colour_features; ///< [V,h',w',C] the "ibr" colour's own encoder's maps (colour_encoder "own"; else
                              ///< undefined: the head reads rgb)
  int64_t size() const { return cameras.size(); }
};

struct GpnerfRenderOutput {
  at::Tensor rgb;               ///< [R,3] the transformers' colour (over the background for rays missing the box)
  at::Tensor rgb_point;         ///< [R,3] the proposal's compositing over the coarse samples
  at::Tensor rgb_point_fine;    ///< [R,3] the same over the fine samples
  at::Tensor opacity, depth;    ///< [R] the proposal's density composited over the fine samples; depth = expected t
  at::Tensor ts, dts, weights;  ///< [R,S] fine samples, their interval lengths and the proposal's weights there
  at::Tensor valid;             ///< [R,S] bool: fine samples some reference view sees
  at::Tensor semantic;          ///< [R,D] S_sem(r)
  at::Tensor point_semantic;    ///< [R,S,D] the semantic field f_sem at the fine samples (undefined when fused)
  at::Tensor ray_attention;     ///< [R,S] the last ray transformer's attention to each sample (mean over heads and
                                ///< queries; undefined when fused)
  at::Tensor sample_rgb;        ///< [R,S,3] per fine sample the views' colours blended (blend_weights)
  at::Tensor sample_score;      ///< [R,S] the colour's per-sample score; both undefined with the "mlp" colour, and
                                ///< from the fused kernels with the "blend" colour
  int64_t n_samples = 0;
  /// With `record`: per layer the view attention A_FAT [V,N,W] (N = R*S), the ray attention A_RAT [R,H,S,S], the
  /// layer's semantic field f_l [N,D] and rendered semantics s_l [R,S,D] (for tests of the reuse).
  std::vector<at::Tensor> view_attention, ray_attention_maps, layer_field, layer_ray;
};

/// Inference's first pass over rays (the proposal over n_coarse_render deterministic stratified samples between each
/// ray's near and far): its compositing weights [R,Sc] over those bins, its colour over the background [R,3], opacity
/// and expected depth [R]. Rays missing the box: zero weights, opacity and depth, the background.
struct GpnerfProposal {
  at::Tensor weights, rgb, opacity, depth;
  int64_t n_samples = 0;
};

class GpnerfNetwork {
 public:
  GpnerfNetwork() = default;
  /// Seeded initialisation (config.seed): the same config gives the same weights.
  explicit GpnerfNetwork(const GpnerfConfig& config);

  const GpnerfConfig& config() const { return m_config; }
  int64_t classes() const { return static_cast<int64_t>(m_config.classes.size()); }
  const ResNetFpn& extractor() const { return m_extractor; }
  ResNetFpn& extractor() { return m_extractor; }

  /// The extractor's maps of images [V,3,H,W], resampled to encode_size first (encoders/encoder_input.h).
  ResNetFpn::Output extract(const at::Tensor& images) const;
  /// Reference views ready to render from: images [V,3,H,W] through the extractor (differentiable).
  GpnerfSources prepare(const std::vector<Camera>& cameras, const at::Tensor& images) const;
  /// The "ibr" colour's own encoder's maps of images [V,3,H,W], channels last [V,h,w,C] (colour_encoder "own").
  at::Tensor encode_colour(const at::Tensor& images) const;
  /// S_novel: the extractor's semantic map of target images [B,3,H,W], upsampled to H x W: [B,D,H,W].
  at::Tensor novel_semantics(const at::Tensor& images) const;

  /// Renders rays (near/far from the scene box: ibr_rays) over background [R,3]. train: stratified jitter and random
  /// importance samples from `seed` and every output the losses read (also without a gradient: validation losses),
  /// else deterministic. Inference (not train, not `record`, no gradient) runs the transformers through the fused
  /// kernels (kernels/gpnerf_forward.h), which leave point_semantic and ray_attention undefined.
  GpnerfRenderOutput render(const IbrRays& rays, const GpnerfSources& sources, const at::Tensor& background,
                            bool train, uint64_t seed, bool record = false) const;
  /// The "ibr" colour [R,3] of a training render, render(rays, sources, background, true, seed).rgb, up to float
  /// rounding: the same stratified proposal and random importance samples from `seed`, the head's colour at them,
  /// rays missing the box showing the background — without the fine pass's transformers, whose outputs that colour
  /// does not read (a stage that trains the colour alone: GpnerfCorpusModel::losses). The proposal (the first view
  /// layer and the point head) runs without a gradient, through the fused kernels on a CPU: render draws the samples
  /// from its detached weights too, so the colour's gradient is the same.
  at::Tensor render_colour(const IbrRays& rays, const GpnerfSources& sources, const at::Tensor& background,
                           uint64_t seed) const;
  /// Inference's render in its two passes: render(rays, sources, background, false, 0) is
  /// render_proposed(rays, sources, background, propose(rays, sources, background)).
  GpnerfProposal propose(const IbrRays& rays, const GpnerfSources& sources, const at::Tensor& background) const;
  /// The second pass with a proposal given per ray, read as weights over the ray's own bins between its near and far
  /// (so it may come from other rays: render_full's proposal_stride). Rays missing the box, and rays whose proposal
  /// opacity is at most fine_min_opacity, take the empty output (the proposal's colour, the semantics of nothing).
  /// n_samples counts the fine samples only.
  GpnerfRenderOutput render_proposed(const IbrRays& rays, const GpnerfSources& sources, const at::Tensor& background,
                                     const GpnerfProposal& proposal) const;
  /// The proposal's density [N] and colour [N,3] at points seen along dirs [N,3] (first view transformer + point head).
  std::pair<at::Tensor, at::Tensor> point_density(const at::Tensor& positions, const at::Tensor& dirs,
                                                  const GpnerfSources& sources) const;

  /// Whether inference from `sources` (rendered now: grad mode as it is) runs through the fused CPU kernels.
  bool fused_inference(const GpnerfSources& sources) const {
    return use_fused({&sources.colours, &sources.rgb, &sources.semantic});
  }
  /// The "ibr" colour's head as an IbrNetwork config: the extractor backbone's widths as its encoder's (with
  /// colour_encoder "shared" the head reads F_rgb, and its own encoder is never run nor stored; with "own" it encodes
  /// the images at encode_size), the ibr defaults otherwise, seeded from config.seed.
  static IbrConfig colour_head_config(const GpnerfConfig& config);
  /// The "ibr" colour over the fine samples t_fine [R,S] of rays (intervals dts_fine [R,S]; with colour_samples "all"
  /// also over the centres of the proposal's bins, edges [R,Sc+1]): the head's per-sample colours composited with its
  /// ray density over background [R,3]: [R,3]. The fused kernels without a gradient on a CPU.
  at::Tensor ibr_colour(const IbrRays& rays, const GpnerfSources& sources, const at::Tensor& t_fine,
                        const at::Tensor& dts_fine, const at::Tensor& edges, const at::Tensor& background) const;

  /// The transformers' weights as the fused inference kernels read them (kernels/gpnerf_forward.h).
  kernels::GpnerfTransformerWeights transformer_weights() const;

  /// The context-aware perception head: semantic feature maps [B,D,H,W] -> class logits [B,K,H,W].
  at::Tensor decode(const at::Tensor& maps) const;
  /// decode as inference runs it: with config.head_flip the log of the mean of the class probabilities of the map and
  /// of its mirror image (mirrored back); else decode.
  at::Tensor decode_view(const at::Tensor& maps) const;
  /// The instance head (config.instance_slots > 0): maps [B,D,H,W] -> slot logits [B,slots,H,W].
  at::Tensor decode_instances(const at::Tensor& maps) const;
  bool has_instances() const { return m_config.instance_slots > 0; }

  std::vector<at::Tensor> parameters() const;
  /// Moves the weights to `device` (a GPU, on a CUDA build of LibTorch): prepare, render and training steps then run
  /// there through the LibTorch paths (the fused kernels are CPU-only); tests/unit/models/device_test.cpp.
  void to(const at::Device& device);
  /// "extractor.*", "transformer.*", "head.*" (and "instance_head.*"); the parts' learning-rate multipliers are
  /// keyed on these prefixes (GpnerfCorpusModel::lr_scales).
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;
  TensorMap state() const;
  void load_state(const TensorMap& state, const std::string& origin);

 private:
  struct ViewLayer {
    at::Tensor norm_w, norm_b, ff_norm_w, ff_norm_b;
    at::Tensor wq, wk, wv;  ///< [W,W]
    Mlp pos_fc, attn_fc, out_fc, ff;
  };
  struct RayLayer {
    at::Tensor norm_w, norm_b, ff_norm_w, ff_norm_b;
    at::Tensor wq, wk, wv;  ///< [W,W]
    Mlp out_fc, ff;
  };
  struct Gathered {
    at::Tensor valid;     ///< [V,N,1] float
    at::Tensor k;         ///< [V,N,W] per-view keys (rgbfeat_fc of F_rgb and colour)
    at::Tensor colours;   ///< [V,N,3]
    at::Tensor semantic;  ///< [V,N,D]
    at::Tensor pos;       ///< [V,N,4] target minus source direction, cosine
    at::Tensor seen;      ///< [N] bool
  };
  Gathered gather(const at::Tensor& positions, const at::Tensor& dirs, const GpnerfSources& sources,
                  bool with_semantics) const;
  /// q0: the max over valid views of the keys [N,W] (0 for a sample no view sees).
  static at::Tensor initial_query(const Gathered& g);
  /// One view transformer: q [N,W] -> q', attention [V,N,W] (with `logits` also its logits before the softmax).
  std::pair<at::Tensor, at::Tensor> view_layer(const ViewLayer& layer, const at::Tensor& q, const Gathered& g,
                                               at::Tensor* logits = nullptr) const;
  /// A sample's weights of the views' colours [V,N,1] from the last view layer's attention [V,N,W] and logits:
  /// the attention's mean over channels, with "learned" blend weights reweighted by exp(m_blend) and renormalised.
  at::Tensor colour_weights(const at::Tensor& attention, const at::Tensor& logits, const Gathered& g) const;
  /// One ray transformer: q [R,S,W], key mask [R,S] -> q', attention [R,H,S,S].
  std::pair<at::Tensor, at::Tensor> ray_layer(const RayLayer& layer, const at::Tensor& q, const at::Tensor& valid) const;
  /// Density [N] and colour [N,3] from the first view transformer's output.
  std::pair<at::Tensor, at::Tensor> point_head(const at::Tensor& q1, const at::Tensor& seen) const;
  /// The proposal pass (render's first, propose's only): `samples` stratified samples per ray between near and far
  /// (jittered with `gen`: training; the bins' edges [R,S+1] into `edges` where given), the first view transformer and
  /// the point head at them, composited over background [R,3]. Every ray must hit the box.
  SampleComposite proposal_pass(const IbrRays& rays, const GpnerfSources& sources, const at::Tensor& background,
                                int64_t samples, at::Generator* gen, at::Tensor* edges) const;
  /// render's pass over importance samples from the proposal (edges [R,S+1], weights [R,S]; random with `gen`, i.e.
  /// in training): every output but rgb_point and n_samples into out; the fused kernels without gen and record.
  /// sf: importance samples per ray.
  void render_fine(const IbrRays& rays, const GpnerfSources& sources, const at::Tensor& background,
                   const at::Tensor& edges, const at::Tensor& coarse_weights, int64_t sf, at::Generator* gen,
                   bool record, GpnerfRenderOutput& out) const;
  /// render_fine's LibTorch pass over the fine samples t_fine [R,S] (pe their position encoding): colour and semantics
  /// into out, the point head's density and colour [N], [N,3] and the samples' visibility [R,S]; with the "alpha"
  /// colour the samples' scores [R,S] and view-pooled colours [R,S,3] instead of out.rgb (render_fine composites).
  void render_transformers(const IbrRays& rays, const GpnerfSources& sources, const at::Tensor& t_fine,
                           const at::Tensor& pe, bool record, GpnerfRenderOutput& out, at::Tensor& sigma_f,
                           at::Tensor& rgb_pf, at::Tensor& valid, at::Tensor& sample_score,
                           at::Tensor& sample_rgb) const;
  /// Whether inference on `inputs` may take the fused kernels (models/fused_inference.h; SEMFIELD_FUSED_GPNERF=0
  /// keeps the LibTorch path).
  bool use_fused(std::initializer_list<const at::Tensor*> inputs) const;
  /// use_fused for the rays and sources of a render (render_fine and render_proposed choose alike).
  bool use_fused(const IbrRays& rays, const GpnerfSources& sources) const {
    return use_fused({&rays.origins, &rays.dirs, &sources.colours, &sources.rgb, &sources.semantic});
  }

  GpnerfConfig m_config;
  ResNetFpn m_extractor;
  Mlp m_rgbfeat;                     ///< [F_rgb, colour] -> W -> W
  std::vector<ViewLayer> m_view;
  std::vector<RayLayer> m_ray;
  std::vector<Mlp> m_position;       ///< per even layer: [q, PE(t), dir] -> W -> W
  Mlp m_point;                       ///< W -> W -> 4 (density logit, colour)
  at::Tensor m_final_norm_w, m_final_norm_b;
  Mlp m_rgb;                         ///< "mlp": W -> 3; "blend": W -> 1 (the samples' pooling score)
  Mlp m_blend;                       ///< "learned" blend weights: [logits_v, pos_v] (W + 4) -> 16 -> 1
  Mlp m_adaptor;                     ///< D -> D (linear)
  IbrNetwork m_colour;               ///< "ibr" colour: the head ("colour.*"; its encoder unused)
  /// A Semantic-FPN head: per channel group, its conv stages and GroupNorms; a 1x1 predictor.
  struct Head {
    std::vector<std::vector<conv::Conv>> convs;
    std::vector<std::vector<std::pair<at::Tensor, at::Tensor>>> norms;  ///< GroupNorm weight, bias
    conv::Conv predictor;
  };
  Head make_head(uint64_t seed, int64_t outputs) const;
  at::Tensor head_forward(const Head& head, const at::Tensor& maps) const;
  Head m_head, m_instance_head;
};

/// DM-NeRF's instance loss for one view: slot logits [K,P] against instance ids [P] (int64; -1 unlabelled, left
/// out): the slots' softmax probabilities matched to the view's instances by the Hungarian method on soft IoU;
/// matched slots: (1 - soft IoU) + binary cross-entropy to their instance's mask, unmatched slots: cross-entropy to
/// empty; the mean over slots. 0 (with a graph) when no pixel is labelled.
at::Tensor instance_loss(const at::Tensor& logits, const at::Tensor& ids);

/// Cosine embedding loss of Eq. 12-13 per sample: 1 - cos(a, b) where positive, max(0, cos(a, b)) elsewhere.
/// a [..., D], b broadcastable to a, positive bool of a's leading shape.
at::Tensor cosine_embedding(const at::Tensor& a, const at::Tensor& b, const at::Tensor& positive);

/// Eq. 13's positive samples [R,S]: within np samples of each ray's surface sample `index` [R] (int64).
at::Tensor near_surface_mask(const at::Tensor& index, int64_t samples, int64_t np);

/// The "alpha" colour: per-sample colours [R,S,3] composited front to back with opacity sigmoid(score) ([R,S]; 0 where
/// `valid` [R,S] is false) over background [R,3] (what the last sample leaves through).
at::Tensor alpha_composite(const at::Tensor& score, const at::Tensor& colours, const at::Tensor& valid,
                           const at::Tensor& background);

/// config.proposal_stride for an h x w view from reference views encoded at `encoded_side` pixels (their longest
/// side as the extractor reads them): the config's value, or with 0 (auto) max(h, w) / encoded_side rounded down,
/// in [1, kMaxProposalStride].
int64_t proposal_stride(const GpnerfConfig& config, int64_t h, int64_t w, int64_t encoded_side);

/// proposal_stride's grid along a side of n pixels: every stride-th pixel and the last one.
std::vector<int64_t> proposal_grid(int64_t n, int64_t stride);

/// proposal_stride's spread: the proposals of the rays through the grid pixels of an h x w view (row-major,
/// proposal_grid(h) x proposal_grid(w)) -> one per pixel of the view (row-major [h*w]). A pixel lies in the cell of
/// grid rows (columns) i and i + 1 with i = min(y / stride, last cell); its weights, colour and depth are bilinear in
/// the cell's four corner proposals (a grid pixel: its own; every surface a corner it draws on sees keeps weight), its
/// opacity the largest of the corners with a nonzero coefficient. stride 1: the grid is the view, returned as is.
GpnerfProposal spread_proposal(const GpnerfProposal& grid, int64_t h, int64_t w, int64_t stride);

/// Fig. 3a: the map [D,H,W] with the pixels `pixels` [R] (flat indices, distinct) replaced by `rendered` [R,D].
at::Tensor fuse_rendered(const at::Tensor& map, const at::Tensor& pixels, const at::Tensor& rendered);

}  // namespace semfield
