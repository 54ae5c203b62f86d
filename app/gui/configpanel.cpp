#include "configpanel.h"

#include "scientificspinbox.h"
#include "settingnames.h"

#include "aq/device.h"
#include "aq/error.h"
#include "aq/export.h"

#include <QAbstractScrollArea>
#include <QCheckBox>
#include <QCoreApplication>
#include <QEvent>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QScrollArea>
#include <QSpinBox>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <limits>

namespace aq::gui {

namespace {

// The fields' ranges come from the settings table (ConfigPanel::bind).
QSpinBox* spin(QWidget* parent, const QString& tip)
{
    auto* s = new QSpinBox(parent);
    s->setToolTip(tip);
    s->setKeyboardTracking(false);
    return s;
}

QCheckBox* check(QWidget* parent, const QString& text, const QString& tip)
{
    auto* c = new QCheckBox(text, parent);
    c->setToolTip(tip);
    return c;
}

ScientificSpinBox* sci(QWidget* parent, const QString& tip)
{
    auto* s = new ScientificSpinBox(parent);
    s->setToolTip(tip);
    return s;
}

/// A form row whose label carries the field's tooltip too, so hovering either explains it.
void addRow(QFormLayout* form, const QString& label, QWidget* field)
{
    auto* l = new QLabel(label, field->parentWidget());
    l->setBuddy(field);
    l->setToolTip(field->toolTip());
    form->addRow(l, field);
}

}  // namespace

ConfigPanel::ConfigPanel(QWidget* parent) : QWidget(parent)
{
    build();
    // Without a GPU the teaching preset comes first and is chosen (every view of the demo model in seconds on a
    // CPU); the full recipes follow it. With a GPU it is the last entry and w4a4 is chosen.
    const bool gpu = aq::cudaAvailable();
    std::vector<std::string> names = aq::presetNames();
    const auto teaching = std::find(names.begin(), names.end(), "teaching");
    if (!gpu && teaching != names.end())
        std::rotate(names.begin(), teaching, teaching + 1);
    {
        const QSignalBlocker blocker(m_preset);
        for (const std::string& n : names)
            m_preset->addItem(QString::fromStdString(n));
    }
    const QString first = gpu ? QStringLiteral("w4a4") : QStringLiteral("teaching");
    applyPreset(m_preset->findText(first) >= 0 ? first : m_preset->itemText(0));
}

void ConfigPanel::build()
{
    QFormLayout* top = buildPresetRows();
    QGroupBox* quantBox = buildQuantizationGroup();
    QGroupBox* dataBox = buildCalibrationDataGroup();
    buildTransformGroup();
    QFormLayout* training = buildTrainingGroup();
    bindFields();
    addUnboundSettings(training);
    QGroupBox* deployBox = buildDeployabilityGroup();

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(top);
    layout->addWidget(quantBox);
    layout->addWidget(dataBox);
    layout->addWidget(m_transformBox);
    layout->addWidget(m_trainingBox);
    layout->addWidget(deployBox);

    connectFields();
    keepWheelForFocusedFields();
}

QFormLayout* ConfigPanel::buildPresetRows()
{
    m_preset = new QComboBox(this);
    m_preset->setToolTip(tr("Recipe of the AffineQuant paper's scripts (weight bits, activation bits, group size). "
                            "Choosing one fills every field below for the selected method; any field can then be "
                            "changed. \"teaching\" is the w4a4 recipe on a small calibration set: every view in "
                            "seconds on a CPU, for showing how the method works."));
    m_method = new QComboBox(this);
    m_method->addItem(tr("AffineQuant"), int(aq::Method::AffineQuant));
    m_method->addItem(tr("OmniQuant"), int(aq::Method::OmniQuant));
    m_method->addItem(tr("RTN (round to nearest)"), int(aq::Method::Rtn));
    m_method->setToolTip(tr("AffineQuant learns full affine transforms (matrices) with a gradual mask; OmniQuant "
                            "learns diagonal scales and clipping only; RTN quantizes the weights directly without "
                            "any training, the baseline. Changing the method refills the fields from the preset."));
    m_modifiedLabel = new QLabel(tr("(edited)"), this);
    m_modifiedLabel->setToolTip(tr("Some fields differ from the preset."));
    m_modifiedLabel->setVisible(false);

    auto* top = new QFormLayout;
    auto* presetRow = new QHBoxLayout;
    presetRow->addWidget(m_preset, 1);
    presetRow->addWidget(m_modifiedLabel);
    auto* presetLabel = new QLabel(tr("&Preset:"), this);
    presetLabel->setBuddy(m_preset);
    top->addRow(presetLabel, presetRow);
    addRow(top, tr("&Method:"), m_method);
    return top;
}

QGroupBox* ConfigPanel::buildQuantizationGroup()
{
    auto* quantBox = new QGroupBox(tr("Quantization"), this);
    auto* quant = new QFormLayout(quantBox);
    m_wbits = spin(quantBox, tr("Bits per weight, 2 to 16. 16 leaves the weights unquantized."));
    m_abits = spin(quantBox,
                   tr("Bits per activation (per-token dynamic quantization at the inputs of every linear layer), 2 "
                      "to 16. 16 leaves activations unquantized (weight-only quantization)."));
    m_groupSize = spin(quantBox,
                       tr("Weights share one scale and zero point per group of this many input channels. 0 means "
                          "one per output channel. Smaller groups are more accurate and cost more storage."));
    m_groupSize->setSpecialValueText(tr("per channel"));
    m_weightGrid = new QComboBox(quantBox);
    m_weightGrid->addItem(tr("Uniform (scale and zero point per group)"));
    m_weightGrid->addItem(tr("Q4_K (llama.cpp, 4 bits)"));
    m_weightGrid->addItem(tr("Q5_K (llama.cpp, 5 bits)"));
    m_weightGrid->addItem(tr("Q6_K (llama.cpp, 6 bits)"));
    m_weightGrid->addItem(tr("Q3_K (llama.cpp, 3 bits)"));
    m_weightGrid->addItem(tr("Q2_K (llama.cpp, 2 bits)"));
    m_weightGrid->addItem(tr("Q4_K_M mix (llama.cpp's choice per tensor)"));
    m_weightGrid->addItem(tr("Q3_K_M mix (llama.cpp's choice per tensor)"));
    m_weightGrid->addItem(tr("Q2_K mix (llama.cpp's choice per tensor)"));
    m_weightGrid->setToolTip(tr("The grid the weights are quantized to. Uniform: a scale and zero point per group. "
                                "The k-quant grids are llama.cpp's: super-blocks of 256 weights whose sub-blocks have "
                                "integer scales (and minimums) against float16 factors. Calibration then learns "
                                "exactly the grid a GGUF export stores, and the weight bits follow the grid. The "
                                "mixes give attention values, attention outputs and MLP down projections more bits in "
                                "some blocks, as llama.cpp's file types of the same names do."));
    m_partialGroups = check(quantBox, tr("Allow a partial last group"),
                            tr("When a layer's input size is not a multiple of the group size, quantize the "
                               "remainder as a smaller last group."));
    m_perChannelFallback = check(quantBox, tr("Per-channel fallback"),
                                 tr("Without partial groups: quantize layers whose input size is not a multiple of "
                                    "the group size per output channel instead (the run report lists them). With "
                                    "both off, such a configuration is refused."));
    m_symmetric = check(quantBox, tr("Symmetric weights"),
                        tr("Symmetric weight grid with the zero point at 2^(bits-1), as GPTQ-style integer kernels "
                           "expect. Off (default): asymmetric min/max grid."));
    m_zeroInRange = check(quantBox, tr("Keep 0 inside the grid range"),
                          tr("Force zero into [min, max] of every group, which packed integer exports need."));
    m_referenceDeltaClamp = check(quantBox, tr("Reference step-size behaviour"),
                                  tr("Reproduce the reference code's missing clamp of the quantization step size "
                                     "(spec §2.1), for bit-exact comparisons. Off: the step is clamped, which is "
                                     "safer."));
    addRow(quant, tr("&Weight bits:"), m_wbits);
    addRow(quant, tr("&Activation bits:"), m_abits);
    addRow(quant, tr("Weight gr&id:"), m_weightGrid);
    addRow(quant, tr("&Group size:"), m_groupSize);
    quant->addRow(m_partialGroups);
    quant->addRow(m_perChannelFallback);
    quant->addRow(m_symmetric);
    quant->addRow(m_zeroInRange);
    quant->addRow(m_referenceDeltaClamp);
    return quantBox;
}

QGroupBox* ConfigPanel::buildCalibrationDataGroup()
{
    auto* dataBox = new QGroupBox(tr("Calibration data"), this);
    auto* data = new QFormLayout(dataBox);
    m_nsamples = spin(dataBox,
                      tr("Number of calibration windows drawn (seeded) from the calibration text. The paper uses "
                         "128."));
    m_seqlen = spin(dataBox,
                    tr("Tokens per calibration window. Capped at the model's maximum sequence length. Memory grows "
                       "with samples x length."));
    m_seed = spin(dataBox,
                  tr("Seed for drawing the calibration windows and any random initialization: the same seed, data "
                     "and configuration give the same result on the CPU."));
    addRow(data, tr("&Samples:"), m_nsamples);
    addRow(data, tr("Se&quence length:"), m_seqlen);
    addRow(data, tr("S&eed:"), m_seed);
    return dataBox;
}

void ConfigPanel::buildTransformGroup()
{
    m_transformBox = new QGroupBox(tr("Transforms"), this);
    auto* tf = new QFormLayout(m_transformBox);
    m_lwc = check(m_transformBox, tr("Learnable weight clipping (LWC)"),
                  tr("Learn per-group clipping factors of the weight range instead of using plain min/max."));
    m_let = check(m_transformBox, tr("Learnable equivalent transforms (LET)"),
                  tr("Learn the affine transforms and shifts that move quantization difficulty between "
                     "activations and weights; they are merged into the weights afterwards, so the model "
                     "computes the same function."));
    m_lnMatrix = check(m_transformBox, tr("Full matrices after the norms (paper's recipe: evaluation inside "
                                          "AffineQuant Studio only)"),
                       tr("Learn the transforms before the q/k/v projections and before the MLP as full d x d "
                          "matrices (the AffineQuant paper's weight-only recipe) instead of diagonal scales. The "
                          "matrices stay in the model as a dense product after each norm, which no other runtime "
                          "applies: transformers, vLLM and llama.cpp cannot run the result. Off by default, so that "
                          "the presets give deployable models."));
    m_qkMatrix = check(m_transformBox, tr("Matrix between queries and keys"),
                       tr("Learn the query/key transform as per-head block matrices instead of a vector. Used by "
                          "the W4A4 presets."));
    m_trainShifts = check(m_transformBox, tr("Train shifts"),
                          tr("Learn the channel shifts (bias-like offsets) of the transforms. OmniQuant keeps them "
                             "at zero for LLaMA."));
    m_signedMaxInit = check(m_transformBox, tr("Initialize from the signed weight maximum"),
                            tr("SmoothQuant-style initial scales from the signed maximum of the weights "
                               "(AffineQuant); off: from the absolute maximum (OmniQuant)."));
    m_sf = sci(m_transformBox,
               tr("Stability factor: the off-diagonal entries inside the gradual mask's band are multiplied by it. "
                  "Smaller values keep the matrices closer to diagonally dominant, hence safely invertible; larger "
                  "values let them move further from diagonal. The preview below shows the schedule."));
    m_alpha = new QDoubleSpinBox(m_transformBox);
    m_alpha->setSingleStep(0.05);
    m_alpha->setDecimals(3);
    m_alpha->setKeyboardTracking(false);
    m_alpha->setToolTip(tr("SmoothQuant migration strength for the initial scales: 0 leaves the difficulty in the "
                           "activations, 1 moves it all into the weights."));
    m_keepDominant = check(m_transformBox, tr("Keep matrices strictly diagonally dominant"),
                           tr("After each step, project every matrix row back to strict diagonal dominance, which "
                              "guarantees invertibility. A deviation from the method (off in the paper)."));
    m_inverseFloat64 = check(m_transformBox, tr("Invert in float64"),
                             tr("Compute the transforms' inverses in double precision: smaller merge error, more "
                                "time and memory."));
    tf->addRow(m_lwc);
    tf->addRow(m_let);
    tf->addRow(m_lnMatrix);
    tf->addRow(m_qkMatrix);
    tf->addRow(m_trainShifts);
    tf->addRow(m_signedMaxInit);
    addRow(tf, tr("&Stability factor:"), m_sf);
    addRow(tf, tr("Migration &alpha:"), m_alpha);
    tf->addRow(m_keepDominant);
    tf->addRow(m_inverseFloat64);
}

QFormLayout* ConfigPanel::buildTrainingGroup()
{
    m_trainingBox = new QGroupBox(tr("Training"), this);
    auto* training = new QFormLayout(m_trainingBox);
    m_epochs = spin(m_trainingBox,
                    tr("Passes over the calibration samples per block. The mask band widens from the diagonal "
                       "(first epoch) to the full matrix (last epoch). 0 merges the initial transforms untrained."));
    m_batchSize = spin(m_trainingBox,
                       tr("Calibration windows per optimisation step. Must divide the number of samples."));
    m_letLr = sci(m_trainingBox, tr("AdamW learning rate of the transforms and shifts."));
    m_lwcLr = sci(m_trainingBox, tr("AdamW learning rate of the clipping factors."));
    m_weightDecay = sci(m_trainingBox, tr("AdamW weight decay (0 in every preset)."));
    m_weightDecay->setSmallestStep(1e-5);
    m_augLoss = check(m_trainingBox, tr("Augmented loss"),
                      tr("Also match the block's output on the full-precision input stream, not only on the "
                         "quantized one. Used by the 2-bit and W4A4 presets."));
    m_mixedPrecision = check(m_trainingBox, tr("Mixed precision (CUDA)"),
                             tr("bfloat16 matrix products and activation buffers with float32 master parameters and "
                                "loss, fused quantization kernels, refined inverses of the full matrices: several "
                                "times faster, final block losses within 2% of the float32 path. Only on CUDA "
                                "devices."));
    m_buffersOnHost = check(m_trainingBox, tr("Activation buffers in host memory (CUDA)"),
                            tr("Keep the calibration activations (samples x tokens x hidden size, two or three "
                               "copies) in pinned host memory and move one batch at a time to the GPU: much less "
                               "GPU memory for a few percent more time. Only on CUDA devices."));
    m_maxRecoveries = spin(m_trainingBox,
                           tr("How many times a block may roll back an epoch (non-finite loss or gradient, or an "
                              "ill-conditioned transform), with a lower learning rate or stability factor, before "
                              "the run fails."));
    m_conditionLimit = sci(m_trainingBox,
                           tr("Condition estimate ||A||1 ||A^-1||1 of a transform above which the epoch is rolled "
                              "back."));
    m_conditionLimit->setStepFactor(10);
    addRow(training, tr("&Epochs:"), m_epochs);
    addRow(training, tr("&Batch size:"), m_batchSize);
    addRow(training, tr("&Transform learning rate:"), m_letLr);
    addRow(training, tr("C&lipping learning rate:"), m_lwcLr);
    addRow(training, tr("&Weight decay:"), m_weightDecay);
    training->addRow(m_augLoss);
    training->addRow(m_mixedPrecision);
    training->addRow(m_buffersOnHost);
    addRow(training, tr("Max. &recoveries:"), m_maxRecoveries);
    addRow(training, tr("&Condition limit:"), m_conditionLimit);
    return training;
}

void ConfigPanel::bindFields()
{
    // Each control stands for one setting of the engine's table, which gives its range.
    const std::pair<QWidget*, const char*> bound[] = {
        {m_wbits, "wbits"}, {m_abits, "abits"}, {m_weightGrid, "weight_grid"}, {m_groupSize, "group_size"},
        {m_partialGroups, "partial_groups"}, {m_perChannelFallback, "per_channel_fallback"}, {m_symmetric, "symmetric"}, {m_zeroInRange, "zero_in_range"},
        {m_referenceDeltaClamp, "reference_delta_clamp"}, {m_lwc, "lwc"}, {m_let, "let"}, {m_lnMatrix, "ln_matrix"},
        {m_qkMatrix, "qk_matrix"}, {m_trainShifts, "train_shifts"}, {m_signedMaxInit, "signed_max_init"},
        {m_augLoss, "aug_loss"}, {m_sf, "sf"}, {m_alpha, "alpha"}, {m_letLr, "let_lr"}, {m_lwcLr, "lwc_lr"},
        {m_weightDecay, "wd"}, {m_epochs, "epochs"}, {m_nsamples, "nsamples"}, {m_seqlen, "seqlen"},
        {m_batchSize, "batch_size"}, {m_seed, "seed"}, {m_keepDominant, "keep_dominant"},
        {m_inverseFloat64, "inverse_float64"}, {m_mixedPrecision, "mixed_precision"},
        {m_buffersOnHost, "buffers_on_host"}, {m_maxRecoveries, "max_recoveries"},
        {m_conditionLimit, "condition_limit"}};
    for (const auto& [widget, id] : bound)
        bind(widget, id);
    // The grid's items are in the order of aq::WeightGrid, one per name of the setting.
    Q_ASSERT(size_t(m_weightGrid->count()) == aq::findSetting("weight_grid")->choices.size());
}

void ConfigPanel::addUnboundSettings(QFormLayout* training)
{
    // A setting without a control of its own gets a plain one here, named as the window names settings.
    for (const aq::Setting& setting : aq::quantSettings()) {
        if (m_fields.contains(setting.id))
            continue;
        const QString label = settingLabel(QLatin1String(setting.id));
        const QString name = label.isEmpty() ? QString::fromLatin1(setting.id) : label;
        const QString tip = QString::fromUtf8(setting.help);
        QWidget* field = nullptr;
        if (setting.isChoice()) {
            auto* box = new QComboBox(m_trainingBox);
            for (const char* choice : setting.choices)
                box->addItem(QString::fromLatin1(choice));
            box->setToolTip(tip);
            addRow(training, name + QLatin1Char(':'), field = box);
        } else if (setting.isSwitch())
            training->addRow(field = check(m_trainingBox, name, tip));
        else if (setting.isReal())
            addRow(training, name + QLatin1Char(':'), field = sci(m_trainingBox, tip));
        else
            addRow(training, name + QLatin1Char(':'), field = spin(m_trainingBox, tip));
        bind(field, setting.id);
    }
}

QGroupBox* ConfigPanel::buildDeployabilityGroup()
{
    // Shown next to the fields so that the consequence of an edit for exporting is visible before hours of
    // calibration are spent on a configuration no runtime can load.
    auto* deployBox = new QGroupBox(tr("Deployability"), this);
    deployBox->setToolTip(tr("What the export of a run with this configuration can look like: which transforms "
                             "fold into standard weights, and which export formats and runtimes compute what the "
                             "run measured. Checked without reading any file."));
    auto* deployLayout = new QVBoxLayout(deployBox);
    m_deployability = new QLabel(deployBox);
    m_deployability->setObjectName(QStringLiteral("deployability"));
    m_deployability->setTextFormat(Qt::RichText);
    m_deployability->setWordWrap(true);
    m_deployability->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::LinksAccessibleByMouse |
                                             Qt::LinksAccessibleByKeyboard);
    // Advice names the control to change as a link: following it focuses that control.
    connect(m_deployability, &QLabel::linkActivated, this, [this](const QString& link) {
        if (link.startsWith(QLatin1String("setting:")))
            focusAdvised(link.mid(8));
    });
    deployLayout->addWidget(m_deployability);
    return deployBox;
}

