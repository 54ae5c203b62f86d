#pragma once
// Coalesces redraw requests of a plot: data can arrive many times per frame, but a replot costs milliseconds, so
// views only mark themselves dirty and one timer tick does the work. Two further rules keep the GUI thread free
// while a run streams data in:
// - a plot that is not visible (a tab in the background) only takes its data; it is drawn when it is shown;
// - the interval stretches with the cost of the last replot, so that replots of a plot never take more than a
//   quarter of the GUI thread's time (a plot whose replot takes 40 ms is redrawn at most every 160 ms).
#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

#include <functional>

class QCustomPlot;

namespace aq::widgets {

class ReplotCoalescer : public QObject {
    Q_OBJECT
public:
    /// `flush` runs before each replot to move buffered data into the plot; it may be empty. The plot must outlive
    /// the coalescer (make it a child of the same view).
    ReplotCoalescer(QCustomPlot* plot, std::function<void()> flush, QObject* parent = nullptr);

    static constexpr int kDefaultIntervalMs = 50;
    /// However slow replots get, a request is drawn within this time.
    static constexpr int kMaxIntervalMs = 1000;
    /// Largest share of the GUI thread's time that replots of one plot may take.
    static constexpr double kMaxBusyShare = 0.25;

    /// Schedules one flush + replot within the interval; further requests until then are absorbed.
    void request();
    /// Flushes and replots now, visible or not (for tests and for screenshots).
    void flushNow();
    bool isPending() const { return m_timer.isActive(); }
    /// True when data arrived while the plot was hidden: it is replotted as soon as it is shown.
    bool isStale() const { return m_stale; }
    int replotCount() const { return m_replotCount; }
    /// Milliseconds the last replot took, and the interval that follows from it.
    double lastReplotMs() const { return m_lastReplotMs; }
    int intervalMs() const { return m_timer.interval(); }
    /// The shortest interval (the default is kDefaultIntervalMs).
    void setIntervalMs(int ms);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void run();
    void replot();

    QCustomPlot* m_plot;
    std::function<void()> m_flush;
    QTimer m_timer;
    int m_baseIntervalMs = kDefaultIntervalMs;
    int m_replotCount = 0;
    double m_lastReplotMs = 0;
    bool m_stale = false;
};

}  // namespace aq::widgets
