// aq-bench-gui-latency: how late a 10 ms timer on the GUI thread fires while the main window runs a calibration of
// the demo model on its worker thread (the "never blocks" target: p99 below 50 ms). Opens the real window, applies a
// preset with a small calibration set, switches through the views so the shown one replots, and prints the count,
// p50, p99 and maximum lateness in milliseconds when the run ends.
//
//   QT_QPA_PLATFORM=offscreen aq-bench-gui-latency [--preset w4a4] [--nsamples 16] [--seqlen 128] [--epochs 2]
//                                                   [--eval-windows 4] [--timeout 600] [--trace-ms 20]
//
// With --trace-ms, every tick later than that is explained: how much of the gap the GUI thread spent computing
// (its CPU time), how much it spent runnable but waiting for a core (the scheduler's run-queue delay, from
// /proc/thread-self/schedstat), and which events it handled during the gap that took 2 ms or more (receiver class,
// object name, event type; nested events are indented).
//
// Settings and run folders go to a temporary directory, so the user's are left alone.
#include "configpanel.h"
#include "mainwindow.h"
#include "modelpanel.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QEvent>
#include <QEventLoop>
#include <QFile>
#include <QHash>
#include <QMetaEnum>
#include <QSettings>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QThread>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

#ifdef Q_OS_LINUX
#include <fcntl.h>
#include <unistd.h>
#endif

namespace {

constexpr int kIntervalMs = 10;
constexpr qint64 kTracedEventNs = 2'000'000;  ///< events shorter than this are only counted

double percentile(const std::vector<double>& sorted, double p)
{
    return sorted[static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5)];
}

/// CPU time the calling thread has used, in ns.
qint64 threadCpuNs()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return qint64(ts.tv_sec) * 1'000'000'000LL + ts.tv_nsec;
}

/// How long the calling thread has been runnable but waiting for a core, in ns (-1 where unknown).
qint64 threadRunQueueWaitNs()
{
#ifdef Q_OS_LINUX
    // "<cpu time> <run-queue wait> <time slices>", all since the thread started.
    const int fd = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[128];
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    unsigned long long cpu = 0, wait = 0;
    if (std::sscanf(buf, "%llu %llu", &cpu, &wait) != 2)
        return -1;
    return qint64(wait);
#else
    return -1;
#endif
}

QString loadAverage()
{
    QFile f(QStringLiteral("/proc/loadavg"));
    if (!f.open(QIODevice::ReadOnly))
        return QStringLiteral("unknown");
    return QString::fromLatin1(f.readAll()).section(QLatin1Char(' '), 0, 2);
}

/// Times every event the GUI thread handles, so that a late tick can be attributed to the work that ran meanwhile.
class TracingApplication : public QApplication {
public:
    using QApplication::QApplication;

    struct TracedEvent {
        qint64 startNs = 0;
        qint64 endNs = 0;
        int depth = 0;
        const char* className = nullptr;
        QString objectName;
        int type = 0;
        const char* ownerClassName = nullptr;  ///< for Qt's own classes: the nearest ancestor of this program's
    };

    void startTracing(const QElapsedTimer* clock)
    {
        m_clock = clock;
        m_guiThread = QThread::currentThread();
    }
    void stopTracing() { m_clock = nullptr; }
    const std::vector<TracedEvent>& events() const { return m_events; }
    qint64 queuedCalls() const { return m_queuedCalls; }
    qint64 eventCount() const { return m_eventCount; }

