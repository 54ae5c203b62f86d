#include "enginemessages.h"

#include "settingnames.h"

#include <QCoreApplication>
#include <QRegularExpression>
#include <QStringList>

namespace aq::gui {
namespace {

QString translated(const char* text) { return QCoreApplication::translate("EngineMessages", text); }

/// An engine message the window rewrites: the pattern of the English text, and the translated text with %1, %2, ...
/// for the pattern's captures in order.
struct Known {
    const char* pattern;
    const char* text;
};

// Kept in step with the engine's wording (core/src); tst_studio engineMessagesInWindowWords feeds the real messages.
const Known kKnown[] = {
    {R"(^the calibration text has (\d+) tokens, fewer than one window of (\d+) \(\+1\); use a longer text or a smaller --seqlen$)",
     QT_TRANSLATE_NOOP("EngineMessages", "the calibration text has %1 tokens, fewer than one window of %2 (+1); choose a "
                                         "longer text or a smaller “Sequence length”.")},
    {R"(^calibration needs about ([\d.]+) GB on (\S+) \(.*\) but only ([\d.]+) GB are free; lower --nsamples or --seqlen.*$)",
     QT_TRANSLATE_NOOP("EngineMessages", "the calibration needs about %1 GB on %2 but only %3 GB are free; lower "
                                         "“Samples” or “Sequence length”, or keep the activation buffers in host memory.")},
    {R"(^block (\d+), epoch (\d+): (.*) after (\d+) recoveries; .*$)",
     QT_TRANSLATE_NOOP("EngineMessages", "block %1, epoch %2: %3 after %4 recoveries; lower the learning rates or the "
                                         "stability factor, or keep the matrices diagonally dominant.")},
    {R"(^the quantized outputs of (.*) hold (.*): quantization made the block's activations overflow; .*$)",
     QT_TRANSLATE_NOOP("EngineMessages", "the quantized outputs of %1 hold %2: quantization made the block's "
                                         "activations overflow; use more activation bits or lower the learning rates.")},
    {R"(^not enough disk space in '(.*)': .* needs about (.+) but only (.+) are free there; .*$)",
     QT_TRANSLATE_NOOP("EngineMessages", "not enough disk space in '%1': the run needs about %2 but only %3 are free "
                                         "there; free some space or choose another runs folder.")},
    {R"(^run directory '(.*)' is in use by another run \((.*)\); .*$)",
     QT_TRANSLATE_NOOP("EngineMessages", "the run folder '%1' is in use by another run (%2); wait for that run to "
                                         "finish or stop it, or choose another runs folder.")},
    {R"(^'(.*)' is already quantized .*$)",
     QT_TRANSLATE_NOOP("EngineMessages", "'%1' is already quantized (a run wrote it); open the original model.")},
    {R"(^cannot resume '(.*)': the model, calibration text or configuration differ .*$)",
     QT_TRANSLATE_NOOP("EngineMessages", "cannot resume '%1': its model, calibration text or configuration have "
                                         "changed since it was interrupted; start a new run.")},
    {R"(^'(.*)' has no config.json: not a Hugging Face model folder$)",
     QT_TRANSLATE_NOOP("EngineMessages", "'%1' has no config.json: it is not a Hugging Face model folder.")},
};

/// Reasons the engine gives for a failed epoch (see calibrate.cpp), translated where they appear inside a message.
QString reason(const QString& english)
{
    if (english == QLatin1String("non-finite loss"))
        return translated(QT_TRANSLATE_NOOP("EngineMessages", "non-finite loss"));
    if (english == QLatin1String("non-finite gradient"))
        return translated(QT_TRANSLATE_NOOP("EngineMessages", "non-finite gradient"));
    return english;
}

}  // namespace

QString engineMessageForWindow(const QString& english)
{
    const QString text = english.trimmed();
    for (const Known& k : kKnown) {
        const QRegularExpression re(QString::fromUtf8(k.pattern));
        const QRegularExpressionMatch m = re.match(text);
        if (!m.hasMatch())
            continue;
        // One pass over the placeholders: a captured path holding "%2" stays as it is.
        QStringList args;
        for (int i = 1; i <= m.lastCapturedIndex(); ++i)
            args << reason(m.captured(i));
        const QString text = translated(k.text);
        QString out;
        for (qsizetype i = 0; i < text.size(); ++i) {
            if (text[i] == QLatin1Char('%') && i + 1 < text.size() && text[i + 1].isDigit()) {
                const int n = text[i + 1].digitValue();
                if (n >= 1 && n <= args.size()) {
                    out += args[n - 1];
                    ++i;
                    continue;
                }
            }
            out += text[i];
        }
        return out;
    }
    QString out = inWindowWords(text);
    // In a translated window the rest stays the engine's English: say so rather than leave it unexplained.
    const char* note = QT_TRANSLATE_NOOP("EngineMessages", "(The engine's own words, in English.)");
    const QString translatedNote = translated(note);
    if (translatedNote != QLatin1String(note))
        out += QLatin1Char(' ') + translatedNote;
    return out;
}

}  // namespace aq::gui
