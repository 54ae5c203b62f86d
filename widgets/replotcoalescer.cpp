#include "replotcoalescer.h"

#include <QEvent>

#include <qcustomplot.h>

#include <algorithm>

namespace aq::widgets {

ReplotCoalescer::ReplotCoalescer(QCustomPlot* plot, std::function<void()> flush, QObject* parent)
    : QObject(parent), m_plot(plot), m_flush(std::move(flush))
{
    m_timer.setSingleShot(true);
    m_timer.setInterval(kDefaultIntervalMs);
    // Named after the view, so that a trace of the event loop says whose replot ran.
    if (parent)
        m_timer.setObjectName(QStringLiteral("replot of %1").arg(QLatin1String(parent->metaObject()->className())));
    connect(&m_timer, &QTimer::timeout, this, &ReplotCoalescer::run);
    m_plot->installEventFilter(this);
}

void ReplotCoalescer::request()
{
    if (!m_timer.isActive())
        m_timer.start();
}

void ReplotCoalescer::setIntervalMs(int ms)
{
    m_baseIntervalMs = std::max(0, ms);
    m_timer.setInterval(m_baseIntervalMs);
}

void ReplotCoalescer::flushNow()
{
    m_timer.stop();
    if (m_flush)
        m_flush();
    replot();
}

void ReplotCoalescer::run()
{
    // The data always moves (views answer questions about it), the drawing only where someone can see it.
    if (m_flush)
        m_flush();
    if (!m_plot->isVisible()) {
        m_stale = true;
        return;
    }
    replot();
}

void ReplotCoalescer::replot()
{
    QElapsedTimer clock;
    clock.start();
    // Draw into the plot's buffers now and let the widget repaint with the next paint event.
    m_plot->replot(QCustomPlot::rpQueuedRefresh);
    m_lastReplotMs = double(clock.nsecsElapsed()) / 1e6;
    ++m_replotCount;
    m_stale = false;
    const int stretched = int(m_lastReplotMs / kMaxBusyShare);
    m_timer.setInterval(std::clamp(stretched, m_baseIntervalMs, std::max(m_baseIntervalMs, kMaxIntervalMs)));
}

bool ReplotCoalescer::eventFilter(QObject* watched, QEvent* event)
{
    // Draw a plot that missed data while hidden before its first paint, so it never shows stale buffers.
    if (watched == m_plot && event->type() == QEvent::Show && m_stale) {
        m_timer.stop();
        if (m_flush)
            m_flush();
        replot();
    }
    return QObject::eventFilter(watched, event);
}

}  // namespace aq::widgets