void ConfigPanel::connectFields()
{
    connect(this, &ConfigPanel::configChanged, this, &ConfigPanel::updateDeployability);
    connect(m_preset, &QComboBox::currentIndexChanged, this, &ConfigPanel::reapplyPreset);
    connect(m_method, &QComboBox::currentIndexChanged, this, &ConfigPanel::reapplyPreset);
    for (QWidget* w : std::as_const(m_fields)) {
        if (auto* b = qobject_cast<QSpinBox*>(w))
            connect(b, &QSpinBox::valueChanged, this, &ConfigPanel::onFieldEdited);
        else if (auto* d = qobject_cast<QDoubleSpinBox*>(w))
            connect(d, &QDoubleSpinBox::valueChanged, this, &ConfigPanel::onFieldEdited);
        else if (auto* c = qobject_cast<QCheckBox*>(w))
            connect(c, &QCheckBox::toggled, this, &ConfigPanel::onFieldEdited);
        else if (auto* box = qobject_cast<QComboBox*>(w))
            connect(box, &QComboBox::currentIndexChanged, this, &ConfigPanel::onFieldEdited);
    }
    // A k-quant grid stores codes of its own width: the weight bits follow it, as on the command line.
    connect(m_weightGrid, &QComboBox::currentIndexChanged, this, [this](int index) {
        const int bits = aq::weightGridBits(aq::WeightGrid(index));
        if (!m_filling && bits > 0)
            m_wbits->setValue(bits);
    });
}

