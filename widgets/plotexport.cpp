#include "plotexport.h"

#include <qcustomplot.h>

#include <QApplication>
#include <QClipboard>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMessageBox>
#include <QSaveFile>
#include <QStandardPaths>
#include <QSvgGenerator>

namespace aq::widgets {

QString csvField(QString s)
{
    if (s.contains(',') || s.contains('"') || s.contains('\n')) {
        s.replace('"', "\"\"");
        return '"' + s + '"';
    }
    return s;
}

namespace {

QString number(double v) { return QString::number(v, 'g', 17); }

QString seriesName(const QCPAbstractPlottable* p, int index)
{
    const QString n = p->name().trimmed();
    return n.isEmpty() ? QStringLiteral("series %1").arg(index + 1) : n;
}

template <typename Container>
void appendPoints(QString& out, const QString& name, const Container& data)
{
    for (auto it = data->constBegin(); it != data->constEnd(); ++it)
        out += name + ',' + number(it->key) + ',' + number(it->value) + '\n';
}

}  // namespace

QString plotDataCsv(QCustomPlot* plot)
{
    QString points, maps;
    for (int i = 0; i < plot->plottableCount(); ++i) {
        const QCPAbstractPlottable* p = plot->plottable(i);
        if (!p->visible())
            continue;
        const QString name = csvField(seriesName(p, i));
        if (auto* g = qobject_cast<const QCPGraph*>(p))
            appendPoints(points, name, g->data());
        else if (auto* c = qobject_cast<const QCPCurve*>(p))
            appendPoints(points, name, c->data());
        else if (auto* b = qobject_cast<const QCPBars*>(p))
            appendPoints(points, name, b->data());
        else if (auto* m = qobject_cast<const QCPColorMap*>(p)) {
            QCPColorMapData* d = const_cast<QCPColorMap*>(m)->data();
            for (int row = 0; row < d->valueSize(); ++row)
                for (int col = 0; col < d->keySize(); ++col) {
                    double x = 0, y = 0;
                    d->cellToCoord(col, row, &x, &y);
                    maps += name + ',' + QString::number(row) + ',' + QString::number(col) + ',' + number(x) + ',' +
                            number(y) + ',' + number(d->cell(col, row)) + '\n';
                }
        }
    }
    QString out;
    if (!points.isEmpty())
        out += QStringLiteral("series,x,y\n") + points;
    if (!maps.isEmpty())
        out += (out.isEmpty() ? QString() : QStringLiteral("\n")) + QStringLiteral("series,row,column,x,y,value\n") + maps;
    return out;
}

PlotExporter::PlotExporter(QCustomPlot* plot, QString baseName, std::function<void()> beforeExport)
    : QObject(plot), m_plot(plot), m_baseName(std::move(baseName)), m_beforeExport(std::move(beforeExport))
{
    m_plot->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_plot, &QWidget::customContextMenuRequested, this, &PlotExporter::showMenu);
}

bool PlotExporter::saveImage(const QString& path, QString* error)
{
    if (m_beforeExport)
        m_beforeExport();
    m_plot->replot(QCustomPlot::rpImmediateRefresh);
    const QString suffix = QFileInfo(path).suffix().toLower();
    const int w = std::max(m_plot->width(), 1), h = std::max(m_plot->height(), 1);
    bool ok = false;
    if (suffix == QLatin1String("png")) {
        ok = m_plot->savePng(path, w, h);
    } else if (suffix == QLatin1String("pdf")) {
        ok = m_plot->savePdf(path, w, h);
    } else if (suffix == QLatin1String("svg")) {
        QSvgGenerator svg;
        svg.setFileName(path);
        svg.setSize(QSize(w, h));
        svg.setViewBox(QRect(0, 0, w, h));
        svg.setTitle(m_baseName);
        QCPPainter painter;
        if (painter.begin(&svg)) {
            m_plot->toPainter(&painter, w, h);
            ok = painter.end();
        }
        ok = ok && QFileInfo(path).size() > 0;
    } else {
        if (error)
            *error = tr("Unknown image type \"%1\": choose a file name ending in .png, .svg or .pdf.").arg(suffix);
        return false;
    }
    if (!ok && error)
        *error = tr("Could not write %1. Check that the folder exists, is writable and has free space.")
                     .arg(QDir::toNativeSeparators(path));
    return ok;
}

bool PlotExporter::saveCsv(const QString& path, QString* error)
{
    if (m_beforeExport)
        m_beforeExport();
    QSaveFile f(path);
    const QByteArray bytes = plotDataCsv(m_plot).toUtf8();
    if (!f.open(QIODevice::WriteOnly) || f.write(bytes) != bytes.size() || !f.commit()) {
        if (error)
            *error = tr("Could not write %1: %2").arg(QDir::toNativeSeparators(path), f.errorString());
        return false;
    }
    return true;
}

void PlotExporter::copyImage()
{
    if (m_beforeExport)
        m_beforeExport();
    m_plot->replot(QCustomPlot::rpImmediateRefresh);
    QApplication::clipboard()->setPixmap(m_plot->toPixmap(m_plot->width(), m_plot->height()));
}

QMenu* PlotExporter::createMenu(QWidget* parent)
{
    auto* menu = new QMenu(parent);
    menu->addAction(tr("Save image as…"), this, &PlotExporter::askAndSaveImage);
    menu->addAction(tr("Copy image"), this, &PlotExporter::copyImage);
    menu->addAction(tr("Save data as CSV…"), this, &PlotExporter::askAndSaveCsv);
    return menu;
}

void PlotExporter::showMenu(const QPoint& pos)
{
    QMenu* menu = createMenu(m_plot);
    menu->setAttribute(Qt::WA_DeleteOnClose);
    menu->popup(m_plot->mapToGlobal(pos));
}

namespace {
QString& directory()
{
    static QString dir = QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation);
    return dir;
}
}  // namespace

void PlotExporter::askAndSaveImage()
{
    QString filter = tr("PNG image (*.png)");
    const QString path = QFileDialog::getSaveFileName(
        m_plot, tr("Save image"), QDir(directory()).filePath(m_baseName + QStringLiteral(".png")),
        tr("PNG image (*.png);;SVG image (*.svg);;PDF document (*.pdf)"), &filter);
    if (path.isEmpty())
        return;
    directory() = QFileInfo(path).absolutePath();
    QString target = path;
    if (QFileInfo(path).suffix().isEmpty())  // the chosen filter names the type
        target += filter.contains(QLatin1String("*.svg")) ? QStringLiteral(".svg")
                  : filter.contains(QLatin1String("*.pdf")) ? QStringLiteral(".pdf")
                                                            : QStringLiteral(".png");
    QString error;
    if (!saveImage(target, &error))
        QMessageBox::warning(m_plot, tr("Image not saved"), error);
}

void PlotExporter::askAndSaveCsv()
{
    const QString path =
        QFileDialog::getSaveFileName(m_plot, tr("Save data"), QDir(directory()).filePath(m_baseName + QStringLiteral(".csv")),
                                     tr("CSV file (*.csv)"));
    if (path.isEmpty())
        return;
    directory() = QFileInfo(path).absolutePath();
    QString error;
    if (!saveCsv(QFileInfo(path).suffix().isEmpty() ? path + QStringLiteral(".csv") : path, &error))
        QMessageBox::warning(m_plot, tr("Data not saved"), error);
}

}  // namespace aq::widgets
