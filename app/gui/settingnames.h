#pragma once
// The window's names for the engine's settings. The engine's messages and run.json speak in command-line options
// ("--seqlen", "--format hf") and JSON keys ("nsamples"); the window shows the labels of its own controls instead.
// One table maps each setting's JSON key and option to the label of the control that sets it.
#include "aq/calibrate.h"

#include <QString>
#include <QStringList>

namespace aq {
struct ModelConfig;
}

namespace aq::gui {

/// The label of the control for a setting, translated, without its mnemonic and colon ("Sequence length"), for a
/// run.json key ("seqlen", "group_size") or a command-line option with or without its dashes ("--group-size",
/// "no-ln-matrix"). Empty for names the window has no control for.
QString settingLabel(const QString& keyOrOption);

/// An engine message (English) in the window's words: every command-line option it mentions becomes the quoted label
/// of the control that sets it ("a smaller --seqlen" -> "a smaller “Sequence length”", "--no-ln-matrix" ->
/// "“Full matrices after the norms …” off", "export --format hf" -> "export as hf"). Options without a control are
/// left as they are. The command-line program's own messages are not changed; only what the window shows.
QString inWindowWords(const QString& message);

/// The settings of `config` that differ from its named preset (as the window's configuration would fill it for
/// `model`: the same stability factor by width, the sequence length capped at the model's maximum), as
/// "label value" texts in the window's words ("Epochs 10"). Empty for a custom configuration, an unknown preset or
/// an unedited one. The preset name, method and device are not settings of the preset and never count as edits.
QStringList presetEdits(const aq::QuantConfig& config, const aq::ModelConfig* model);

}  // namespace aq::gui