void ConfigPanel::keepWheelForFocusedFields()
{
    // The mouse wheel scrolls the panel; it changes a number or a choice only in the field that has the focus.
    for (QWidget* w : findChildren<QWidget*>())
        if (qobject_cast<QAbstractSpinBox*>(w) || qobject_cast<QComboBox*>(w)) {
            w->setFocusPolicy(Qt::StrongFocus);
            w->installEventFilter(this);
        }
}

void ConfigPanel::bind(QWidget* field, const char* id)
{
    const aq::Setting* setting = aq::findSetting(id);
    Q_ASSERT(setting);
    m_fields.insert(QLatin1String(setting->id), field);
    field->setProperty("setting", QLatin1String(setting->id));
    // The smallest positive step the fields show stands for an open lower bound of 0.
    const double low = setting->minExclusive ? setting->min + 1e-12 : setting->min;
    const double high = setting->fieldMax > 0 ? setting->fieldMax : setting->max;
    if (auto* s = qobject_cast<QSpinBox*>(field))
        s->setRange(int(std::max<double>(std::ceil(low), std::numeric_limits<int>::min())),
                    int(std::min<double>(high, std::numeric_limits<int>::max())));
    else if (auto* d = qobject_cast<QDoubleSpinBox*>(field))
        d->setRange(low, high);
}

