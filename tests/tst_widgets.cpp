// The views of aq_widgets, offscreen, fed with synthetic data: each test checks that the data reaches the plot
// (graph counts, data sizes, colour-map dimensions) and that the view's own logic (coalescing, outliers, dominance,
// invertibility) gives the expected answers.
#include "testutil.h"

#include "activationview.h"
#include "losscurveview.h"
#include "marginview.h"
#include "maskscheduleview.h"
#include "matrixheatmapview.h"
#include "messagebar.h"
#include "outliertable.h"
#include "plotexport.h"
#include "replotcoalescer.h"
#include "resultsview.h"
#include "teachingview.h"
#include "weighthistogramview.h"

#include <QComboBox>
#include <QFile>
#include <QFileInfo>
#include <QImage>
#include <QMenu>
#include <QPushButton>
#include <QSet>
#include <QSortFilterProxyModel>
#include <QTemporaryDir>
#include <QTabWidget>
#include <QStandardItemModel>
#include <QTableView>

#include <qcustomplot.h>

#include <climits>
#include <cmath>
#include <complex>
#include <memory>
#include <random>

using namespace aq::widgets;

namespace {

MatrixFrame frame(int block, const QString& transform, int epoch, int n, int stride = 1)
{
    MatrixFrame f;
    f.block = block;
    f.epoch = epoch;
    f.transform = transform;
    f.rows = f.cols = n;
    f.stride = stride;
    f.values.resize(n * n);
    f.mask.resize(n * n);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
            f.values[i * n + j] = i == j ? 1.0f + 0.1f * epoch : 0.01f * float(i - j);
            f.mask[i * n + j] = i == j ? 1.0f : (std::abs(i - j) <= epoch ? 0.1f : 0.0f);
        }
    return f;
}

QVector<double> upperBidiagonal(int n, double diagonal, double above)
{
    QVector<double> s(n * n, 0.0);
    for (int i = 0; i < n; ++i) {
        s[i * n + i] = diagonal;
        if (i + 1 < n)
            s[i * n + i + 1] = above;
    }
    return s;
}

}  // namespace

class TestWidgets : public QObject {
    Q_OBJECT

private slots:
    // ---- LossCurveView ----
    void lossCurvesAreCoalesced()
    {
        LossCurveView view;
        view.resize(800, 500);
        view.show();
        const int replotsBefore = view.replotCoalescer()->replotCount();
        for (int block = 0; block < 3; ++block)
            for (int step = 0; step < 200; ++step)
                view.appendPoint(block, step, 1.0 / (1 + step) + block);
        // Appending never draws: nothing is in the plot until the timer fires.
        QCOMPARE(view.plottedPointCount(0), 0);
        QVERIFY(view.replotCoalescer()->isPending());
        QTRY_COMPARE(view.plottedPointCount(2), 200);
        QCOMPARE(view.curveCount(), 3);
        QCOMPARE(view.plot()->graphCount(), 3);
        QCOMPARE(view.plottedPointCount(0), 200);
        // 600 points, one redraw.
        QCOMPARE(view.replotCoalescer()->replotCount() - replotsBefore, 1);
        const QVector<LossSeries> series = view.series();
        QCOMPARE(series.size(), 3);
        QCOMPARE(series[1].block, 1);
        QCOMPARE(series[1].losses.size(), 200);
    }

    void hiddenPlotIsDrawnWhenShown()
    {
        // A view behind another tab takes its data but is only drawn once it is shown.
        QTabWidget tabs;
        auto* front = new QWidget;
        auto* view = new LossCurveView;
        tabs.addTab(front, QStringLiteral("front"));
        tabs.addTab(view, QStringLiteral("loss"));
        tabs.resize(800, 500);
        tabs.show();
        QVERIFY(QTest::qWaitForWindowExposed(&tabs));
        QVERIFY(!view->isVisible());
        const int replotsBefore = view->replotCoalescer()->replotCount();
        for (int step = 0; step < 50; ++step)
            view->appendPoint(0, step, 1.0 / (1 + step));
        QTRY_COMPARE(view->plottedPointCount(0), 50);  // the data moved in...
        QCOMPARE(view->replotCoalescer()->replotCount(), replotsBefore);  // ...but nothing was drawn
        QVERIFY(view->replotCoalescer()->isStale());
        tabs.setCurrentWidget(view);  // shown: drawn before its first paint
        QVERIFY(!view->replotCoalescer()->isStale());
        QVERIFY(view->replotCoalescer()->replotCount() > replotsBefore);
    }

    void replotIntervalFollowsCost()
    {
        // Replots of one plot take at most a quarter of the GUI thread: the interval is at least four times the
        // last replot's duration, between the default and the maximum.
        LossCurveView view;
        view.resize(800, 500);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        ReplotCoalescer* replot = view.replotCoalescer();
        for (int step = 0; step < 100; ++step)
            view.appendPoint(0, step, 1.0 + 0.5 * ((step * 7919) % 13));
        replot->flushNow();
        QVERIFY(replot->intervalMs() >= ReplotCoalescer::kDefaultIntervalMs);
        QVERIFY(replot->intervalMs() <= ReplotCoalescer::kMaxIntervalMs);
        QVERIFY(replot->intervalMs() >= std::min(double(ReplotCoalescer::kMaxIntervalMs),
                                                 replot->lastReplotMs() / ReplotCoalescer::kMaxBusyShare) -
                                            1);
        // A noisy curve of a thousand points stays cheap to draw (a wide pen made this take most of a second).
        for (int step = 100; step < 1000; ++step)
            view.appendPoint(0, step, 1.0 + 0.5 * ((step * 7919) % 13));
        replot->flushNow();
        QVERIFY2(replot->lastReplotMs() < 250, qPrintable(QString::number(replot->lastReplotMs())));
    }

    void lossLogScaleToggle()
    {
        LossCurveView view;
        QSignalSpy spy(&view, &LossCurveView::logScaleChanged);
        view.setLogScale(true);
        QCOMPARE(view.plot()->yAxis->scaleType(), QCPAxis::stLogarithmic);
        view.setLogScale(true);  // no change, no signal
        view.setLogScale(false);
        QCOMPARE(view.plot()->yAxis->scaleType(), QCPAxis::stLinear);
        QCOMPARE(spy.count(), 2);
        QCOMPARE(spy.at(0).at(0).toBool(), true);
    }

    void lossComparisonOverlay()
    {
        LossCurveView view;
        view.appendPoint(0, 0, 1.0);
        view.replotCoalescer()->flushNow();
        QVector<LossSeries> other(2);
        for (int b = 0; b < 2; ++b) {
            other[b].block = b;
            other[b].steps = {0, 1, 2};
            other[b].losses = {3, 2, 1};
        }
        view.setComparison(QStringLiteral("omniquant w4a4"), other);
        QCOMPARE(view.comparisonCurveCount(), 2);
        QCOMPARE(view.curveCount(), 1);
        QCOMPARE(view.plot()->graphCount(), 3);
        int dashed = 0;
        for (int i = 0; i < view.plot()->graphCount(); ++i)
            dashed += view.plot()->graph(i)->pen().style() == Qt::DashLine;
        QCOMPARE(dashed, 2);
        // A new run clears its own curves, not the comparison.
        view.clear();
        QCOMPARE(view.curveCount(), 0);
        QCOMPARE(view.comparisonCurveCount(), 2);
        view.clearComparison();
        QCOMPARE(view.plot()->graphCount(), 0);
    }

    void lossHoverText()
    {
        LossCurveView view;
        view.resize(800, 500);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        for (int step = 0; step < 10; ++step)
            view.appendPoint(4, step, 2.0 + step);
        view.replotCoalescer()->flushNow();
        view.plot()->replot();
        const QPointF pixel(view.plot()->xAxis->coordToPixel(5), view.plot()->yAxis->coordToPixel(7.0));
        const QString text = view.toolTipAt(pixel + QPointF(2, -2));
        QVERIFY2(text.contains(QStringLiteral("block 4")) && text.contains(QStringLiteral("step 5")),
                 qPrintable(text));
        QVERIFY(view.toolTipAt(QPointF(-500, -500)).isEmpty());
    }

