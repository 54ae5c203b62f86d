#pragma once
/// The stages a calibration passes through, as the engine reports them to its observer: one enum and one name table,
/// so that front ends switch on the stage and never compare its words.
namespace aq {

enum class Stage {
    Invalid = 0,
    Loading,               ///< reading the model, tokenizing the calibration text, the run's first activations
    ReplayingBlock,        ///< a resumed run takes a block finished before from its record
    Calibrating,           ///< a block begins
    FullPrecisionTargets,  ///< the block's full-precision outputs, the targets of its training
    Training,              ///< the block's epochs
    Merging,               ///< the learned transforms and clipping folded into the block's weights
    WritingModel,          ///< after the last block: the quantized model folder
    Evaluating,            ///< perplexities of the full-precision, round-to-nearest and quantized models
    Done,
};

/// The engine's English words for a stage ("full-precision targets"), for logs and the command line.
const char* stageName(Stage stage);

}  // namespace aq