QWidget* ConfigPanel::field(const QString& id) const
{
    const aq::Setting* setting = aq::findSetting(id.toStdString());
    return setting ? m_fields.value(QLatin1String(setting->id)) : nullptr;
}

QString ConfigPanel::adviceText(const aq::Advice& a) const
{
    // The engine names what to change by id; the window names its control, as a link that focuses it.
    const QString id = QString::fromStdString(a.setting);
    QString label = id == QLatin1String("preset") ? tr("&Preset:") : settingLabel(id);
    label.remove(QLatin1Char('&'));
    if (label.endsWith(QLatin1Char(':')))
        label.chop(1);
    const QString reason = inWindowWords(QString::fromStdString(a.reason)).toHtmlEscaped();
    if (label.isEmpty())
        return reason;
    const QString link =
        QStringLiteral("<a href=\"setting:%1\">“%2”</a>").arg(id.toHtmlEscaped(), label.toHtmlEscaped());
    if (a.value.empty())
        return tr("%1: %2", "advice: the control to change, then why").arg(link, reason);
    const QString value = a.value == "true"    ? tr("on")
                          : a.value == "false" ? tr("off")
                                               : QString::fromStdString(a.value).toHtmlEscaped();
    return tr("%1 %2: %3", "advice: the control to change, its new value, then why").arg(link, value, reason);
}