    void lossEmptyHint()
    {
        LossCurveView view;
        view.resize(700, 450);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QCPItemText* hint = nullptr;
        for (int i = 0; i < view.plot()->itemCount(); ++i)
            if (auto* t = qobject_cast<QCPItemText*>(view.plot()->item(i)))
                hint = t;
        QVERIFY(hint);
        QVERIFY(hint->text().contains(QStringLiteral("Run")));
        QVERIFY(view.showsEmptyHint() && hint->visible());
        QVERIFY(!view.plot()->legend->visible());
        view.plot()->replot();
        // Centred in the plot area.
        const QPointF centre = QRectF(view.plot()->axisRect()->rect()).center();
        QVERIFY(QLineF(hint->position->pixelPosition(), centre).length() < 1.0);

        // A buffered point is no curve yet; the redraw that draws it takes the hint away and brings the legend.
        view.appendPoint(3, 0, 1.5);
        QVERIFY(view.showsEmptyHint());
        view.replotCoalescer()->flushNow();
        QVERIFY(!view.showsEmptyHint() && !hint->visible());
        QVERIFY(view.plot()->legend->visible());
        QCOMPARE(view.plot()->legend->itemCount(), 1);
        view.clear();
        QVERIFY(view.showsEmptyHint());
        QVERIFY(!view.plot()->legend->visible());
        // A reopened run's curves, or a comparison alone, are data too.
        view.setSeries({LossSeries{1, {0, 1}, {2, 1}}});
        QVERIFY(!view.showsEmptyHint());
        view.clear();
        view.setComparison(QStringLiteral("other"), {LossSeries{0, {0, 1}, {2, 1}}});
        QVERIFY(!view.showsEmptyHint());
        view.clearComparison();
        QVERIFY(view.showsEmptyHint());
    }

    void lossSetSeriesReplaces()
    {
        LossCurveView view;
        view.appendPoint(7, 0, 1);
        view.setSeries({LossSeries{0, {0, 1}, {2, 1}}, LossSeries{1, {0, 1, 2}, {3, 2, 1}}});
        QCOMPARE(view.curveCount(), 2);
        QCOMPARE(view.plottedPointCount(1), 3);
        QCOMPARE(view.plottedPointCount(7), 0);
    }

    // ---- MatrixHeatmapView ----
    void heatmapHistoryAndSlider()
    {
        MatrixHeatmapView view;
        view.resize(700, 600);
        view.show();
        QSignalSpy shown(&view, &MatrixHeatmapView::frameShown);
        view.setBlockCount(4);
        view.setTransforms({QStringLiteral("qkv"), QStringLiteral("fc1")});
        for (int e = 0; e < 3; ++e)
            view.addFrame(frame(0, QStringLiteral("qkv"), e, 6));
        QCOMPARE(view.historySize(), 3);
        QCOMPARE(view.currentBlock(), 0);
        QCOMPARE(view.currentTransform(), QStringLiteral("qkv"));
        // The view follows the newest epoch.
        QVERIFY(view.currentFrame());
        QCOMPARE(view.currentFrame()->epoch, 2);
        QCOMPARE(view.colorMap()->data()->keySize(), 6);
        QCOMPARE(view.colorMap()->data()->valueSize(), 6);
        QCOMPARE(view.colorMap()->interpolate(), false);
        QVERIFY(std::abs(view.colorMap()->data()->cell(2, 2) - 1.2) < 1e-6);
        QVERIFY(shown.count() >= 1);
        QCOMPARE(shown.last().at(2).toInt(), 2);

        // Replay epoch 0: the band is the diagonal only, so an off-diagonal cell is shaded.
        view.showHistoryIndex(0);
        QCOMPARE(view.currentFrame()->epoch, 0);
        QCOMPARE(shown.last().at(2).toInt(), 0);
        QCOMPARE(view.maskOverlay()->data()->cell(1, 0), 1.0);
        QCOMPARE(view.maskOverlay()->data()->cell(0, 0), 0.0);
        QVERIFY(view.maskOverlay()->visible());
        view.setMaskShading(false);
        QVERIFY(!view.maskOverlay()->visible());

        // While replaying, a new epoch does not yank the slider.
        view.addFrame(frame(0, QStringLiteral("qkv"), 3, 6));
        QCOMPARE(view.historySize(), 4);
        QCOMPARE(view.currentFrame()->epoch, 0);
        // A rolled-back epoch reported again replaces the stored one.
        view.addFrame(frame(0, QStringLiteral("qkv"), 3, 6));
        QCOMPARE(view.historySize(), 4);
        QTRY_VERIFY(!view.replotCoalescer()->isPending());
    }

    void plotsLeaveTheApplication()
    {
        // Every plot has the context menu; the CSV holds exactly the data the view holds (points still buffered
        // included); PNG, SVG and PDF files are written and are what their names say.
        LossCurveView view;
        view.resize(640, 420);
        view.show();
        for (int b = 0; b < 2; ++b)
            for (int s = 0; s < 25; ++s)
                view.appendPoint(b, s, 1.0 / (1 + s + 10 * b) + 1e-9 * s);
        auto* exporter = view.plot()->findChild<PlotExporter*>();
        QVERIFY(exporter);
        QCOMPARE(view.plot()->contextMenuPolicy(), Qt::CustomContextMenu);
        std::unique_ptr<QMenu> menu(exporter->createMenu(nullptr));
        QCOMPARE(menu->actions().size(), 3);

        QTemporaryDir dir;
        QString error;
        QVERIFY2(exporter->saveCsv(dir.filePath("loss.csv"), &error), qPrintable(error));
        QFile csv(dir.filePath("loss.csv"));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        const QStringList lines = QString::fromUtf8(csv.readAll()).split('\n', Qt::SkipEmptyParts);
        QCOMPARE(lines.first(), QStringLiteral("series,x,y"));
        QMap<QString, QVector<QPair<double, double>>> read;
        for (int i = 1; i < lines.size(); ++i) {
            const QStringList f = lines[i].split(',');
            QCOMPARE(f.size(), 3);
            read[f[0]].push_back({f[1].toDouble(), f[2].toDouble()});
        }
        const QVector<LossSeries> held = view.series();
        QCOMPARE(read.size(), held.size());
        for (const LossSeries& ls : held) {
            const QString name = QStringLiteral("block %1").arg(ls.block);
            QVERIFY2(read.contains(name), qPrintable(name + " missing from " + read.keys().join(';')));
            const auto& pts = read[name];
            QCOMPARE(pts.size(), ls.steps.size());
            for (int i = 0; i < pts.size(); ++i) {
                QCOMPARE(pts[i].first, ls.steps[i]);
                QCOMPARE(pts[i].second, ls.losses[i]);  // 17 significant digits: exact round trip
            }
        }

        QVERIFY2(exporter->saveImage(dir.filePath("loss.png"), &error), qPrintable(error));
        const QImage png(dir.filePath("loss.png"));
        QCOMPARE(png.size(), view.plot()->size());
        QVERIFY2(exporter->saveImage(dir.filePath("loss.svg"), &error), qPrintable(error));
        QFile svg(dir.filePath("loss.svg"));
        QVERIFY(svg.open(QIODevice::ReadOnly));
        QVERIFY(svg.readAll().contains("<svg"));
        QVERIFY2(exporter->saveImage(dir.filePath("loss.pdf"), &error), qPrintable(error));
        QFile pdf(dir.filePath("loss.pdf"));
        QVERIFY(pdf.open(QIODevice::ReadOnly));
        QVERIFY(pdf.read(5) == "%PDF-");
        QVERIFY(!exporter->saveImage(dir.filePath("loss.gif"), &error));
        QVERIFY(error.contains(".png"));
        QVERIFY(!exporter->saveCsv(dir.filePath("no/such/folder/loss.csv"), &error));

        // A colour map: one line per cell, in the view's values.
        MatrixHeatmapView heat;
        heat.resize(500, 400);
        heat.show();
        heat.setBlockCount(1);
        heat.setTransforms({QStringLiteral("qkv")});
        heat.addFrame(frame(0, QStringLiteral("qkv"), 0, 5));
        auto* heatExporter = heat.plot()->findChild<PlotExporter*>();
        QVERIFY(heatExporter);
        QVERIFY2(heatExporter->saveCsv(dir.filePath("matrix.csv"), &error), qPrintable(error));
        QFile mcsv(dir.filePath("matrix.csv"));
        QVERIFY(mcsv.open(QIODevice::ReadOnly));
        const QStringList mlines = QString::fromUtf8(mcsv.readAll()).split('\n', Qt::SkipEmptyParts);
        const int header = mlines.indexOf(QStringLiteral("series,row,column,x,y,value"));
        QVERIFY(header >= 0);
        QCPColorMapData* d = heat.colorMap()->data();
        int cells = 0;
        for (int i = header + 1; i < mlines.size(); ++i) {
            const QStringList f = mlines[i].split(',');
            if (f.size() != 6)
                break;
            if (f[0] != heat.colorMap()->name())
                continue;
            QCOMPARE(f[5].toDouble(), d->cell(f[2].toInt(), f[1].toInt()));
            ++cells;
        }
        QCOMPARE(cells, 25);
    }

