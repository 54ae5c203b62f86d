#include "settingnames.h"

#include "aq/error.h"
#include "aq/model_config.h"

#include <QCoreApplication>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>

#include <algorithm>

namespace aq::gui {

/// The translation context of the texts around the labels.
class SettingNames {
    Q_DECLARE_TR_FUNCTIONS(aq::gui::SettingNames)
};

namespace {

/// One setting: its run.json key, its command-line option (a flag turning a default-off setting on, or a valued
/// option), the option that turns it off, and the label of its control in the translation context of the class
/// that shows the control. The labels are the controls' own source texts, so they share their translations.
struct Setting {
    const char* key;
    const char* option;
    const char* offOption;
    const char* context;
    const char* label;
};

constexpr const char* kConfig = "aq::gui::ConfigPanel";
constexpr const char* kExport = "aq::gui::ExportDialog";

const Setting kSettings[] = {
    {"wbits", "wbits", nullptr, kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Weight bits:")},
    {"abits", "abits", nullptr, kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Activation bits:")},
    {"group_size", "group-size", nullptr, kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Group size:")},
    {"partial_groups", nullptr, "no-partial-groups", kConfig,
     QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Allow a partial last group")},
    {"per_channel_fallback", "per-channel-fallback", nullptr, kConfig,
     QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Per-channel fallback")},
    {"symmetric", "symmetric", nullptr, kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Symmetric weights")},
    {"zero_in_range", "zero-in-range", "no-zero-in-range", kConfig,
     QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Keep 0 inside the grid range")},
    {"reference_delta_clamp", "reference-delta-clamp", nullptr, kConfig,
     QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Reference step-size behaviour")},
    {"lwc", nullptr, "no-lwc", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Learnable weight clipping (LWC)")},
    {"let", nullptr, "no-let", kConfig,
     QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Learnable equivalent transforms (LET)")},
    {"ln_matrix", "ln-matrix", "no-ln-matrix", kConfig,
     QT_TRANSLATE_NOOP("aq::gui::ConfigPanel",
                       "Full matrices after the norms (paper's recipe: evaluation inside AffineQuant Studio only)")},
    {"qk_matrix", "qk-matrix", "no-qk-matrix", kConfig,
     QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Matrix between queries and keys")},
    {"train_shifts", nullptr, nullptr, kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Train shifts")},
    {"signed_max_init", nullptr, nullptr, kConfig,
     QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Initialize from the signed weight maximum")},
    {"aug_loss", "aug-loss", "no-aug-loss", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Augmented loss")},
    {"sf", "sf", nullptr, kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Stability factor:")},
    {"alpha", "alpha", nullptr, kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Migration &alpha:")},
    {"let_lr", "let-lr", nullptr, kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Transform learning rate:")},
    {"lwc_lr", "lwc-lr", nullptr, kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "C&lipping learning rate:")},
    {"wd", "wd", nullptr, kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Weight decay:")},
    {"epochs", "epochs", nullptr, kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Epochs:")},
    {"nsamples", "nsamples", nullptr, kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Samples:")},
    {"seqlen", "seqlen", nullptr, kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Se&quence length:")},
    {"batch_size", "batch-size", nullptr, kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Batch size:")},
    {"seed", "seed", nullptr, kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "S&eed:")},
    {"keep_dominant", "keep-dominant", nullptr, kConfig,
     QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Keep matrices strictly diagonally dominant")},
    {"inverse_float64", "inverse-fp64", nullptr, kConfig,
     QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Invert in float64")},
    {"mixed_precision", "mixed-precision", nullptr, kConfig,
     QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Mixed precision (CUDA)")},
    {"buffers_on_host", "buffers-on-host", nullptr, kConfig,
     QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Activation buffers in host memory (CUDA)")},
    {"max_recoveries", "max-recoveries", nullptr, kConfig,
     QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Max. &recoveries:")},
    {"condition_limit", "condition-limit", nullptr, kConfig,
     QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Condition limit:")},
    // The export dialog's controls.
    {nullptr, "force", nullptr, kExport,
     QT_TRANSLATE_NOOP("aq::gui::ExportDialog", "Replace an existing folder or file")},
    {nullptr, "exact-only", nullptr, kExport,
     QT_TRANSLATE_NOOP("aq::gui::ExportDialog", "Only exact grids (refuse layers gguf must store as float16)")},
    {nullptr, "allow-extension", nullptr, kExport,
     QT_TRANSLATE_NOOP("aq::gui::ExportDialog", "Keep the post-norm matrices as extra tensors")},
    {nullptr, "dtype", nullptr, kExport, QT_TRANSLATE_NOOP("aq::gui::ExportDialog", "&Data type:")},
    {nullptr, "out", nullptr, kExport, QT_TRANSLATE_NOOP("aq::gui::ExportDialog", "&Output:")},
};

/// A control's label as running text: no mnemonic ("&Epochs:", "格式(&F)："), no trailing colon.
QString plainLabel(QString label)
{
    static const QRegularExpression cjkMnemonic(QStringLiteral("\\(&[^)]\\)"));
    label.remove(cjkMnemonic);
    label.replace(QLatin1String("&&"), QStringLiteral("\x01"));
    label.remove(QLatin1Char('&'));
    label.replace(QStringLiteral("\x01"), QStringLiteral("&"));
    label = label.trimmed();
    while (label.endsWith(QLatin1Char(':')) || label.endsWith(QChar(0xFF1A)))
        label.chop(1);
    return label.trimmed();
}

QString translatedLabel(const Setting& s)
{
    return plainLabel(QCoreApplication::translate(s.context, s.label));
}

QString quoted(const QString& label)
{
    return SettingNames::tr("“%1”").arg(label);
}

/// The setting named by an option (without dashes); `off` tells whether it was the option that turns it off.
const Setting* settingOfOption(const QString& option, bool* off)
{
    for (const Setting& s : kSettings) {
        if (s.option && option == QLatin1String(s.option)) {
            *off = false;
            return &s;
        }
        if (s.offOption && option == QLatin1String(s.offOption)) {
            *off = true;
            return &s;
        }
    }
    return nullptr;
}

/// A setting's value as the window's controls show it: on/off for switches, numbers without trailing zeros.
QString valueText(const QJsonValue& v)
{
    if (v.isBool())
        return v.toBool() ? SettingNames::tr("on") : SettingNames::tr("off");
    if (v.isDouble())
        return QString::number(v.toDouble(), 'g', 6);
    if (v.isString())
        return v.toString();
    return QString::fromUtf8(QJsonDocument(QJsonObject{{QStringLiteral("v"), v}}).toJson(QJsonDocument::Compact));
}

}  // namespace

QString settingLabel(const QString& keyOrOption)
{
    QString name = keyOrOption.trimmed();
    while (name.startsWith(QLatin1Char('-')))
        name.remove(0, 1);
    for (const Setting& s : kSettings)
        if ((s.key && name == QLatin1String(s.key)) || (s.option && name == QLatin1String(s.option)) ||
            (s.offOption && name == QLatin1String(s.offOption)))
            return translatedLabel(s);
    return QString();
}

QString inWindowWords(const QString& message)
{
    QString text = message;
    // The format is the dialog's choice, not an option: "--format hf|awq|..." asks for one, "export --format hf"
    // names one.
    static const QRegularExpression formatList(QStringLiteral("\\(?--format [a-z-]+(\\|[a-z-]+)+\\)?"));
    text.replace(formatList, SettingNames::tr("(choose a format)"));
    static const QRegularExpression exportFormatWith(
        QStringLiteral("\\b([Ee]xport) --format ([a-z-]+) --([a-z][a-z0-9-]*)"));
    for (QRegularExpressionMatch m = exportFormatWith.match(text); m.hasMatch(); m = exportFormatWith.match(text)) {
        bool off = false;
        const Setting* s = settingOfOption(m.captured(3), &off);
        if (!s)
            break;
        text.replace(
            m.capturedStart(), m.capturedLength(),
            SettingNames::tr("%1 as %2 with %3").arg(m.captured(1), m.captured(2), quoted(translatedLabel(*s))));
    }
    static const QRegularExpression exportFormat(QStringLiteral("\\b([Ee]xport) --format ([a-z-]+)"));
    for (QRegularExpressionMatch m = exportFormat.match(text); m.hasMatch(); m = exportFormat.match(text))
        text.replace(m.capturedStart(), m.capturedLength(),
                     SettingNames::tr("%1 as %2").arg(m.captured(1), m.captured(2)));
    static const QRegularExpression format(QStringLiteral("--format ([a-z-]+)"));
    text.replace(format, QStringLiteral("\\1"));
    // "--out DIR", "--out FILE.gguf": the value is a placeholder.
    static const QRegularExpression outPlaceholder(QStringLiteral("--out [A-Z][A-Z.a-z]*"));
    text.replace(outPlaceholder, QStringLiteral("--out"));

    // Every other option with a control: its quoted label, "off" for the options that turn a setting off.
    static const QRegularExpression option(QStringLiteral("`?--([a-z][a-z0-9-]*)`?"));
    QString out;
    qsizetype last = 0;
    for (auto it = option.globalMatch(text); it.hasNext();) {
        const QRegularExpressionMatch m = it.next();
        bool off = false;
        const Setting* s = settingOfOption(m.captured(1), &off);
        if (!s)
            continue;
        out += QStringView(text).mid(last, m.capturedStart() - last);
        const QString label = quoted(translatedLabel(*s));
        out += off ? SettingNames::tr("%1 off").arg(label) : label;
        last = m.capturedEnd();
    }
    out += QStringView(text).mid(last);
    return out;
}

QStringList presetEdits(const aq::QuantConfig& config, const aq::ModelConfig* model)
{
    aq::QuantConfig preset;
    try {
        preset = model ? aq::presetConfigFor(config.preset, config.method, *model)
                       : aq::presetConfig(config.preset, config.method);
    } catch (const aq::Error&) {
        return {};  // "custom", or a preset this version does not know: nothing to compare with
    }
    // What the window's configuration does when it fills a preset for a model with a shorter context.
    if (model && model->maxPositionEmbeddings > 0 && preset.seqlen > model->maxPositionEmbeddings)
        preset.seqlen = model->maxPositionEmbeddings;
    // Compare the stored form of both: every setting the engine records, including ones added later.
    const QJsonObject a = QJsonDocument::fromJson(QByteArray::fromStdString(aq::quantConfigJson(config))).object();
    const QJsonObject b = QJsonDocument::fromJson(QByteArray::fromStdString(aq::quantConfigJson(preset))).object();
    QStringList edits;
    for (auto it = a.begin(); it != a.end(); ++it) {
        const QString key = it.key();
        if (key == QLatin1String("preset") || key == QLatin1String("method") || key == QLatin1String("device"))
            continue;
        if (b.contains(key) && b.value(key) == it.value())
            continue;
        const QString label = settingLabel(key);
        edits << SettingNames::tr("%1 %2").arg(label.isEmpty() ? key : label, valueText(it.value()));
    }
    return edits;
}

}  // namespace aq::gui