bool ConfigPanel::focusAdvised(const QString& id)
{
    if (id == QLatin1String("preset")) {
        m_preset->setFocus(Qt::OtherFocusReason);
        return true;
    }
    return focusField(id);
}

bool ConfigPanel::focusField(const QString& id)
{
    QWidget* w = field(id);
    if (!w)
        return false;
    for (QWidget* p = w->parentWidget(); p; p = p->parentWidget())
        if (auto* area = qobject_cast<QScrollArea*>(p)) {
            area->ensureWidgetVisible(w);
            break;
        }
    w->setFocus(Qt::OtherFocusReason);
    if (auto* s = qobject_cast<QAbstractSpinBox*>(w))
        s->selectAll();
    return true;
}

bool ConfigPanel::eventFilter(QObject* watched, QEvent* event)
{
    auto* w = qobject_cast<QWidget*>(watched);
    if (event->type() == QEvent::Wheel && w && !w->hasFocus()) {
        for (QWidget* p = w->parentWidget(); p; p = p->parentWidget())
            if (auto* area = qobject_cast<QAbstractScrollArea*>(p)) {
                QCoreApplication::sendEvent(area->viewport(), event);
                break;
            }
        return true;  // not for this field
    }
    return QWidget::eventFilter(watched, event);
}

void ConfigPanel::setModel(const aq::ModelConfig& model)
{
    m_model = model;
    const qint64 maxSeq = model.maxPositionEmbeddings;
    // Lowering the maximum may clamp the value: that is not a user edit.
    m_filling = true;
    m_seqlen->setMaximum(maxSeq > 0 ? int(std::min<qint64>(maxSeq, 1 << 20)) : 1 << 20);
    m_filling = false;
    // The preset depends on the model (OPT's stability factor by width); refill unless the user has edited fields.
    if (!m_modified)
        applyPreset(presetName());
    // An edited configuration is kept as it is, so no configChanged() follows; the verdicts still depend on the
    // model's shapes.
    updateDeployability();
}