    bool notify(QObject* receiver, QEvent* event) override
    {
        if (!m_clock || QThread::currentThread() != m_guiThread)
            return QApplication::notify(receiver, event);
        // Taken before delivery: the receiver may be deleted by it.
        const char* className = receiver->metaObject()->className();
        const QString objectName = receiver->objectName();
        const int type = int(event->type());
        const char* ownerClassName = nullptr;
        if (qstrncmp(className, "aq::", 4) != 0)
            for (QObject* p = receiver->parent(); p && !ownerClassName; p = p->parent())
                if (qstrncmp(p->metaObject()->className(), "aq::", 4) == 0)
                    ownerClassName = p->metaObject()->className();
        ++m_eventCount;
        if (event->type() == QEvent::MetaCall)
            ++m_queuedCalls;
        const int depth = m_depth++;
        const qint64 start = m_clock->nsecsElapsed();
        const bool handled = QApplication::notify(receiver, event);
        const qint64 end = m_clock ? m_clock->nsecsElapsed() : start;
        --m_depth;
        if (end - start >= kTracedEventNs)
            m_events.push_back({start, end, depth, className, objectName, type, ownerClassName});
        return handled;
    }

    static QString describe(const TracedEvent& e)
    {
        const char* type = QMetaEnum::fromType<QEvent::Type>().valueToKey(e.type);
        QString s = QString::fromLatin1(e.className);
        if (!e.objectName.isEmpty())
            s += QStringLiteral(" \"%1\"").arg(e.objectName);
        if (e.ownerClassName)
            s += QStringLiteral(" in %1").arg(QLatin1String(e.ownerClassName));
        return s + QStringLiteral(" %1").arg(type ? QString::fromLatin1(type) : QString::number(e.type));
    }

private:
    const QElapsedTimer* m_clock = nullptr;
    QThread* m_guiThread = nullptr;
    std::vector<TracedEvent> m_events;
    qint64 m_queuedCalls = 0;
    qint64 m_eventCount = 0;
    int m_depth = 0;
};