    void heatmapSelectionAndStride()
    {
        MatrixHeatmapView view;
        QSignalSpy selection(&view, &MatrixHeatmapView::selectionChanged);
        view.addFrame(frame(0, QStringLiteral("qkv"), 0, 4));
        view.addFrame(frame(2, QStringLiteral("fc1"), 0, 5, 3));  // unknown block and transform extend the pickers
        QCOMPARE(view.currentBlock(), 0);
        view.select(2, QStringLiteral("fc1"));
        QVERIFY(selection.count() >= 1);
        QCOMPARE(selection.last().at(0).toInt(), 2);
        QCOMPARE(selection.last().at(1).toString(), QStringLiteral("fc1"));
        QCOMPARE(view.colorMap()->data()->keySize(), 5);
        // Cells stand for 3 x 3 tiles: centres at 1, 4, 7, 10, 13 in full-matrix indices.
        QCOMPARE(view.colorMap()->data()->keyRange().lower, 1.0);
        QCOMPARE(view.colorMap()->data()->keyRange().upper, 13.0);
        QCOMPARE(view.historySize(2, QStringLiteral("fc1")), 1);
        QCOMPARE(view.historySize(1, QStringLiteral("fc1")), 0);
        view.select(1, QStringLiteral("fc1"));
        QVERIFY(!view.currentFrame());
        view.clear();
        QCOMPARE(view.historySize(0, QStringLiteral("qkv")), 0);
    }

    void heatmapLogMagnitudeAndHover()
    {
        MatrixHeatmapView view;
        view.resize(600, 600);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.addFrame(frame(1, QStringLiteral("out"), 1, 8));
        view.setLogMagnitude(false);
        QCOMPARE(view.colorScale()->dataScaleType(), QCPAxis::stLinear);
        QCOMPARE(view.colorMap()->data()->cell(0, 1), double(0.01f));  // signed: a[1][0] = +0.01
        QCOMPARE(view.colorMap()->data()->cell(1, 0), double(-0.01f));
        view.setLogMagnitude(true);
        QCOMPARE(view.colorScale()->dataScaleType(), QCPAxis::stLogarithmic);
        QVERIFY(std::abs(view.colorMap()->data()->cell(0, 1) - 0.01) < 1e-6);  // |a[1][0]| = 0.01
        view.replotCoalescer()->flushNow();
        view.plot()->replot();
        const QPointF pixel(view.plot()->xAxis->coordToPixel(3), view.plot()->yAxis->coordToPixel(2));
        const QString text = view.toolTipAt(pixel);
        QVERIFY2(text.startsWith(QStringLiteral("a[2, 3]")), qPrintable(text));
    }

    // ---- MarginView ----
    void marginBarsAndTimeline()
    {
        MarginView view;
        view.setRowMargins(QStringLiteral("block 0, qkv, epoch 3"), {0.5, -0.2, 0.0, 1.0, 2.0});
        QCOMPARE(view.dominantRowCount(), 3);
        QCOMPARE(view.nonDominantRowCount(), 2);  // zero counts as not strictly dominant
        for (int b = 0; b < 2; ++b)
            for (int e = 0; e < 4; ++e) {
                view.addEpochMinimum(b, e, 4, QStringLiteral("qkv"), 0.1 - 0.05 * e);
                view.addEpochMinimum(b, e, 4, QStringLiteral("fc1"), 0.2);
            }
        view.addEpochMinimum(1, 3, 4, QStringLiteral("qkv"), -0.3);  // a replayed epoch replaces its point
        QCOMPARE(view.timelineCurveCount(), 2);
        QCOMPARE(view.timelinePointCount(QStringLiteral("qkv")), 8);
        QCOMPARE(view.timelinePointCount(QStringLiteral("fc1")), 8);
        QTRY_VERIFY(!view.timelineReplot()->isPending());
        // The y range keeps zero in view.
        QVERIFY(view.timelinePlot()->yAxis->range().contains(0.0));
        view.clear();
        QCOMPARE(view.timelineCurveCount(), 0);
        QCOMPARE(view.dominantRowCount(), 0);
    }

    void marginSelectionIsItsOwn()
    {
        MarginView view;
        view.resize(900, 700);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        // The owner keeps every matrix's rows and answers the view's requests, as the main window does.
        QHash<QString, QVector<double>> rows;
        auto key = [](int b, const QString& t, int e) { return QStringLiteral("%1/%2/%3").arg(b).arg(t).arg(e); };
        QStringList requests;
        connect(&view, &MarginView::rowMarginsRequested, &view, [&](int b, const QString& t, int e) {
            requests << key(b, t, e);
            if (rows.contains(key(b, t, e)))
                view.setRowMargins(QStringLiteral("block %1, %2, epoch %3").arg(b).arg(t).arg(e), rows[key(b, t, e)]);
        });
        const int epochs = 3;
        for (int b = 0; b < 3; ++b)
            for (int e = 0; e < epochs; ++e)
                for (const QString& t : {QStringLiteral("out"), QStringLiteral("qkt")}) {
                    // Matrix (b, t, e) has b + e + 1 rows, one of them not dominant for qkt.
                    QVector<double> m(b + e + 1, 0.5);
                    if (t == QStringLiteral("qkt"))
                        m[0] = -0.1;
                    rows.insert(key(b, t, e), m);
                    view.addEpochMinimum(b, e, epochs, t, *std::min_element(m.begin(), m.end()));
                }
        // Following the newest epoch of the first transform seen.
        QVERIFY(view.followsNewest());
        QCOMPARE(view.selectedBlock(), 2);
        QCOMPARE(view.selectedTransform(), QStringLiteral("out"));
        QCOMPARE(view.selectedEpoch(), 2);
        QCOMPARE(view.dominantRowCount(), 5);
        QCOMPARE(view.nonDominantRowCount(), 0);
        QCOMPARE(requests.last(), key(2, QStringLiteral("out"), 2));

        // Any stored matrix can be shown, whatever any other view shows.
        view.select(0, QStringLiteral("qkt"), 1);
        QCOMPARE(requests.last(), key(0, QStringLiteral("qkt"), 1));
        QCOMPARE(view.dominantRowCount(), 1);
        QCOMPARE(view.nonDominantRowCount(), 1);
        QVERIFY2(view.rowTitle().startsWith(QStringLiteral("block 0, qkt, epoch 1")), qPrintable(view.rowTitle()));
        // Picking an epoch by hand stops following; a new epoch then leaves the selection alone.
        auto* epochBox = view.findChildren<QComboBox*>().at(2);
        QCOMPARE(epochBox->count(), epochs);
        epochBox->setCurrentIndex(2);
        emit epochBox->activated(2);
        QCOMPARE(view.selectedEpoch(), 2);
        QCOMPARE(view.dominantRowCount() + view.nonDominantRowCount(), 3);
        QVERIFY(!view.followsNewest());
        view.addEpochMinimum(3, 0, epochs, QStringLiteral("qkt"), 0.2);
        QCOMPARE(view.selectedBlock(), 0);
        QCOMPARE(view.selectedEpoch(), 2);

        // A matrix whose rows the owner does not have (a reopened run keeps only the minima) says so.
        view.select(3, QStringLiteral("qkt"), 0);
        QCOMPARE(view.dominantRowCount() + view.nonDominantRowCount(), 0);
        QVERIFY2(view.rowTitle().contains(QStringLiteral("0.2")), qPrintable(view.rowTitle()));

        // The timeline: a line between neighbouring blocks, block numbers under the blocks, hover readouts.
        QTRY_VERIFY(!view.timelineReplot()->isPending());
        QCOMPARE(view.blockSeparatorCount(), 3);
        QCPAxis* x = view.timelinePlot()->xAxis;
        QVERIFY(!x->label().contains(QLatin1Char('/')));
        auto ticker = qSharedPointerDynamicCast<QCPAxisTickerText>(x->ticker());
        QVERIFY(ticker);
        QCOMPARE(ticker->ticks().value(2.5), QStringLiteral("2"));
        view.timelinePlot()->replot();
        const double px = x->coordToPixel(1 + 2.0 / epochs);
        const double py = view.timelinePlot()->yAxis->coordToPixel(-0.1);
        const QString text = view.timelineToolTipAt(QPointF(px + 2, py - 2));
        QCOMPARE(text, QStringLiteral("block 1, qkt, epoch 2 (of 3): smallest row margin -0.1"));
        QVERIFY(view.timelineToolTipAt(QPointF(-500, -500)).isEmpty());

        view.clear();
        QCOMPARE(view.blockSeparatorCount(), 0);
        QCOMPARE(view.selectedEpoch(), -1);
        QVERIFY(ticker->ticks().isEmpty());
    }