void ConfigPanel::setDevice(const QString& device)
{
    m_device = device.toStdString();
    updateEnabled();
}

QString ConfigPanel::presetName() const { return m_preset->currentText(); }

aq::Method ConfigPanel::method() const { return aq::Method(m_method->currentData().toInt()); }

void ConfigPanel::setMethod(aq::Method method)
{
    const int i = m_method->findData(int(method));
    if (i >= 0)
        m_method->setCurrentIndex(i);  // refills from the preset through reapplyPreset()
}

void ConfigPanel::reapplyPreset() { applyPreset(presetName()); }

bool ConfigPanel::applyPreset(const QString& name)
{
    aq::QuantConfig c;
    try {
        c = m_model ? aq::presetConfigFor(name.toStdString(), method(), *m_model)
                    : aq::presetConfig(name.toStdString(), method());
    } catch (const aq::Error&) {
        return false;
    }
    c.device = m_device;
    if (m_model && m_model->maxPositionEmbeddings > 0 && c.seqlen > m_model->maxPositionEmbeddings)
        c.seqlen = m_model->maxPositionEmbeddings;
    setConfig(c);
    m_modified = false;
    m_modifiedLabel->setVisible(false);
    m_presetValues = fieldValues();
    return true;
}

QVariantList ConfigPanel::fieldValues() const
{
    // Every editable field in creation order; the preset and method choosers are not fields of the preset.
    QVariantList v;
    for (const QWidget* w : findChildren<QWidget*>()) {
        if (w == m_preset || w == m_method)
            continue;
        if (auto* s = qobject_cast<const QSpinBox*>(w))
            v << s->value();
        else if (auto* d = qobject_cast<const QDoubleSpinBox*>(w))
            v << d->value();
        else if (auto* c = qobject_cast<const QCheckBox*>(w))
            v << c->isChecked();
        else if (auto* b = qobject_cast<const QComboBox*>(w))
            v << b->currentIndex();
    }
    return v;
}

