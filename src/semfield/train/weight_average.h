// An exponential moving average of a model's parameters (the trainer scaffold's weight EMA, as Polyak averaging and
// the EMA models of diffusion training keep): after every optimiser step avg = r avg + (1 - r) p with the rate
// r = min(decay, (1 + n) / (10 + n)) at the n-th update, so the weights of the first steps fade fast. It smooths the
// step-to-step drift of the weights, which for generalizable models shows as scores on unseen scenes moving by points
// between neighbouring checkpoints (BENCHMARKS.md, "GP-NeRF"). Used by train-corpus (`--ema DECAY`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/core/tensor_state.h"

namespace semfield {

class WeightAverage {
 public:
  /// decay 0: disabled (every call a no-op); else in (0, 1). The average starts as a copy of `params`.
  WeightAverage(double decay, std::vector<at::Tensor> params);

  bool enabled() const { return m_decay > 0; }
  double decay() const { return m_decay; }
  int64_t updates() const { return m_updates; }
  /// The rate the next update uses.
  double rate() const;
  /// After an optimiser step: folds the parameters' current values into the average.
  void update();

  /// The average by parameter index ("0", "1", ...), for a checkpoint.
  TensorMap state() const;
  /// Restores an average saved by state() after `updates` updates; InputError naming `origin` when it does not match
  /// the parameters (count or shapes).
  void load(const TensorMap& state, int64_t updates, const std::string& origin);

  /// While alive, the parameters hold the average; the trained values come back when it ends (also on an exception).
  class Swap {
   public:
    Swap() = default;
    explicit Swap(WeightAverage* owner);
    Swap(const Swap&) = delete;
    Swap& operator=(const Swap&) = delete;
    ~Swap();

   private:
    WeightAverage* m_owner = nullptr;
    std::vector<at::Tensor> m_saved;
  };
  /// A Swap that puts the average in place (nothing when disabled).
  Swap swap_in() { return enabled() ? Swap(this) : Swap(); }

 private:
  double m_decay = 0;
  int64_t m_updates = 0;
  std::vector<at::Tensor> m_params, m_average;
};

}  // namespace semfield
