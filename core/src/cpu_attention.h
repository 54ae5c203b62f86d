#pragma once
// Causal attention on the CPU with the key/value heads computed in parallel (internal: exposes torch).
#include <torch/types.h>

namespace aq::detail {

/// softmax(mask(q k^T * scale)) v for q [B, nh, T, hd], k and v [B, nkv, T, hd] (nh a multiple of nkv: grouped-query
/// attention), float32 CPU tensors. The same operations as the tensor path in model.cpp (one matrix product per
/// key/value head, the causal mask, softmax, one product with v) in the same order, but every (batch, key/value head)
/// pair is one task of LibTorch's thread pool, forward and backward: ATen runs a batched product's batches one
/// after the other, and the BLAS library runs on one thread (aq::configureCpu), so the tensor path used one core.
/// Differentiable in q, k and v.
torch::Tensor cpuCausalAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale);

}  // namespace aq::detail