void ConfigPanel::setConfig(const aq::QuantConfig& c)
{
    m_filling = true;
    {
        const QSignalBlocker b1(m_preset);
        const QSignalBlocker b2(m_method);
        const QString preset = QString::fromStdString(c.preset);
        if (m_preset->findText(preset) < 0)
            m_preset->addItem(preset);
        m_preset->setCurrentIndex(m_preset->findText(preset));
        const int mi = m_method->findData(int(c.method));
        if (mi >= 0)
            m_method->setCurrentIndex(mi);
    }
    for (const aq::Setting& setting : aq::quantSettings()) {
        QWidget* w = m_fields.value(QLatin1String(setting.id));
        const double v = setting.value(c);
        if (auto* b = qobject_cast<QCheckBox*>(w))
            b->setChecked(v != 0);
        else if (auto* i = qobject_cast<QSpinBox*>(w))
            i->setValue(int(std::clamp<double>(v, i->minimum(), i->maximum())));
        else if (auto* d = qobject_cast<QDoubleSpinBox*>(w))
            d->setValue(v);
        else if (auto* box = qobject_cast<QComboBox*>(w))
            box->setCurrentIndex(int(v));
    }
    m_base = c;
    m_device = c.device;
    m_filling = false;
    updateEnabled();
    emit configChanged();
}

void ConfigPanel::loadConfig(const aq::QuantConfig& config)
{
    setConfig(config);
    m_modified = true;
    m_modifiedLabel->setVisible(true);
}

aq::QuantConfig ConfigPanel::config() const
{
    aq::QuantConfig c = m_base;  // what has no field here (nothing today) is carried through unchanged
    c.preset = presetName().toStdString();
    c.method = method();
    for (const aq::Setting& setting : aq::quantSettings()) {
        const QWidget* w = m_fields.value(QLatin1String(setting.id));
        if (auto* b = qobject_cast<const QCheckBox*>(w))
            setting.set(c, b->isChecked() ? 1 : 0);
        else if (auto* i = qobject_cast<const QSpinBox*>(w))
            setting.set(c, i->value());
        else if (auto* d = qobject_cast<const QDoubleSpinBox*>(w))
            setting.set(c, d->value());
        else if (auto* box = qobject_cast<const QComboBox*>(w))
            setting.set(c, std::max(box->currentIndex(), 0));
    }
    c.device = m_device;
    return c;
}

void ConfigPanel::onFieldEdited()
{
    if (m_filling)
        return;
    // Back at the preset's values: no longer edited.
    m_modified = fieldValues() != m_presetValues;
    m_modifiedLabel->setVisible(m_modified);
    updateEnabled();
    emit configChanged();
}

void ConfigPanel::updateEnabled()
{
    // Disable what the chosen options make irrelevant, so that the panel shows what will actually be used.
    const bool trained = method() != aq::Method::Rtn;
    m_transformBox->setEnabled(trained);
    m_trainingBox->setEnabled(trained);
    const bool let = m_let->isChecked();
    for (QWidget* w : std::initializer_list<QWidget*>{m_lnMatrix, m_qkMatrix, m_trainShifts, m_signedMaxInit, m_sf,
                                                      m_alpha, m_keepDominant, m_inverseFloat64, m_letLr})
        w->setEnabled(let);
    m_lwcLr->setEnabled(m_lwc->isChecked());
    // A k-quant grid fixes the groups (its sub-blocks) and the symmetry.
    const bool uniform = m_weightGrid->currentIndex() <= 0;
    for (QWidget* w : std::initializer_list<QWidget*>{m_groupSize, m_partialGroups, m_symmetric, m_zeroInRange})
        w->setEnabled(uniform);
    m_perChannelFallback->setEnabled(uniform && !m_partialGroups->isChecked() && m_groupSize->value() > 0);
    m_mixedPrecision->setEnabled(aq::isCudaDevice(m_device));
    m_buffersOnHost->setEnabled(aq::isCudaDevice(m_device));
}