    // ---- ActivationView ----
    void activationOutliers()
    {
        ActivationView view;
        ActivationProfileData p;
        p.block = 2;
        p.site = QStringLiteral("qkv");
        p.absMaxBefore = {1, 1.2, 0.9, 1, 30, 1.1, 1, 7};
        p.absMaxAfter = {2, 2.1, 1.9, 2, 3, 2.2, 2, 2.5};
        view.addProfile(p);
        QCOMPARE(view.currentBlock(), 2);
        QCOMPARE(view.beforeGraph()->dataCount(), 8);
        QCOMPARE(view.afterGraph()->dataCount(), 8);
        QCOMPARE(view.outliersBefore(), (QVector<int>{4, 7}));
        QVERIFY(view.outliersAfter().isEmpty());
        QCOMPARE(view.outlierGraph()->dataCount(), 2);
        view.setOutlierFactor(10);
        QCOMPARE(view.outliersBefore(), QVector<int>{4});

        ActivationProfileData q = p;
        q.block = 0;
        q.site = QStringLiteral("fc1");
        q.absMaxBefore = {1, 1, 1};
        q.absMaxAfter = {1, 1, 1};
        view.addProfile(q);
        QCOMPARE(view.beforeGraph()->dataCount(), 8);  // still showing the selection
        view.select(0, QStringLiteral("fc1"));
        QCOMPARE(view.beforeGraph()->dataCount(), 3);
        QVERIFY(view.outliersBefore().isEmpty());
    }

    void outlierExplorer()
    {
        ActivationView view;
        view.resize(900, 700);
        QVector<ActivationProfileData> fed;
        auto profile = [](int block, const QString& site, QVector<double> before, QVector<double> after,
                          QStringList layers) {
            ActivationProfileData p;
            p.block = block;
            p.site = site;
            p.absMaxBefore = std::move(before);
            p.absMaxAfter = std::move(after);
            p.layers = std::move(layers);
            return p;
        };
        fed << profile(2, QStringLiteral("qkv"), {1, 1.2, 0.9, 1, 30, 1.1, 1, 7}, {2, 2.1, 1.9, 2, 3, 2.2, 2, 2.5}, {})
            << profile(0, QStringLiteral("down"), {1, 2, 1, 2, 1, 2}, {1, 1, 1, 1, 20, 1}, {QStringLiteral("mlp.down_proj")})
            << profile(0, QStringLiteral("qkv"), {1, 1, 1, 50, 1, 1, 1, 9, 1}, {1, 1, 1, 1, 1, 1, 1, 1, 1},
                       {QStringLiteral("self_attn.q_proj"), QStringLiteral("self_attn.k_proj"),
                        QStringLiteral("self_attn.v_proj")})
            << profile(1, QStringLiteral("fc1"), {1, 1, 1, 1}, {1, 1, 1, 1}, {});
        for (const auto& p : fed)
            view.addProfile(p);

        // Site names follow the linears reading them, as the Weights tab lists those.
        QCOMPARE(view.siteLabel(QStringLiteral("qkv")), QStringLiteral("self_attn.q_proj / k_proj / v_proj"));
        QCOMPARE(view.siteLabel(QStringLiteral("down")), QStringLiteral("mlp.down_proj"));
        QCOMPARE(view.siteLabel(QStringLiteral("fc1")), QStringLiteral("up_proj / gate_proj"));  // no names given

        // The table against an independent computation: every channel above 6x its profile's median, before or after.
        auto median = [](QVector<double> v) {
            std::sort(v.begin(), v.end());
            const int n = int(v.size());
            return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
        };
        auto expected = [&](double factor) {
            QSet<QString> keys;
            for (const auto& p : fed) {
                const double mb = median(p.absMaxBefore), ma = median(p.absMaxAfter);
                for (int c = 0; c < p.absMaxBefore.size(); ++c)
                    if (p.absMaxBefore[c] / mb > factor || p.absMaxAfter[c] / ma > factor)
                        keys.insert(QStringLiteral("%1/%2/%3").arg(p.block).arg(p.site).arg(c));
            }
            return keys;
        };
        auto shown = [&] {
            QSet<QString> keys;
            OutlierTableModel* m = view.outlierModel();
            for (int i = 0; i < m->rowCount(); ++i) {
                const OutlierRow& r = m->outlierRow(i);
                keys.insert(QStringLiteral("%1/%2/%3").arg(r.block).arg(r.site).arg(r.channel));
                const ActivationProfileData* p = nullptr;
                for (const auto& f : fed)
                    if (f.block == r.block && f.site == r.site)
                        p = &f;
                if (!p)
                    return QSet<QString>{QStringLiteral("unknown profile")};
                if (r.before != p->absMaxBefore[r.channel] || r.after != p->absMaxAfter[r.channel]
                    || std::abs(r.ratioBefore - r.before / median(p->absMaxBefore)) > 1e-12
                    || std::abs(r.ratioAfter - r.after / median(p->absMaxAfter)) > 1e-12)
                    return QSet<QString>{QStringLiteral("wrong values in row %1").arg(i)};
            }
            return keys;
        };
        const QSet<QString> six = expected(6);
        QCOMPARE(six, (QSet<QString>{"2/qkv/4", "2/qkv/7", "0/down/4", "0/qkv/3", "0/qkv/7"}));
        QCOMPARE(shown(), six);
        QCOMPARE(view.outlierModel()->rowCount(), 5);
        // A replaced profile replaces its rows.
        view.addProfile(fed[0]);
        QCOMPARE(shown(), six);

        // Sorting: by default the largest ratio before first; any column sorts by its numbers.
        QSortFilterProxyModel* proxy = view.outlierProxy();
        auto column = [&](int col) {
            QVector<double> v;
            for (int i = 0; i < proxy->rowCount(); ++i)
                v.push_back(proxy->index(i, col).data(OutlierTableModel::SortRole).toDouble());
            return v;
        };
        QCOMPARE(proxy->index(0, OutlierTableModel::ColChannel).data().toInt(), 3);  // 50x in block 0
        const QVector<double> ratios = column(OutlierTableModel::ColRatioBefore);
        QVERIFY(std::is_sorted(ratios.rbegin(), ratios.rend()));
        view.outlierTable()->sortByColumn(OutlierTableModel::ColRatioAfter, Qt::DescendingOrder);
        QCOMPARE(proxy->index(0, OutlierTableModel::ColSite).data().toString(), QStringLiteral("mlp.down_proj"));
        QCOMPARE(proxy->index(0, OutlierTableModel::ColRatioAfter).data(OutlierTableModel::SortRole).toDouble(), 20.0);
        view.outlierTable()->sortByColumn(OutlierTableModel::ColSite, Qt::AscendingOrder);  // qkv, out, fc1, down
        QCOMPARE(proxy->index(proxy->rowCount() - 1, OutlierTableModel::ColSite).data().toString(),
                 QStringLiteral("mlp.down_proj"));
        view.outlierTable()->sortByColumn(OutlierTableModel::ColBefore, Qt::AscendingOrder);
        const QVector<double> befores = column(OutlierTableModel::ColBefore);
        QVERIFY(std::is_sorted(befores.begin(), befores.end()));

        // The threshold: a higher one lists fewer channels, in the table and in the plot.
        view.thresholdBox()->setValue(10);
        QCOMPARE(view.outlierFactor(), 10.0);
        QCOMPARE(shown(), expected(10));
        QCOMPARE(shown(), (QSet<QString>{"2/qkv/4", "0/down/4", "0/qkv/3"}));
        view.thresholdBox()->setValue(6);
        QCOMPARE(shown(), six);

        // Clicking a row shows its block, site and channel.
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QTableView* table = view.outlierTable();
        int row = -1;
        for (int i = 0; i < proxy->rowCount(); ++i)
            if (proxy->index(i, OutlierTableModel::ColSite).data().toString() == QStringLiteral("mlp.down_proj"))
                row = i;
        QVERIFY(row >= 0);
        table->scrollTo(proxy->index(row, 0));
        QTest::mouseClick(table->viewport(), Qt::LeftButton, {},
                          table->visualRect(proxy->index(row, OutlierTableModel::ColChannel)).center());
        QCOMPARE(view.currentBlock(), 0);
        QCOMPARE(view.currentSite(), QStringLiteral("down"));
        QCOMPARE(view.markedChannel(), 4);
        QVERIFY(view.markLine()->visible());
        QCOMPARE(view.markLine()->point1->coords().x(), 4.0);
        QCOMPARE(view.afterGraph()->dataCount(), 6);
        QCOMPARE(view.outliersAfter(), QVector<int>{4});
        QCOMPARE(view.outlierAfterGraph()->dataCount(), 1);
        // Picking another site by hand drops the mark.
        view.select(2, QStringLiteral("qkv"));
        QCOMPARE(view.markedChannel(), -1);

        // Hovering a bar reads out both values of its channel.
        view.replotCoalescer()->flushNow();
        QCustomPlot* plot = view.plot();
        const QPoint at(int(plot->xAxis->coordToPixel(4)), int(plot->yAxis->coordToPixel(1.0)));
        QTest::mouseMove(plot, at);
        QTRY_COMPARE(view.hoverChannel(), 4);
        QVERIFY2(view.hoverText().contains(QStringLiteral("30")), qPrintable(view.hoverText()));
        QVERIFY2(view.hoverText().contains(QStringLiteral("28.6")), qPrintable(view.hoverText()));  // 30 / 1.05

        // The legend sits outside the axis rect, so it never covers a bar.
        QVERIFY(!plot->legend->outerRect().intersects(plot->axisRect()->rect()));

        view.clear();
        QCOMPARE(view.outlierModel()->rowCount(), 0);
        QCOMPARE(view.currentBlock(), -1);
    }

