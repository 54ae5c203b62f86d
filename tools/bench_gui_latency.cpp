// aq-bench-gui-latency: how late a 10 ms timer on the GUI thread fires while the main window runs a calibration of
// the demo model on its worker thread (the "never blocks" target: p99 below 50 ms). Opens the real window, applies a
// preset with a small calibration set, switches through the views so the shown one replots, and prints the count,
// p50, p99 and maximum lateness in milliseconds when the run ends.
//
//   QT_QPA_PLATFORM=offscreen aq-bench-gui-latency [--preset w4a4] [--nsamples 16] [--seqlen 128] [--epochs 2]
//                                                   [--eval-windows 4] [--timeout 600]
//
// Settings and run folders go to a temporary directory, so the user's are left alone.
#include "configpanel.h"
#include "mainwindow.h"
#include "modelpanel.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QSettings>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace {

constexpr int kIntervalMs = 10;

double percentile(const std::vector<double>& sorted, double p)
{
    return sorted[static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5)];
}

}  // namespace

int main(int argc, char* argv[])
{
    QTemporaryDir home;
    if (!home.isValid()) {
        std::fprintf(stderr, "cannot create a temporary directory\n");
        return 1;
    }
    qputenv("XDG_CONFIG_HOME", QDir(home.path()).filePath(QStringLiteral("config")).toUtf8());
    qputenv("XDG_DATA_HOME", QDir(home.path()).filePath(QStringLiteral("data")).toUtf8());

    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("AffineQuantBench"));
    QApplication::setApplicationName(QStringLiteral("aq-bench-gui-latency"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Event-loop latency of the main window during a calibration."));
    parser.addHelpOption();
    const QCommandLineOption presetOpt(QStringLiteral("preset"), QStringLiteral("Preset."), QStringLiteral("name"),
                                       QStringLiteral("w4a4"));
    const QCommandLineOption nsamplesOpt(QStringLiteral("nsamples"), QStringLiteral("Calibration samples."),
                                         QStringLiteral("n"), QStringLiteral("16"));
    const QCommandLineOption seqlenOpt(QStringLiteral("seqlen"), QStringLiteral("Tokens per sample."),
                                       QStringLiteral("n"), QStringLiteral("128"));
    const QCommandLineOption epochsOpt(QStringLiteral("epochs"), QStringLiteral("Epochs per block."),
                                       QStringLiteral("n"), QStringLiteral("2"));
    const QCommandLineOption evalOpt(QStringLiteral("eval-windows"),
                                     QStringLiteral("Evaluation windows after the run (0: the whole text)."),
                                     QStringLiteral("n"), QStringLiteral("4"));
    const QCommandLineOption timeoutOpt(QStringLiteral("timeout"), QStringLiteral("Give up after this many seconds."),
                                        QStringLiteral("s"), QStringLiteral("600"));
    parser.addOptions({presetOpt, nsamplesOpt, seqlenOpt, epochsOpt, evalOpt, timeoutOpt});
    parser.process(app);

    {
        QSettings s;
        s.setValue(QStringLiteral("runs/folder"), QDir(home.path()).filePath(QStringLiteral("runs")));
        s.setValue(QStringLiteral("texts/evalWindows"), parser.value(evalOpt).toInt());
    }

    aq::gui::MainWindow window;
    window.resize(1500, 950);
    window.show();

    // The window opens on the demo model; its inspection runs off the GUI thread.
    {
        QEventLoop wait;
        QTimer poll;
        QObject::connect(&poll, &QTimer::timeout, &wait, [&] {
            if (window.modelPanel()->summary().has_value())
                wait.quit();
        });
        QTimer::singleShot(60000, &wait, &QEventLoop::quit);
        poll.start(50);
        wait.exec();
        if (!window.modelPanel()->summary().has_value()) {
            std::fprintf(stderr, "the demo model did not open (set AQ_DATA_DIR?)\n");
            return 1;
        }
    }

    if (!window.configPanel()->applyPreset(parser.value(presetOpt))) {
        std::fprintf(stderr, "unknown preset %s\n", qPrintable(parser.value(presetOpt)));
        return 1;
    }
    aq::QuantConfig config = window.configPanel()->config();
    config.nsamples = parser.value(nsamplesOpt).toLongLong();
    config.seqlen = parser.value(seqlenOpt).toLongLong();
    config.epochs = parser.value(epochsOpt).toInt();
    config.batchSize = 1;
    window.configPanel()->setConfig(config);

    std::vector<double> latenciesMs;
    QElapsedTimer clock;
    qint64 expectedNs = 0;
    QTimer tick;
    tick.setTimerType(Qt::PreciseTimer);
    tick.setInterval(kIntervalMs);
    QObject::connect(&tick, &QTimer::timeout, [&] {
        const qint64 now = clock.nsecsElapsed();
        latenciesMs.push_back(static_cast<double>(std::max<qint64>(0, now - expectedNs)) / 1e6);
        expectedNs = now + kIntervalMs * 1'000'000LL;
    });
    // Cycle through the live views, so that the one on screen replots as data arrives.
    QTimer switcher;
    QObject::connect(&switcher, &QTimer::timeout, &window, [&] {
        window.tabs()->setCurrentIndex((window.tabs()->currentIndex() + 1) % aq::gui::MainWindow::TabTeaching);
    });

    QEventLoop loop;
    bool ended = false;
    QObject::connect(&window, &aq::gui::MainWindow::runEnded, &loop, [&] {
        ended = true;
        loop.quit();
    });
    QTimer::singleShot(parser.value(timeoutOpt).toInt() * 1000, &loop, &QEventLoop::quit);

    if (!window.startRun()) {
        std::fprintf(stderr, "the run did not start\n");
        return 1;
    }
    const QString runDir = window.currentRunDir();
    clock.start();
    expectedNs = kIntervalMs * 1'000'000LL;
    tick.start();
    switcher.start(500);
    loop.exec();
    tick.stop();
    switcher.stop();
    const double seconds = static_cast<double>(clock.elapsed()) / 1000.0;

    if (!ended) {
        window.cancelRun();
        std::fprintf(stderr, "the run did not end within the timeout\n");
    }
    if (latenciesMs.empty()) {
        std::fprintf(stderr, "no timer ticks were recorded\n");
        return 1;
    }
    const bool completed = QDir(runDir).exists(QStringLiteral("run.json"));
    std::sort(latenciesMs.begin(), latenciesMs.end());
    std::printf("run: preset %s, nsamples %lld, seqlen %lld, epochs %d, %.1f s, %s\n",
                qPrintable(parser.value(presetOpt)), static_cast<long long>(config.nsamples),
                static_cast<long long>(config.seqlen), config.epochs, seconds,
                completed ? "completed" : "did not complete");
    std::printf("event-loop latency of a %d ms timer (ms): count %zu, p50 %.2f, p99 %.2f, max %.2f\n", kIntervalMs,
                latenciesMs.size(), percentile(latenciesMs, 0.5), percentile(latenciesMs, 0.99), latenciesMs.back());
    return ended && completed ? 0 : 2;
}
