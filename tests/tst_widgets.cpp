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
#include "plotexport.h"
#include "replotcoalescer.h"
#include "resultsview.h"
#include "teachingview.h"
#include "weighthistogramview.h"

#include <QFile>
#include <QImage>
#include <QMenu>
#include <QPushButton>
#include <QTemporaryDir>
#include <QTabWidget>
#include <QStandardItemModel>
#include <QTableView>

#include <qcustomplot.h>

#include <cmath>
#include <memory>

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

    // ---- ResultsView ----
    void resultsTable()
    {
        ResultsView view;
        view.addRun({QStringLiteral("/runs/a"), QStringLiteral("a"), QStringLiteral("affinequant"),
                     QStringLiteral("w4a4"), 25.0, 80.5, 31.2});
        view.addRun({QStringLiteral("/runs/b"), QStringLiteral("b"), QStringLiteral("omniquant"),
                     QStringLiteral("w4a4"), 25.0, 80.5, 0});
        QCOMPARE(view.runCount(), 2);
        QCOMPARE(view.model()->item(1, ResultsView::ColQuant)->text(), QStringLiteral("—"));
        view.addRun({QStringLiteral("/runs/b"), QStringLiteral("b"), QStringLiteral("omniquant"),
                     QStringLiteral("w4a4"), 25.0, 80.5, 35.0});
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