    void activationLogAxisBelowOne()
    {
        // Values within one decade below 1 still get labelled ticks (the 2s and 5s).
        ActivationView view;
        view.resize(700, 500);
        ActivationProfileData p;
        p.site = QStringLiteral("fc1");
        p.absMaxBefore = {0.2, 0.25, 0.3, 0.22, 0.28};
        p.absMaxAfter = {0.15, 0.18, 0.2, 0.16, 0.17};
        view.addProfile(p);
        view.replotCoalescer()->flushNow();
        const QVector<double> ticks = view.plot()->yAxis->tickVector();
        const QVector<QString> labels = view.plot()->yAxis->tickVectorLabels();
        QVERIFY2(ticks.size() >= 2, qPrintable(QString::number(ticks.size())));
        QVERIFY(labels.contains(QStringLiteral("0.2")));
        QVERIFY(std::all_of(labels.begin(), labels.end(), [](const QString& l) { return !l.contains('e'); }));
        for (double t : ticks)
            QVERIFY(view.plot()->yAxis->range().contains(t));
    }

    // ---- WeightHistogramView ----
    void weightHistogram()
    {
        WeightHistogramView view;
        WeightHistogramData h;
        h.block = 1;
        h.layer = QStringLiteral("self_attn.q_proj");
        for (int i = 0; i <= 20; ++i)
            h.binEdges.push_back(-1.0 + 0.1 * i);
        for (int i = 0; i < 20; ++i)
            h.counts.push_back(100.0 * std::exp(-0.05 * (i - 10) * (i - 10)));
        h.clipLow = -0.7;
        h.clipHigh = 0.75;
        for (int l = 0; l < 16; ++l)
            h.gridLevels.push_back(h.clipLow + l * (h.clipHigh - h.clipLow) / 15);
        view.addHistogram(h);
        QCOMPARE(view.binCount(), 20);
        QCOMPARE(view.gridLevelCount(), 16);
        QCOMPARE(view.clipLines().first, -0.7);
        QCOMPARE(view.clipLines().second, 0.75);
        QVERIFY(view.plot()->xAxis->range().contains(-1.0));
        QVERIFY(view.plot()->xAxis->range().contains(1.0));
        view.clear();
        QCOMPARE(view.binCount(), 0);
    }

    void weightHistogramRowBounds()
    {
        WeightHistogramView view;
        view.resize(800, 500);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        WeightHistogramData h;
        h.block = 0;
        h.layer = QStringLiteral("mlp.down_proj");
        for (int i = 0; i <= 10; ++i)
            h.binEdges.push_back(-1.0 + 0.2 * i);
        h.counts = {1, 0, 40, 300, 900, 800, 350, 30, 0, 2};
        h.clipLow = -0.62;
        h.clipHigh = 0.58;
        h.clipLowMin = -0.93;
        h.clipLowMax = -0.41;
        h.clipHighMin = 0.37;
        h.clipHighMax = 0.88;
        h.clippedBelow = 17;
        h.clippedAbove = 9;
        h.gridLevels = {-0.62, -0.22, 0.18, 0.58};
        view.addHistogram(h);
        QCOMPARE(view.lowerBoundRange(), qMakePair(-0.93, -0.41));
        QCOMPARE(view.upperBoundRange(), qMakePair(0.37, 0.88));
        QCOMPARE(view.clipLines(), qMakePair(-0.62, 0.58));
        // "Outside" is the engine's count against every weight's own row, not the first row's bounds.
        QCOMPARE(view.outsideCount(), qint64(26));
        const QString summary = view.summaryText();
        QVERIFY2(summary.contains(QStringLiteral("26 weights (1.073%), 17 below and 9 above")),
                 qPrintable(summary));
        QCOMPARE(view.plot()->legend->itemCount(), 4);
        QVERIFY(view.plot()->legend->visible());

        // Logarithmic counts by default; empty bins do not pull the axis to zero.
        QVERIFY(view.logCounts());
        QCOMPARE(view.plot()->yAxis->scaleType(), QCPAxis::stLogarithmic);
        QCPRange y = view.plot()->yAxis->range();
        QVERIFY(y.lower > 0 && y.lower <= 1 && y.upper >= 900);
        view.plot()->replot();
        QVERIFY(std::isfinite(view.plot()->yAxis->coordToPixel(1.0)));
        // The grid ticks stand on the visible bottom of the axis.
        QCOMPARE(view.gridLevelCount(), 4);
        QCOMPARE(view.plot()->graph(0)->data()->at(0)->value, y.lower);
        view.setLogCounts(false);
        QCOMPARE(view.plot()->yAxis->scaleType(), QCPAxis::stLinear);
        y = view.plot()->yAxis->range();
        QCOMPARE(y.lower, 0.0);
        QVERIFY(y.upper >= 900);
        QCOMPARE(view.binCount(), 10);

        view.clear();
        QCOMPARE(view.outsideCount(), qint64(-1));
        QCOMPARE(view.lowerBoundRange(), qMakePair(0.0, 0.0));
        QVERIFY(!view.plot()->legend->visible());
    }

    // ---- MaskScheduleView ----
    void maskSchedule()
    {
        MaskScheduleView view;
        view.setSchedule(4096, 20, 0.01, 128);
        const QVector<double> n = view.bandWidths();
        QCOMPARE(n.size(), 20);
        QCOMPARE(n[0], 1.0);
        QCOMPARE(n[1], 216.0);
        QCOMPARE(n[3], 647.0);
        QCOMPARE(n[19], 4095.0);
        QCOMPARE(view.offDiagonalShare()[0], 0.0);
        QCOMPARE(view.plot()->plottableCount(), 2);
        view.setSchedule(256, 1, 0.1);
        QCOMPARE(view.bandWidths(), QVector<double>{1.0});
        view.setSchedule(256, 0, 0.1);
        QCOMPARE(view.bandWidths(), QVector<double>{1.0});
    }

    void maskScheduleAxisTitlesVisible_data()
    {
        QTest::addColumn<QSize>("size");
        QTest::newRow("setup panel") << QSize(330, 220);  // the main window's minimum height for it
        QTest::newRow("narrow") << QSize(280, 220);
        QTest::newRow("large") << QSize(700, 400);
    }

    void maskScheduleAxisTitlesVisible()
    {
        QFETCH(QSize, size);
        MaskScheduleView view;
        view.setSchedule(4096, 20, 0.01, 128);
        view.resize(size);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QCustomPlot* plot = view.plot();
        plot->replot();
        const QRect area = plot->axisRect()->rect();
        // Each title is centred along its axis, at the place the plot's own hit test reports across the axis.
        for (QCPAxis* axis : {plot->yAxis, plot->yAxis2, plot->xAxis}) {
            const bool vertical = axis->orientation() == Qt::Vertical;
            int across0 = INT_MAX, across1 = INT_MIN;
            for (int x = -60; x < plot->width() + 60; ++x)
                for (int y = -60; y < plot->height() + 60; ++y)
                    if (axis->getPartAt(QPointF(x, y)) == QCPAxis::spAxisLabel) {
                        across0 = std::min(across0, vertical ? x : y);
                        across1 = std::max(across1, vertical ? x : y);
                    }
            QVERIFY2(across0 <= across1, qPrintable(axis->label()));
            const int length = QFontMetrics(axis->labelFont()).boundingRect(QRect(), Qt::TextDontClip, axis->label()).width();
            const int centre = vertical ? area.center().y() : area.center().x();
            const QRect title = vertical ? QRect(across0, centre - length / 2, across1 - across0 + 1, length)
                                         : QRect(centre - length / 2, across0, length, across1 - across0 + 1);
            QVERIFY2(plot->rect().contains(title),
                     qPrintable(QStringLiteral("%1: (%2, %3, %4 x %5) in %6 x %7")
                                    .arg(axis->label())
                                    .arg(title.x())
                                    .arg(title.y())
                                    .arg(title.width())
                                    .arg(title.height())
                                    .arg(plot->width())
                                    .arg(plot->height())));
        }
    }

