#pragma once
// Coalesces redraw requests of a plot: data can arrive many times per frame, but a replot costs milliseconds, so
// views only mark themselves dirty and one timer tick does the work.
#include <QObject>
#include <QTimer>

#include <functional>

class QCustomPlot;

namespace aq::widgets {

class ReplotCoalescer : public QObject {
    Q_OBJECT
public:
    /// `flush` runs before each replot to move buffered data into the plot; it may be empty.
    ReplotCoalescer(QCustomPlot* plot, std::function<void()> flush, QObject* parent = nullptr);

    static constexpr int kDefaultIntervalMs = 50;

    /// Schedules one flush + replot within the interval; further requests until then are absorbed.
    void request();
    /// Flushes and replots now (for tests and for screenshots).
    void flushNow();
    bool isPending() const { return m_timer.isActive(); }
    int replotCount() const { return m_replotCount; }
    void setIntervalMs(int ms) { m_timer.setInterval(ms); }

private:
    void run();

    QCustomPlot* m_plot;
    std::function<void()> m_flush;
    QTimer m_timer;
    int m_replotCount = 0;
};

}  // namespace aq::widgets