struct Tick {
    qint64 expectedNs = 0;
    qint64 firedNs = 0;
    qint64 cpuNs = 0;   ///< the GUI thread's CPU time when it fired
    qint64 waitNs = 0;  ///< the GUI thread's run-queue wait when it fired
};

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

    TracingApplication app(argc, argv);
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
    const QCommandLineOption traceOpt(QStringLiteral("trace-ms"),
                                      QStringLiteral("Explain every tick later than this many ms (0: off)."),
                                      QStringLiteral("ms"), QStringLiteral("0"));
    parser.addOptions({presetOpt, nsamplesOpt, seqlenOpt, epochsOpt, evalOpt, timeoutOpt, traceOpt});
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

    const double traceMs = parser.value(traceOpt).toDouble();
    std::vector<double> latenciesMs;
    std::vector<Tick> ticks;
    QElapsedTimer clock;
    qint64 expectedNs = 0;
    QTimer tick;
    tick.setTimerType(Qt::PreciseTimer);
    tick.setInterval(kIntervalMs);
    QObject::connect(&tick, &QTimer::timeout, [&] {
        const qint64 now = clock.nsecsElapsed();
        latenciesMs.push_back(static_cast<double>(std::max<qint64>(0, now - expectedNs)) / 1e6);
        if (traceMs > 0)
            ticks.push_back({expectedNs, now, threadCpuNs(), threadRunQueueWaitNs()});
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
    const QString loadBefore = loadAverage();
    clock.start();
    if (traceMs > 0) {
        app.startTracing(&clock);
        ticks.push_back({0, 0, threadCpuNs(), threadRunQueueWaitNs()});
    }
    expectedNs = kIntervalMs * 1'000'000LL;
    tick.start();
    switcher.start(500);
    loop.exec();
    tick.stop();
    switcher.stop();
    app.stopTracing();
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

    if (traceMs > 0) {
        // Each late tick: the gap since the previous tick fired, split into the GUI thread's own CPU time, its wait
        // for a core, and the rest (sleeping or blocked), with the events it handled meanwhile.
        const auto& events = app.events();
        double busyMs = 0, waitMs = 0, otherMs = 0;
        int stalls = 0;
        for (size_t i = 1; i < ticks.size(); ++i) {
            const Tick& t = ticks[i];
            const double lateMs = double(t.firedNs - t.expectedNs) / 1e6;
            if (lateMs < traceMs)
                continue;
            const Tick& prev = ticks[i - 1];
            const double gapMs = double(t.firedNs - prev.firedNs) / 1e6;
            const double cpuMs = double(t.cpuNs - prev.cpuNs) / 1e6;
            const double queueMs = t.waitNs >= 0 && prev.waitNs >= 0 ? double(t.waitNs - prev.waitNs) / 1e6 : -1;
            ++stalls;
            busyMs += cpuMs;
            waitMs += std::max(0.0, queueMs);
            otherMs += std::max(0.0, gapMs - cpuMs - std::max(0.0, queueMs));
            std::printf("late tick at %.3f s: %.1f ms late; gap %.1f ms = GUI thread computing %.1f ms, waiting for a "
                        "core %.1f ms, other %.1f ms\n",
                        double(t.firedNs) / 1e9, lateMs, gapMs, cpuMs, queueMs,
                        std::max(0.0, gapMs - cpuMs - std::max(0.0, queueMs)));
            for (const auto& e : events)
                if (e.endNs > prev.firedNs && e.startNs < t.firedNs)
                    std::printf("    %*s%.1f ms %s\n", 2 * e.depth, "", double(e.endNs - e.startNs) / 1e6,
                                qPrintable(TracingApplication::describe(e)));
        }
        std::printf("trace: %d ticks later than %.0f ms; in their gaps the GUI thread computed %.0f ms, waited for a "
                    "core %.0f ms, other %.0f ms; %lld events handled, %lld of them queued calls (%.0f per s)\n",
                    stalls, traceMs, busyMs, waitMs, otherMs, static_cast<long long>(app.eventCount()),
                    static_cast<long long>(app.queuedCalls()), double(app.queuedCalls()) / std::max(seconds, 1e-3));
        // Where the GUI thread's longer work went over the whole run, whatever the ticks did: top-level events of
        // 2 ms or more, grouped by receiver and event type.
        struct Group {
            int count = 0;
            double totalMs = 0;
            double maxMs = 0;
        };
        QHash<QString, Group> groups;
        for (const auto& e : events) {
            if (e.depth != 0)
                continue;
            Group& g = groups[TracingApplication::describe(e)];
            const double ms = double(e.endNs - e.startNs) / 1e6;
            ++g.count;
            g.totalMs += ms;
            g.maxMs = std::max(g.maxMs, ms);
        }
        QStringList keys = groups.keys();
        std::sort(keys.begin(), keys.end(),
                  [&](const QString& a, const QString& b) { return groups[a].totalMs > groups[b].totalMs; });
        for (qsizetype i = 0; i < std::min<qsizetype>(12, keys.size()); ++i) {
            const Group& g = groups[keys[i]];
            std::printf("events of 2 ms or more: %4d, %8.1f ms in all, longest %6.1f ms: %s\n", g.count, g.totalMs,
                        g.maxMs, qPrintable(keys[i]));
        }
    }

    std::sort(latenciesMs.begin(), latenciesMs.end());
    std::printf("run: preset %s, nsamples %lld, seqlen %lld, epochs %d, %.1f s, %s\n",
                qPrintable(parser.value(presetOpt)), static_cast<long long>(config.nsamples),
                static_cast<long long>(config.seqlen), config.epochs, seconds,
                completed ? "completed" : "did not complete");
    std::printf("event-loop latency of a %d ms timer (ms): count %zu, p50 %.2f, p99 %.2f, max %.2f\n", kIntervalMs,
                latenciesMs.size(), percentile(latenciesMs, 0.5), percentile(latenciesMs, 0.99), latenciesMs.back());
    std::printf("load average before %s, after %s (%d cores)\n", qPrintable(loadBefore), qPrintable(loadAverage()),
                QThread::idealThreadCount());
    return ended && completed ? 0 : 2;
}