    // ---- TeachingView ----
    void teachingDominance_data()
    {
        QTest::addColumn<int>("epoch");
        QTest::addColumn<double>("sf");
        QTest::addColumn<bool>("dominant");
        // The default seeded S has its diagonal in [1, 1.5] and off-diagonals in [-0.6, 0.6].
        QTest::newRow("sf 0: diagonal only") << 7 << 0.0 << true;
        QTest::newRow("epoch 0: diagonal only") << 0 << 1.0 << true;
        QTest::newRow("full band, sf 0.1") << 7 << 0.1 << true;
        QTest::newRow("full band, sf 1") << 7 << 1.0 << false;
    }
    void teachingDominance()
    {
        QFETCH(int, epoch);
        QFETCH(double, sf);
        QFETCH(bool, dominant);
        TeachingView view;
        QCOMPARE(view.size(), 8);
        view.setEpochs(8);
        view.setEpoch(epoch);
        view.setStabilityFactor(sf);
        QCOMPARE(view.isStrictlyDiagonallyDominant(), dominant);
        // Dominant implies invertible (Levy–Desplanques); this S stays invertible either way.
        QVERIFY(view.isInvertible());
        QCOMPARE(view.inverse().size(), 64);
    }

    void teachingDiagonalOnlyInverse()
    {
        TeachingView view;
        view.setStabilityFactor(0.0);
        const QVector<double> s = view.baseMatrix();
        const QVector<double> inv = view.inverse();
        for (int i = 0; i < 8; ++i)
            for (int j = 0; j < 8; ++j)
                QVERIFY(std::abs(inv[i * 8 + j] - (i == j ? 1.0 / s[i * 8 + i] : 0.0)) < 1e-12);
    }

    void teachingNonDominantButInvertible()
    {
        // Upper bidiagonal, 1 on the diagonal and 2 above it: with the full band and sf = 1 every row but the last
        // has margin 1 - 2 < 0, yet the matrix is triangular with determinant 1.
        TeachingView view;
        QSignalSpy spy(&view, &TeachingView::recomputed);
        view.setBaseMatrix(8, upperBidiagonal(8, 1.0, 2.0));
        view.setEpochs(8);
        view.setEpoch(7);
        view.setStabilityFactor(1.0);
        QVERIFY(spy.count() >= 1);
        QCOMPARE(view.bandWidth(), 8LL);
        QVERIFY(!view.isStrictlyDiagonallyDominant());
        QCOMPARE(view.rowMargins()[0], -1.0);
        QCOMPARE(view.rowMargins()[7], 1.0);
        QVERIFY(view.isInvertible());
        QVERIFY(std::abs(view.determinant() - 1.0) < 1e-12);
        // The inverse of I + 2N is sum (-2N)^k: entry (0, 7) is (-2)^7.
        QVERIFY(std::abs(view.inverse()[7] - (-128.0)) < 1e-9);
        // With sf = 0.4 the same pattern is dominant (1 - 0.8 > 0).
        view.setStabilityFactor(0.4);
        QVERIFY(view.isStrictlyDiagonallyDominant());
    }

    void teachingSingular()
    {
        TeachingView view;
        view.setBaseMatrix(8, QVector<double>(64, 1.0));  // rank one under the full band with sf = 1
        view.setEpoch(7);
        view.setStabilityFactor(1.0);
        QVERIFY(!view.isInvertible());
        QVERIFY(view.inverse().isEmpty());
        QVERIFY(!view.isStrictlyDiagonallyDominant());
        view.setEpoch(0);  // diagonal only: the identity
        QVERIFY(view.isInvertible());
        QVERIFY(view.isStrictlyDiagonallyDominant());
    }

    void teachingEpochClamp()
    {
        TeachingView view;
        view.setEpochs(4);
        view.setEpoch(10);
        QCOMPARE(view.epoch(), 3);
        QCOMPARE(view.bandWidth(), 8LL);
        view.setEpoch(1);
        QCOMPARE(view.bandWidth(), 3LL);  // floor(7/3 * 1) + 1
    }

    void teachingDiscsMatchTheMatrix()
    {
        // Centres and radii against a masked matrix built here from S, the band rule and the factor.
        TeachingView view;
        view.resize(1000, 700);
        view.setEpochs(8);
        view.setEpoch(4);  // N_e = floor(7/7 * 4) + 1 = 5
        view.setStabilityFactor(0.7);
        QCOMPARE(view.bandWidth(), 5LL);
        const QVector<double> s = view.baseMatrix();
        const QVector<matrixmath::Disc> discs = view.discs();
        QCOMPARE(discs.size(), 8);
        for (int i = 0; i < 8; ++i) {
            double radius = 0;
            for (int j = 0; j < 8; ++j)
                if (j != i && std::abs(i - j) < 5)
                    radius += 0.7 * std::abs(s[i * 8 + j]);
            QCOMPARE(discs[i].centre, s[i * 8 + i]);
            QVERIFY2(std::abs(discs[i].radius - radius) < 1e-12, qPrintable(QString::number(i)));
            // A disc leaves out 0 exactly when its row is dominant.
            QCOMPARE(std::abs(discs[i].centre) > discs[i].radius, view.rowMargins()[i] > 0);
        }
        // One closed curve per disc on the plot, every point at the radius from the centre.
        QList<QCPCurve*> curves;
        for (int i = 0; i < view.discPlot()->plottableCount(); ++i)
            if (auto* c = qobject_cast<QCPCurve*>(view.discPlot()->plottable(i)))
                curves << c;
        QCOMPARE(curves.size(), 8);
        for (int i = 0; i < 8; ++i)
            for (auto it = curves[i]->data()->constBegin(); it != curves[i]->data()->constEnd(); ++it)
                QVERIFY(std::abs(std::hypot(it->key - discs[i].centre, it->value) - discs[i].radius) < 1e-9);
    }

    void teachingEigenvalues()
    {
        using C = std::complex<double>;
        auto near = [](const QVector<C>& got, QVector<C> want) {
            if (got.size() != want.size())
                return false;
            for (const C& g : got) {
                auto best = std::min_element(want.begin(), want.end(),
                                             [&](const C& a, const C& b) { return std::abs(a - g) < std::abs(b - g); });
                if (std::abs(*best - g) > 1e-9)
                    return false;
                want.erase(best);
            }
            return true;
        };
        // Triangular: the diagonal. A rotation block [1 -2; 2 1] next to 3: 1 ± 2i and 3.
        QVERIFY(near(matrixmath::eigenvalues(upperBidiagonal(5, 2.0, 7.0), 5), QVector<C>(5, C(2, 0))));
        const QVector<double> rot = {1, -2, 0.5, 2, 1, -1, 0, 0, 3};
        QVERIFY(near(matrixmath::eigenvalues(rot, 3), {C(1, 2), C(1, -2), C(3, 0)}));
        QVERIFY(near(matrixmath::eigenvalues({0, 1, -1, 0}, 2), {C(0, 1), C(0, -1)}));
        // The size of a learned matrix, with many complex pairs: converges, and the first two power sums hold.
        {
            std::mt19937 rng(5);
            std::uniform_real_distribution<double> u(-1.0, 1.0);
            const int n = 128;
            QVector<double> a(n * n);
            for (double& x : a)
                x = u(rng);
            const QVector<C> l = matrixmath::eigenvalues(a, n);
            QCOMPARE(l.size(), n);
            const QVector<double> a2 = matrixmath::multiply(a, a, n);
            double t1 = 0, t2 = 0;
            for (int i = 0; i < n; ++i) {
                t1 += a[i * n + i];
                t2 += a2[i * n + i];
            }
            C s1 = 0, s2 = 0;
            for (const C& x : l) {
                s1 += x;
                s2 += x * x;
            }
            QVERIFY2(std::abs(s1 - t1) < 1e-8 && std::abs(s2 - t2) < 1e-8,
                     qPrintable(QStringLiteral("%1 vs %2, %3 vs %4").arg(s1.real()).arg(t1).arg(s2.real()).arg(t2)));
        }

        // A random 8 x 8 and the full 8 x 8 of the view: the power sums of the eigenvalues are the traces of the powers
        // of A (Newton's identities), their product is the determinant, and each lies in some disc (Gershgorin).
        TeachingView view;
        for (double sf : {0.3, 1.0}) {
            view.setStabilityFactor(sf);
            const QVector<double> a = view.maskedMatrix();
            const QVector<C> l = view.eigenvalues();
            QCOMPARE(l.size(), 8);
            QVector<double> power = a;
            for (int p = 1; p <= 3; ++p) {
                double trace = 0;
                for (int i = 0; i < 8; ++i)
                    trace += power[i * 8 + i];
                C sum = 0;
                for (const C& x : l)
                    sum += std::pow(x, p);
                QVERIFY2(std::abs(sum - trace) < 1e-9 * std::max(1.0, std::abs(trace)),
                         qPrintable(QStringLiteral("p %1: %2 vs %3").arg(p).arg(sum.real()).arg(trace)));
                power = matrixmath::multiply(power, a, 8);
            }
            C product = 1;
            for (const C& x : l)
                product *= x;
            QVERIFY(std::abs(product - view.determinant()) < 1e-9 * std::abs(view.determinant()));
            const QVector<matrixmath::Disc> discs = view.discs();
            for (const C& x : l)
                QVERIFY(std::any_of(discs.begin(), discs.end(), [&](const matrixmath::Disc& d) {
                    return std::abs(x - C(d.centre, 0)) <= d.radius + 1e-9;
                }));
        }
    }

