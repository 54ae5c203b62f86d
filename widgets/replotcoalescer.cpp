#include "replotcoalescer.h"

#include <qcustomplot.h>

namespace aq::widgets {

ReplotCoalescer::ReplotCoalescer(QCustomPlot* plot, std::function<void()> flush, QObject* parent)
    : QObject(parent), m_plot(plot), m_flush(std::move(flush))
{
    m_timer.setSingleShot(true);
    m_timer.setInterval(kDefaultIntervalMs);
    connect(&m_timer, &QTimer::timeout, this, &ReplotCoalescer::run);
}

void ReplotCoalescer::request()
{
    if (!m_timer.isActive())
        m_timer.start();
}

void ReplotCoalescer::flushNow()
{
    m_timer.stop();
    run();
}

void ReplotCoalescer::run()
{
    if (m_flush)
        m_flush();
    ++m_replotCount;
    // Draw into the plot's buffers now and let the widget repaint with the next paint event.
    m_plot->replot(QCustomPlot::rpQueuedRefresh);
}

}  // namespace aq::widgets
