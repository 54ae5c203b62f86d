// The name table of the calibration's stages.
#include "aq/stage.h"

namespace aq {

const char* stageName(Stage stage)
{
    switch (stage) {
    case Stage::Loading: return "loading";
    case Stage::ReplayingBlock: return "replaying finished block";
    case Stage::Calibrating: return "calibrating";
    case Stage::FullPrecisionTargets: return "full-precision targets";
    case Stage::Training: return "training";
    case Stage::Merging: return "merging";
    case Stage::WritingModel: return "writing the model";
    case Stage::Evaluating: return "evaluating";
    case Stage::Done: return "done";
    case Stage::Invalid: break;
    }
    return "invalid";
}

}  // namespace aq
