#pragma once
// Plots leave the application: a context menu on every plot saves the image (PNG, SVG or PDF), copies it to the
// clipboard, or saves the plotted data as CSV.
#include <QObject>
#include <QString>

#include <functional>

class QCustomPlot;
class QMenu;

namespace aq::widgets {

/// One CSV field: quoted (with doubled quotes) when it holds a comma, a quote or a line break.
QString csvField(QString s);

/// The plotted data as CSV, one line per point: graphs, curves and bars as "series,x,y", colour maps as
/// "series,row,column,x,y,value" (row/column index the map's cells, x/y their centres). Series are named by their
/// legend text (or "series N"); fields that hold commas or quotes are quoted.
QString plotDataCsv(QCustomPlot* plot);

class PlotExporter : public QObject {
    Q_OBJECT
public:
    /// Installs the context menu on `plot` (and takes it as parent). `baseName` names the suggested files;
    /// `beforeExport` runs first (a view that buffers points draws them).
    PlotExporter(QCustomPlot* plot, QString baseName, std::function<void()> beforeExport = {});

    /// Saves the image by the file's suffix (.png, .svg or .pdf) at the plot's current size. False with `error` set
    /// when the suffix is unknown or the file cannot be written.
    bool saveImage(const QString& path, QString* error = nullptr);
    /// Saves plotDataCsv() to `path`.
    bool saveCsv(const QString& path, QString* error = nullptr);
    void copyImage();

    /// The menu the plot shows (for tests and for views that add their own entries).
    QMenu* createMenu(QWidget* parent);

private:
    void showMenu(const QPoint& pos);
    void askAndSaveImage();
    void askAndSaveCsv();

    QCustomPlot* m_plot;
    QString m_baseName;
    std::function<void()> m_beforeExport;
};

}  // namespace aq::widgets
