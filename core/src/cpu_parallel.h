#pragma once
// Operations that ATen runs on one core on the CPU, spread over LibTorch's thread pool: causal attention (one task
// per key/value head) and the linear layers' matrix products (row blocks). Internal: exposes torch. The BLAS library
// runs on one thread (aq::configureCpu), so without these the matrix products of a step used one core.
#include <torch/types.h>

namespace aq::detail {

/// softmax(mask(q k^T * scale)) v for q [B, nh, T, hd], k and v [B, nkv, T, hd] (nh a multiple of nkv: grouped-query
/// attention), float32 CPU tensors. The same operations as the tensor path in model.cpp (one matrix product per
/// key/value head, the causal mask, softmax, one product with v) in the same order, but every (batch, key/value head)
/// pair is one task of LibTorch's thread pool, forward and backward: ATen runs a batched product's batches one
/// after the other, and the BLAS library runs on one thread (aq::configureCpu), so the tensor path used one core.
/// Differentiable in q, k and v.
torch::Tensor cpuCausalAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale);

/// x W^T (+ b) for x [..., in], W [out, in], b [out] or undefined, float32 CPU tensors: what torch::linear computes
/// for inputs of more than two dimensions (the product, then the bias added), with the rows of the product (forward,
/// and the input's gradient) and the rows of the weight's gradient split into one block per thread. Differentiable
/// in x, W and b.
torch::Tensor cpuLinear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b);

}  // namespace aq::detail
