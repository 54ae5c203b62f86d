#pragma once
// Operations that ATen runs on one core on the CPU, spread over LibTorch's thread pool: causal attention (one task
// per key/value head) and the linear layers' matrix products (row blocks). Internal: exposes torch. The BLAS library
// runs on one thread (aq::configureCpu), so without these the matrix products of a step used one core.
#include <torch/types.h>

namespace aq::detail {

/// softmax(mask(q k^T * scale)) v for q [B, nh, T, hd], k and v [B, nkv, T, hd] (nh a multiple of nkv: grouped-query
/// attention), float32 CPU tensors. The tensor path in model.cpp computes every score and masks those above the
/// diagonal; here the queries go in tiles of rows, and a tile takes the products with the keys up to its last row
/// only (the scores above the diagonal are neither computed nor differentiated: 28/64 of the attention's products at
/// 512 tokens, in tiles of 64 rows). Every (batch, key/value head) pair is one task of LibTorch's thread pool, forward and backward: ATen
/// runs a batched product's batches one after the other, and the BLAS library runs on one thread
/// (aq::configureCpu), so the tensor path used one core. Differentiable in q, k and v.
torch::Tensor cpuCausalAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale);

/// x W^T (+ b) for x [..., in], W [out, in], b [out] or undefined, float32 CPU tensors: what torch::linear computes
/// for inputs of more than two dimensions (the product, then the bias added), with the rows of the product (forward,
/// and the input's gradient) and the rows of the weight's gradient split into one block per thread. Differentiable
/// in x, W and b.
torch::Tensor cpuLinear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b);

/// False when AQ_CPU_PARALLEL=0 is set in the environment: ATen's own attention, linear layers and products on the
/// CPU (for comparisons).
bool cpuParallelEnabled();

/// torch::matmul(a, b) for a [..., k] and b [k, n]. Float32 CPU tensors go through cpuLinear (a b = a (b^T)^T: the
/// rows of a in blocks over the thread pool, forward and backward); anything else, or with the parallel paths
/// switched off, through torch::matmul. For the products that the linear layers do not cover: the transforms'
/// weights (W A^T), the post-norm matrices applied to the activations, and the model's head.
torch::Tensor productOnCores(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace aq::detail
