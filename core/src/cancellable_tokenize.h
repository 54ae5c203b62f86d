#pragma once
// Tokenization of long texts that a user can interrupt (internal, no torch).
#include "aq/tokenizer.h"

#include <atomic>
#include <cstdint>
#include <string_view>
#include <vector>

namespace aq::detail {

/// Throws Error(Cancelled) "<what> cancelled" when `cancel` is set.
void throwIfCancelled(const std::atomic<bool>* cancel, const char* what);

/// The ids of tokenizer.encodeForModel(text), computed in pieces of about `pieceBytes` with `cancel` checked between
/// pieces (Error(Cancelled) when it is set), so that an interrupt is honoured within a fraction of a second however
/// long the text.
///
/// Pieces end at a single space between two words. Whether the tokenizer keeps that space with the next word (byte-level
/// BPE: " word") or drops it (sentencepiece's dummy prefix: "▁word") is found by encoding the two neighbouring words
/// together and apart at every cut; a cut where neither reproduces the joint encoding is not made, so the result is
/// the same as encoding the text in one piece.
std::vector<int32_t> encodeForModelCancellable(const Tokenizer& tokenizer, std::string_view text,
                                               const std::atomic<bool>* cancel, size_t pieceBytes = 128 * 1024);

}  // namespace aq::detail
