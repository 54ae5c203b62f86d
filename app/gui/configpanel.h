#pragma once
// Editor of every field of aq::QuantConfig (except the device, chosen next to the Run button): a preset and a
// method fill all fields, each field can then be overridden, and each has a tooltip saying what it does.
#include "aq/calibrate.h"
#include "aq/export.h"

#include <QHash>
#include <QVariant>
#include <QWidget>

#include <optional>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QGroupBox;
class QLabel;
class QSpinBox;

namespace aq::gui {

class ScientificSpinBox;

class ConfigPanel : public QWidget {
    Q_OBJECT
public:
    explicit ConfigPanel(QWidget* parent = nullptr);

    /// The model the configuration is for: presets are refined for it (OPT's stability factor by width), and the
    /// sequence length is capped at its maximum.
    void setModel(const aq::ModelConfig& model);

    /// Fills every field from a preset for the current method. Returns false (and changes nothing) for unknown
    /// names.
    bool applyPreset(const QString& name);
    void setMethod(aq::Method method);
    QString presetName() const;
    aq::Method method() const;

    aq::QuantConfig config() const;
    /// Shows `config` field by field (its preset and method select the combo boxes).
    void setConfig(const aq::QuantConfig& config);
    /// Like setConfig(), but the result counts as edited: choosing another model keeps it instead of refilling the
    /// fields from the preset (a reopened run's configuration).
    void loadConfig(const aq::QuantConfig& config);
    /// The device the run will use ("cpu", "cuda:0"): mixed precision is offered on CUDA only.
    void setDevice(const QString& device);
    /// True once a field was edited after the preset filled it.
    bool isModified() const { return m_modified; }
    /// The control of a setting (its id in aq::quantSettings(), or its command-line option); null when none.
    QWidget* field(const QString& id) const;
    /// Gives that control the keyboard focus (an error about the setting points there). False when there is none.
    bool focusField(const QString& id);
    /// Focuses what a piece of pre-flight advice names: a setting's control, or the preset ("preset").
    bool focusAdvised(const QString& id);
    /// The deployability section: which transforms fold and which export formats can hold the configuration.
    QLabel* deployabilityLabel() const { return m_deployability; }

signals:
    void configChanged();

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void build();
    // The steps of build(), in the order it calls them: the order widgets are created in is the tab order and the
    // order of fieldValues().
    /// The preset and method choosers, with the "(edited)" mark.
    QFormLayout* buildPresetRows();
    QGroupBox* buildQuantizationGroup();
    QGroupBox* buildCalibrationDataGroup();
    void buildTransformGroup();
    /// The training group; its layout also takes the controls of addUnboundSettings().
    QFormLayout* buildTrainingGroup();
    /// Binds each control built so far to its setting.
    void bindFields();
    /// A plain control in the training group for each setting that has none of its own.
    void addUnboundSettings(QFormLayout* training);
    QGroupBox* buildDeployabilityGroup();
    /// Edits of the preset, the method and every field.
    void connectFields();
    /// The mouse wheel scrolls the panel instead of changing a field without the focus.
    void keepWheelForFocusedFields();
    /// Makes `field` the control of setting `id`, with the setting's range.
    void bind(QWidget* field, const char* id);
    void onFieldEdited();
    void updateEnabled();
    void reapplyPreset();
    void updateDeployability();
    /// One piece of pre-flight advice in the window's words: the control's name as a link, the value, why.
    QString adviceText(const aq::Advice& advice) const;

    QComboBox* m_preset = nullptr;
    QComboBox* m_method = nullptr;
    QLabel* m_modifiedLabel = nullptr;
    // Quantization
    QSpinBox* m_wbits = nullptr;
    QSpinBox* m_abits = nullptr;
    QSpinBox* m_groupSize = nullptr;
    QComboBox* m_weightGrid = nullptr;
    QCheckBox* m_partialGroups = nullptr;
    QCheckBox* m_perChannelFallback = nullptr;
    QCheckBox* m_symmetric = nullptr;
    QCheckBox* m_zeroInRange = nullptr;
    QCheckBox* m_referenceDeltaClamp = nullptr;
    // Transforms
    QGroupBox* m_transformBox = nullptr;
    QCheckBox* m_lwc = nullptr;
    QCheckBox* m_let = nullptr;
    QCheckBox* m_lnMatrix = nullptr;
    QCheckBox* m_qkMatrix = nullptr;
    QCheckBox* m_trainShifts = nullptr;
    QCheckBox* m_signedMaxInit = nullptr;
    ScientificSpinBox* m_sf = nullptr;
    QDoubleSpinBox* m_alpha = nullptr;
    QCheckBox* m_keepDominant = nullptr;
    QCheckBox* m_inverseFloat64 = nullptr;
    // Training
    QGroupBox* m_trainingBox = nullptr;
    QSpinBox* m_epochs = nullptr;
    QSpinBox* m_nsamples = nullptr;
    QSpinBox* m_seqlen = nullptr;
    QSpinBox* m_batchSize = nullptr;
    ScientificSpinBox* m_letLr = nullptr;
    ScientificSpinBox* m_lwcLr = nullptr;
    ScientificSpinBox* m_weightDecay = nullptr;
    QCheckBox* m_augLoss = nullptr;
    QSpinBox* m_seed = nullptr;
    QCheckBox* m_mixedPrecision = nullptr;
    QCheckBox* m_buffersOnHost = nullptr;
    QSpinBox* m_maxRecoveries = nullptr;
    ScientificSpinBox* m_conditionLimit = nullptr;
    // Deployability (read-only)
    QLabel* m_deployability = nullptr;

    std::optional<aq::ModelConfig> m_model;
    bool m_filling = false;  ///< fields are being set programmatically: not a user edit
    bool m_modified = false;
    QVariantList m_presetValues;  ///< every field's value as the preset filled it
    QVariantList fieldValues() const;
    std::string m_device = "cpu";  ///< carried through setConfig()/config() unchanged
    QHash<QString, QWidget*> m_fields;  ///< setting id -> its control
    aq::QuantConfig m_base;             ///< the last configuration shown, for what has no control
};

}  // namespace aq::gui
