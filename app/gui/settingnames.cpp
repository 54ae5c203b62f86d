#include "settingnames.h"

#include "aq/error.h"
#include "aq/model_config.h"

#include <QCoreApplication>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>

#include <algorithm>
#include <iterator>
#include <string>
#include <string_view>

namespace aq::gui {

/// The translation context of the texts around the labels.
class SettingNames {
    Q_DECLARE_TR_FUNCTIONS(aq::gui::SettingNames)
};

namespace {

/// A named control: what it sets (a calibration setting's id in aq::quantSettings(), or an export option without
/// dashes) and its label in the translation context of the class that shows it. The labels are the controls' own
/// source texts, so they share their translations; which option spells a setting comes from the engine's table.
struct Label {
    const char* name;
    const char* context;
    const char* label;
};

constexpr const char* kConfig = "aq::gui::ConfigPanel";
constexpr const char* kExport = "aq::gui::ExportDialog";

const Label kSettingLabels[] = {
    {"wbits", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Weight bits:")},
    {"abits", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Activation bits:")},
    {"group_size", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Group size:")},
    {"weight_grid", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Weight gr&id:")},
    {"partial_groups", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Allow a partial last group")},
    {"per_channel_fallback", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Per-channel fallback")},
    {"symmetric", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Symmetric weights")},
    {"zero_in_range", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Keep 0 inside the grid range")},
    {"reference_delta_clamp", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Reference step-size behaviour")},
    {"lwc", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Learnable weight clipping (LWC)")},
    {"lwc_init_search", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Search the initial clipping")},
    {"gptq_rounding", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "GPTQ rounding")},
    {"let", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Learnable equivalent transforms (LET)")},
    {"ln_matrix", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel",
                       "Full matrices after the norms (paper's recipe: evaluation inside AffineQuant Studio only)")},
    {"qk_matrix", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Matrix between queries and keys")},
    {"train_shifts", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Train shifts")},
    {"signed_max_init", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Initialize from the signed weight maximum")},
    {"aug_loss", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Augmented loss")},
    {"sf", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Stability factor:")},
    {"alpha", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Migration &alpha:")},
    {"let_lr", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Transform learning rate:")},
    {"lwc_lr", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "C&lipping learning rate:")},
    {"wd", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Weight decay:")},
    {"epochs", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Epochs:")},
    {"nsamples", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Samples:")},
    {"seqlen", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Se&quence length:")},
    {"batch_size", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Batch size:")},
    {"seed", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "S&eed:")},
    {"keep_dominant", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Keep matrices strictly diagonally dominant")},
    {"inverse_float64", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Invert in float64")},
    {"mixed_precision", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Mixed precision (CUDA)")},
    {"buffers_on_host", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Activation buffers in host memory (CUDA)")},
    {"max_recoveries", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Max. &recoveries:")},
    {"condition_limit", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "&Condition limit:")},
    {"rollback_factor", kConfig, QT_TRANSLATE_NOOP("aq::gui::ConfigPanel", "Rollback factor")},
};

const Label kExportLabels[] = {
    {"force", kExport, QT_TRANSLATE_NOOP("aq::gui::ExportDialog", "Replace an existing folder or file")},
    {"exact-only", kExport, QT_TRANSLATE_NOOP("aq::gui::ExportDialog", "Only exact grids (refuse layers gguf must store as float16)")},
    {"token-embedding-type", kExport, QT_TRANSLATE_NOOP("aq::gui::ExportDialog", "Token embeddings as Q6_K")},
    {"allow-extension", kExport, QT_TRANSLATE_NOOP("aq::gui::ExportDialog", "Keep the post-norm matrices as extra tensors")},
    {"dtype", kExport, QT_TRANSLATE_NOOP("aq::gui::ExportDialog", "&Data type:")},
    {"out", kExport, QT_TRANSLATE_NOOP("aq::gui::ExportDialog", "&Output:")},
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

QString translatedLabel(const Label& s)
{
    return plainLabel(QCoreApplication::translate(s.context, s.label));
}

const Label* labelOf(const Label* begin, const Label* end, std::string_view name)
{
    for (const Label* l = begin; l != end; ++l)
        if (name == l->name)
            return l;
    return nullptr;
}

/// The label of a calibration setting (by id or option) or of an export option; `off` tells whether the name is the
/// option that turns a switch off.
const Label* labelOfName(const QString& name, bool* off)
{
    const std::string n = name.toStdString();
    *off = false;
    if (const aq::Setting* s = aq::findSetting(n)) {
        *off = s->isSwitch() && n != s->id && n != s->option;  // "no-..."
        return labelOf(std::begin(kSettingLabels), std::end(kSettingLabels), s->id);
    }
    return labelOf(std::begin(kExportLabels), std::end(kExportLabels), n);
}

QString quoted(const QString& label)
{
    return SettingNames::tr("“%1”").arg(label);
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
    bool off = false;
    const Label* l = labelOfName(name, &off);
    return l ? translatedLabel(*l) : QString();
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
        const Label* s = labelOfName(m.captured(3), &off);
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
        const Label* s = labelOfName(m.captured(1), &off);
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