namespace {

QString verdictText(aq::Deployability d)
{
    switch (d) {
    case aq::Deployability::Exact:
        return ConfigPanel::tr("exact");
    case aq::Deployability::Conditional:
        return ConfigPanel::tr("exact if the export's checks pass");
    case aq::Deployability::Extension:
        return ConfigPanel::tr("only with an extension");
    case aq::Deployability::WeightsOnly:
        return ConfigPanel::tr("weights only");
    case aq::Deployability::No:
        return ConfigPanel::tr("no");
    case aq::Deployability::Invalid:
        break;
    }
    return ConfigPanel::tr("unknown");
}

/// A mark that reads without colour, so the verdicts stay legible in dark themes and for colour-blind users.
QString verdictMark(aq::Deployability d)
{
    switch (d) {
    case aq::Deployability::Exact:
        return QStringLiteral("✔");
    case aq::Deployability::Conditional:
    case aq::Deployability::Extension:
    case aq::Deployability::WeightsOnly:
        return QStringLiteral("⚠");
    default:
        return QStringLiteral("✘");
    }
}

QString html(const std::string& s) { return QString::fromStdString(s).toHtmlEscaped(); }

/// A heading and a list; a small indent, since the setup dock is narrow.
QString section(const QString& title, const QString& items)
{
    return QStringLiteral("<p><b>%1</b></p><ul style=\"-qt-list-indent:1\">%2</ul>").arg(title, items);
}

}  // namespace

void ConfigPanel::updateDeployability()
{
    if (!m_model) {
        m_deployability->setText(tr("Open a model to see which export formats can hold this configuration."));
        return;
    }
    aq::PreflightReport report;
    try {
        report = aq::preflight(*m_model, config());
    } catch (const aq::Error& e) {
        m_deployability->setText(tr("Cannot check this configuration: %1").arg(html(e.what())));
        return;
    }
    // The reasons come from the engine in English; only the frame around them is translated.
    QString formats;
    for (const aq::FormatCheck& f : report.formats)
        formats += QStringLiteral("<li>%1 <b>%2</b> (%3): %4<br/><small>%5</small></li>")
                       .arg(verdictMark(f.verdict), QString::fromLatin1(aq::exportFormatName(f.format)),
                            html(f.runtime), verdictText(f.verdict), html(f.reason));
    // At a glance: where the result runs as calibrated.
    QStringList runsIn;
    for (const aq::FormatCheck& f : report.formats)
        if (f.verdict == aq::Deployability::Exact || f.verdict == aq::Deployability::Conditional) {
            const QString name = f.format == aq::ExportFormat::HuggingFace ? QStringLiteral("transformers")
                                 : f.format == aq::ExportFormat::Gguf     ? QStringLiteral("llama.cpp")
                                                                          : QStringLiteral("vLLM");
            if (!runsIn.contains(name))
                runsIn << name;
        }
    QString text = runsIn.isEmpty()
                       ? tr("<p>%1 <b>Runs only inside AffineQuant Studio</b> (its own evaluation).</p>")
                             .arg(verdictMark(aq::Deployability::No))
                       : tr("<p>%1 <b>Runs elsewhere:</b> %2</p>")
                             .arg(verdictMark(aq::Deployability::Exact), runsIn.join(QStringLiteral(", ")));
    text += section(tr("Formats and runtimes"), formats);
    QString stays;
    for (const aq::TransformFold& t : report.transforms)
        if (t.active && !t.folds)
            stays += QStringLiteral("<li>%1: <small>%2</small></li>").arg(html(t.transform), html(t.detail));
    if (!stays.isEmpty())
        text += section(tr("Transforms that do not fold into standard weights"), stays);
    QString advice;
    for (const aq::Advice& a : report.advice)
        advice += QStringLiteral("<li>%1</li>").arg(adviceText(a));
    if (!advice.isEmpty())
        text += section(tr("To make it deployable"), advice);
    m_deployability->setText(text);
}

}  // namespace aq::gui