    void teachingFailingExample()
    {
        // Singular by construction: every row sums to zero (exactly: the entries are sixteenths).
        const QVector<double> s = TeachingView::failingExample();
        QCOMPARE(s.size(), 64);
        for (int i = 0; i < 8; ++i) {
            double rowSum = 0;
            for (int j = 0; j < 8; ++j)
                rowSum += s[i * 8 + j];
            QCOMPARE(rowSum, 0.0);
            QVERIFY(s[i * 8 + i] >= 1.0);
        }
        TeachingView view;
        view.loadFailingExample();
        QCOMPARE(view.source(), TeachingView::Source::FailingExample);
        QCOMPARE(view.stabilityFactor(), 1.0);
        QCOMPARE(view.bandWidth(), 8LL);
        QCOMPARE(view.maskedMatrix(), s);  // without the mask
        QVERIFY(!view.isInvertible());
        QVERIFY(!view.isStrictlyDiagonallyDominant());
        int across = 0;
        for (double m : view.rowMargins()) {
            QVERIFY(m <= 0);  // every disc reaches 0 ...
            across += m < 0;
        }
        QVERIFY(across >= 4);  // ... and most cross it
        // Just short of the full matrix it is invertible but badly conditioned.
        view.setStabilityFactor(0.999);
        QVERIFY(view.isInvertible());
        QVERIFY2(view.conditionEstimate() > 1e3, qPrintable(QString::number(view.conditionEstimate())));

        // Under the gradual mask: dominant, and well conditioned. Below the limit at the full band ...
        const double limit = TeachingView::failingExampleDominanceLimit();
        QVERIFY(limit > 0.5 && limit < 0.8);
        view.setStabilityFactor(0.5);
        QVERIFY(view.isStrictlyDiagonallyDominant());
        QVERIFY(view.isInvertible());
        QVERIFY2(view.conditionEstimate() < 20, qPrintable(QString::number(view.conditionEstimate())));
        view.setStabilityFactor(limit - 0.01);
        QVERIFY(view.isStrictlyDiagonallyDominant());
        view.setStabilityFactor(limit + 0.01);
        QVERIFY(!view.isStrictlyDiagonallyDominant());
        // ... and at factor 1 in the early epochs, where the band is narrow.
        view.setStabilityFactor(1.0);
        view.setEpoch(0);
        QVERIFY(view.isStrictlyDiagonallyDominant());
        QVERIFY(view.conditionEstimate() < 5);
        for (const matrixmath::Disc& d : view.discs())
            QCOMPARE(d.radius, 0.0);
    }

    void teachingLoadsLearnedFrames()
    {
        // A 20 x 20 "learned" matrix at three epochs, an epoch stored twice over as a tile average (to be ignored).
        std::mt19937 rng(11);
        std::uniform_real_distribution<float> off(-0.02f, 0.02f);
        QVector<MatrixFrame> frames;
        for (int epoch : {2, 0, 1}) {
            MatrixFrame f = frame(3, QStringLiteral("out"), epoch, 20);
            for (int i = 0; i < 20; ++i)
                for (int j = 0; j < 20; ++j)
                    f.values[i * 20 + j] = f.mask[i * 20 + j] == 0 ? 0.0f : (i == j ? 1.0f + 0.05f * i : off(rng));
            frames << f;
        }
        frames << frame(3, QStringLiteral("out"), 2, 10, 2);
        TeachingView view;
        view.resize(1200, 800);
        QString error;
        QVERIFY2(view.setLearnedFrames(frames, &error), qPrintable(error));
        QCOMPARE(view.source(), TeachingView::Source::Learned);
        QCOMPARE(view.size(), 20);
        QCOMPARE(view.shownSize(), TeachingView::kDefaultLearnedBlock);
        QCOMPARE(view.learnedFrameCount(), 3);
        QCOMPARE(view.epochs(), 3);
        QCOMPARE(view.epoch(), 2);  // the newest
        QVERIFY(view.learnedFrame());
        QCOMPARE(view.learnedFrame()->epoch, 2);
        const MatrixFrame& shown = frames[0];
        QCOMPARE(view.bandWidth(), 3LL);  // the frame's mask keeps |i - j| <= 2
        // The shown block is the leading 16 x 16 of the frame, the table shows its values.
        const QVector<double> a = view.maskedMatrix();
        QCOMPARE(a.size(), 16 * 16);
        for (int i = 0; i < 16; ++i)
            for (int j = 0; j < 16; ++j) {
                QCOMPARE(a[i * 16 + j], double(shown.values[i * 20 + j]));
                QCOMPARE(view.matrixTable()->item(i, j)->text(), QString::number(double(shown.values[i * 20 + j]), 'g', 3));
            }
        QVERIFY(view.statusText().contains(QStringLiteral("out")));
        // The whole matrix.
        view.setShownSize(20);
        QCOMPARE(view.discs().size(), 20);
        QCOMPARE(view.maskedMatrix(), QVector<double>(shown.values.begin(), shown.values.end()));
        QCOMPARE(view.wholeIsStrictlyDiagonallyDominant(), view.isStrictlyDiagonallyDominant());
        // The oldest epoch: diagonal only.
        view.setEpoch(0);
        QCOMPARE(view.learnedFrame()->epoch, 0);
        for (const matrixmath::Disc& d : view.discs())
            QCOMPARE(d.radius, 0.0);
        // The stability factor belongs to the training: the slider does nothing here.
        view.setStabilityFactor(0.0);
        QCOMPARE(view.epoch(), 0);
        QCOMPARE(view.learnedFrame()->epoch, 0);

        // Only tile averages, or nothing: refused with a reason, the view stays as it was.
        QVERIFY(!view.setLearnedFrames({frame(0, QStringLiteral("qkv"), 0, 128, 2)}, &error));
        QVERIFY(error.contains(QStringLiteral("256")));
        QCOMPARE(view.statusText(), error);
        QCOMPARE(view.learnedFrameCount(), 3);
        QVERIFY(!view.setLearnedFrames({}, &error));
        QVERIFY(!error.isEmpty());
        // Back to a preset and to the learned matrix again.
        view.randomize(3);
        QCOMPARE(view.size(), 8);
        QCOMPARE(view.source(), TeachingView::Source::Random);
    }

    void teachingPlaysThroughEpochs()
    {
        TeachingView view;
        view.setEpochs(6);
        view.setEpoch(5);
        view.setPlayIntervalMs(5);
        QList<int> seen;
        connect(&view, &TeachingView::recomputed, &view, [&] { seen << view.epoch(); });
        view.play();  // at the last epoch: starts again from the first
        QVERIFY(view.isPlaying());
        QTRY_VERIFY(!view.isPlaying());
        QCOMPARE(view.epoch(), 5);
        QCOMPARE(seen, (QList<int>{0, 1, 2, 3, 4, 5}));
        QVERIFY(!view.stepForward());

        // A learned matrix plays through its stored epochs.
        QVector<MatrixFrame> frames;
        for (int epoch : {0, 3, 7})
            frames << frame(1, QStringLiteral("qkt"), epoch, 12);
        QVERIFY(view.setLearnedFrames(frames));
        seen.clear();
        view.play();
        QTRY_VERIFY(!view.isPlaying());
        QList<int> epochs;
        for (int index : seen)
            epochs << frames[index].epoch;
        QCOMPARE(epochs, (QList<int>{0, 3, 7}));
        QCOMPARE(view.learnedFrame()->epoch, 7);
        view.setEpoch(0);
        QVERIFY(view.stepForward());
        QCOMPARE(view.learnedFrame()->epoch, 3);
        view.play();
        view.pause();
        QVERIFY(!view.isPlaying());
    }

