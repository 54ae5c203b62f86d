#pragma once
// Heatmap of one learned transform matrix (one block, one transform) with its gradual mask shaded, a colour scale,
// zoom and pan, and an epoch slider that replays the stored snapshots of that matrix.
#include "viewdata.h"

#include <QHash>
#include <QPair>
#include <QWidget>

class QCPColorMap;
class QCPColorScale;
class QCheckBox;
class QComboBox;
class QCustomPlot;
class QLabel;
class QMouseEvent;
class QSlider;

namespace aq::widgets {

class ReplotCoalescer;

class MatrixHeatmapView : public QWidget {
    Q_OBJECT
public:
    explicit MatrixHeatmapView(QWidget* parent = nullptr);

    /// Entries of the block picker: 0 .. count-1.
    void setBlockCount(int count);
    /// Entries of the transform picker, for example {"qkv", "fc1", "out", "qkt"}.
    void setTransforms(const QStringList& transforms);
    /// Stores a snapshot in the history of its block and transform (a snapshot for an epoch already stored replaces
    /// it: a rolled-back epoch is reported again). It is shown at once if it belongs to the selection and the slider
    /// is at the newest epoch. Unknown blocks and transforms are added to the pickers.
    void addFrame(const MatrixFrame& frame);
    /// Forgets every snapshot and empties the pickers.
    void clear();

    void select(int block, const QString& transform);
    int currentBlock() const;
    QString currentTransform() const;
    /// Shows entry `index` of the selection's history (0 = oldest).
    void showHistoryIndex(int index);
    int historySize() const;
    int historySize(int block, const QString& transform) const;
    /// Every stored snapshot of one matrix, oldest epoch first (empty when none).
    QVector<MatrixFrame> history(int block, const QString& transform) const;
    /// The snapshot on screen, or nullptr.
    const MatrixFrame* currentFrame() const;

    void setMaskShading(bool enabled);
    bool maskShading() const;
    /// Colours by log10 |a| instead of the signed value: off-diagonal entries damped by a small stability factor are
    /// orders of magnitude below the diagonal and invisible on a linear scale.
    void setLogMagnitude(bool enabled);
    bool logMagnitude() const;
    /// Fits the axes to the matrix with square cells.
    void fitView();
    /// Hover text for a position in plot pixels (row, column, value, mask), or empty outside the matrix.
    QString toolTipAt(const QPointF& pixel) const;

    QCustomPlot* plot() const { return m_plot; }
    QCPColorMap* colorMap() const { return m_map; }
    QCPColorMap* maskOverlay() const { return m_maskMap; }
    QCPColorScale* colorScale() const { return m_scale; }
    ReplotCoalescer* replotCoalescer() const { return m_replot; }

signals:
    void selectionChanged(int block, const QString& transform);
    /// A snapshot was put on screen (slider moved, selection changed or a new epoch arrived).
    void frameShown(int block, const QString& transform, int epoch);

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    using Key = QPair<int, QString>;

    // Steps of the constructor.
    void createPlot();
    void createColorMap();
    void createMaskOverlay();
    void setUpPlotOutput();
    void createControls();
    void layOut();
    void connectControls();

    void onSelectionEdited();
    void updateSlider(bool followNewest);
    void render();
    void showHoverText(QMouseEvent* event);
    void ensureBlock(int block);
    void ensureTransform(const QString& transform);

    QCustomPlot* m_plot = nullptr;
    QCPColorMap* m_map = nullptr;
    QCPColorMap* m_maskMap = nullptr;
    QCPColorScale* m_scale = nullptr;
    QComboBox* m_blockBox = nullptr;
    QComboBox* m_transformBox = nullptr;
    QSlider* m_epochSlider = nullptr;
    QLabel* m_epochLabel = nullptr;
    QLabel* m_infoLabel = nullptr;
    QCheckBox* m_maskBox = nullptr;
    QCheckBox* m_logBox = nullptr;
    ReplotCoalescer* m_replot = nullptr;
    QHash<Key, QVector<MatrixFrame>> m_history;  ///< per matrix, sorted by epoch
    int m_shownIndex = -1;
    bool m_userZoomed = false;
};

}  // namespace aq::widgets