    // ---- ResultsView ----
    void resultsTable()
    {
        ResultsView view;
        auto record = [](const char* id, const char* method, double quant) {
            RunRecord r;
            r.id = QString::fromLatin1(id);
            r.name = QFileInfo(r.id).fileName();
            r.method = QString::fromLatin1(method);
            r.preset = QStringLiteral("w4a4");
            r.fpPerplexity = 25.0;
            r.rtnPerplexity = 80.5;
            r.quantPerplexity = quant;
            return r;
        };
        view.addRun(record("/runs/a", "affinequant", 31.2));
        view.addRun(record("/runs/b", "omniquant", 0));
        QCOMPARE(view.runCount(), 2);
        QCOMPARE(view.model()->item(1, ResultsView::ColQuant)->text(), QStringLiteral("—"));
        view.addRun(record("/runs/b", "omniquant", 35.0));
        QCOMPARE(view.runCount(), 2);
        QCOMPARE(view.runs()[1].quantPerplexity, 35.0);

        QSignalSpy compare(&view, &ResultsView::compareRequested);
        view.selectRun(QStringLiteral("/runs/a"));
        QCOMPARE(view.selectedRunId(), QStringLiteral("/runs/a"));
        QPushButton* button = nullptr;
        for (QPushButton* b : view.findChildren<QPushButton*>())
            if (b->text().contains(QStringLiteral("Compare")))
                button = b;
        QVERIFY(button && button->isEnabled());
        QTest::mouseClick(button, Qt::LeftButton);
        QCOMPARE(compare.count(), 1);
        QCOMPARE(compare.at(0).at(0).toString(), QStringLiteral("/runs/a"));
        view.removeRun(QStringLiteral("/runs/a"));
        QCOMPARE(view.runCount(), 1);
    }

    void resultsTableKeepsPerplexitiesInView()
    {
        // Long run names and long lists of edits are elided, not allowed to push the perplexities out of view.
        ResultsView view;
        view.resize(1100, 400);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        RunRecord r;
        r.id = QStringLiteral("/runs/a");
        r.name = QStringLiteral("a-very-long-run-name-of-a-model-with-a-long-name-w4a4-affinequant-20261205-152731");
        r.method = QStringLiteral("affinequant");
        r.preset = QStringLiteral("w4a4");
        r.edits = QStringList{QStringLiteral("Epochs 10"), QStringLiteral("Samples 16"),
                              QStringLiteral("Sequence length 256"), QStringLiteral("Learning rate 0.001")};
        r.fpPerplexity = 25.008;
        r.quantPerplexity = 27.932;
        view.addRun(r);
        QTableView* t = view.table();
        const int right = t->columnViewportPosition(ResultsView::ColQuant) + t->columnWidth(ResultsView::ColQuant);
        QString widths;
        for (int c = 0; c < t->model()->columnCount(); ++c)
            widths += QStringLiteral(" %1").arg(t->columnWidth(c));
        QVERIFY2(right <= t->viewport()->width(),
                 qPrintable(QStringLiteral("%1 > %2:%3").arg(right).arg(t->viewport()->width()).arg(widths)));
        // The full texts stay one hover away.
        QCOMPARE(t->model()->index(0, ResultsView::ColName).data(Qt::ToolTipRole).toString(), r.id);
        QVERIFY(t->model()->index(0, ResultsView::ColPreset).data(Qt::ToolTipRole).toString().contains(
            QStringLiteral("Learning rate 0.001")));
    }

    void resultsTableComparability()
    {
        ResultsView view;
        view.show();
        // Two runs of one model whose FP perplexities differ only because their evaluation windows differed.
        RunRecord a;
        a.id = QStringLiteral("/runs/a");
        a.name = QStringLiteral("a");
        a.method = QStringLiteral("affinequant");
        a.preset = QStringLiteral("w4a4");
        a.fpPerplexity = 25.008;
        a.quantPerplexity = 31.2;
        a.wbits = 4;
        a.abits = 4;
        a.groupSize = 0;
        a.nsamples = 16;
        a.seqlen = 64;
        a.epochs = 10;
        a.evalWindows = 4;
        a.evalSeqlen = 512;
        a.evalText = QStringLiteral("heldout.txt");
        a.seconds = 3725;
        a.edits = QStringList{QStringLiteral("Epochs 10"), QStringLiteral("Samples 16")};
        RunRecord b = a;
        b.id = QStringLiteral("/runs/b");
        b.name = QStringLiteral("b");
        b.fpPerplexity = 24.478;
        b.groupSize = 128;
        b.wbits = 3;
        b.abits = 16;
        b.evalWindows = 0;  // every window of the text
        b.seconds = 42.4;
        b.edits.clear();
        view.addRun(a);
        view.addRun(b);

        auto cell = [&](int row, int column) { return view.model()->item(row, column)->text(); };
        QCOMPARE(view.model()->columnCount(), int(ResultsView::ColCount));
        QCOMPARE(cell(0, ResultsView::ColPreset), QStringLiteral("w4a4 (edited: Epochs 10, Samples 16)"));
        QCOMPARE(cell(1, ResultsView::ColPreset), QStringLiteral("w4a4"));
        QCOMPARE(cell(0, ResultsView::ColBits), QStringLiteral("W4A4"));
        QCOMPARE(cell(1, ResultsView::ColBits), QStringLiteral("W3A16"));
        QCOMPARE(cell(0, ResultsView::ColGroup), QStringLiteral("per channel"));
        QCOMPARE(cell(1, ResultsView::ColGroup), QStringLiteral("128"));
        QCOMPARE(cell(0, ResultsView::ColSamples), QStringLiteral("16 × 64"));
        QCOMPARE(cell(0, ResultsView::ColEpochs), QStringLiteral("10"));
        QCOMPARE(cell(0, ResultsView::ColEval), QStringLiteral("4 × 512"));
        QCOMPARE(cell(1, ResultsView::ColEval), QStringLiteral("all × 512"));
        QCOMPARE(cell(0, ResultsView::ColDuration), QStringLiteral("1:02:05"));
        QCOMPARE(cell(1, ResultsView::ColDuration), QStringLiteral("0:42"));
        QCOMPARE(cell(0, ResultsView::ColFp), QStringLiteral("25.008"));
        QVERIFY(view.model()->item(0, ResultsView::ColFp)->toolTip().contains(QStringLiteral("heldout.txt")));
        QVERIFY(view.model()->item(0, ResultsView::ColPreset)->toolTip().contains(QStringLiteral("Samples 16")));
        // The windows differ, and the table says so.
        QVERIFY(view.evaluationNote()->isVisible());
        // The records come back whole.
        QCOMPARE(view.runs()[0].edits, a.edits);
        QCOMPARE(view.runs()[1].evalWindows, qint64(0));
        QCOMPARE(view.runs()[0].seconds, 3725.0);

        // Same windows: nothing to warn about.
        b.evalWindows = 4;
        view.addRun(b);
        QVERIFY(!view.evaluationNote()->isVisible());

        // Sorting by group puts per channel (the coarsest) last; sorting by duration goes by seconds, not text.
        view.table()->sortByColumn(ResultsView::ColGroup, Qt::AscendingOrder);
        QCOMPARE(cell(0, ResultsView::ColName), QStringLiteral("b"));
        view.table()->sortByColumn(ResultsView::ColDuration, Qt::DescendingOrder);
        QCOMPARE(cell(0, ResultsView::ColName), QStringLiteral("a"));

        // A run saved before these were kept shows dashes, not zeros.
        RunRecord old;
        old.id = QStringLiteral("/runs/old");
        old.name = QStringLiteral("old");
        old.preset = QStringLiteral("w4a16");
        old.fpPerplexity = 25.0;
        view.addRun(old);
        const int row = view.runCount() - 1;
        for (int column : {int(ResultsView::ColBits), int(ResultsView::ColGroup), int(ResultsView::ColSamples),
                           int(ResultsView::ColEpochs), int(ResultsView::ColEval), int(ResultsView::ColDuration)})
            QCOMPARE(cell(row, column), QStringLiteral("—"));
    }

    // ---- MessageBar ----
    void messageBar()
    {
        QWidget parent;
        auto* bar = new MessageBar(&parent);
        parent.show();
        QVERIFY(bar->isHidden());
        bar->showMessage(MessageBar::Kind::Error, QStringLiteral("Bad input:"), QStringLiteral("<not a model>"));
        QVERIFY(!bar->isHidden());
        QCOMPARE(bar->text(), QStringLiteral("<not a model>"));
        QSignalSpy dismissed(bar, &MessageBar::dismissed);
        bar->dismiss();
        QVERIFY(bar->isHidden());
        QCOMPARE(dismissed.count(), 1);
        QCOMPARE(bar->kind(), MessageBar::Kind::Invalid);
    }
};

QTEST_MAIN(TestWidgets)
#include "tst_widgets.moc"
