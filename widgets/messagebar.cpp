#include "messagebar.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QStyle>
#include <QToolButton>

namespace aq::widgets {

MessageBar::MessageBar(QWidget* parent) : QFrame(parent)
{
    setFrameShape(QFrame::StyledPanel);
    setAutoFillBackground(true);
    m_label = new QLabel(this);
    m_label->setWordWrap(true);
    m_label->setTextFormat(Qt::RichText);
    m_label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_close = new QToolButton(this);
    m_close->setAutoRaise(true);
    m_close->setIcon(style()->standardIcon(QStyle::SP_TitleBarCloseButton));
    m_close->setToolTip(tr("Dismiss this message"));
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(8, 4, 4, 4);
    layout->addWidget(m_label, 1);
    layout->addWidget(m_close, 0, Qt::AlignTop);
    connect(m_close, &QToolButton::clicked, this, &MessageBar::dismiss);
    hide();
}

void MessageBar::showMessage(Kind kind, const QString& title, const QString& text)
{
    m_kind = kind;
    m_title = title;
    m_text = text;
    QColor background;
    switch (kind) {
    case Kind::Error:
        background = QColor(253, 226, 226);
        break;
    case Kind::Warning:
        background = QColor(255, 243, 205);
        break;
    default:
        background = QColor(222, 235, 247);
        break;
    }
    QPalette pal = palette();
    pal.setColor(QPalette::Window, background);
    pal.setColor(QPalette::WindowText, QColor(20, 20, 20));
    setPalette(pal);
    // The detail comes from files and engine messages: escape it so that it is never read as markup.
    m_label->setText(QStringLiteral("<b>%1</b> %2").arg(title.toHtmlEscaped(), text.toHtmlEscaped()));
    show();
}

void MessageBar::dismiss()
{
    const bool wasShown = !isHidden();
    m_kind = Kind::Invalid;
    m_title.clear();
    m_text.clear();
    hide();
    if (wasShown)
        emit dismissed();
}

}  // namespace aq::widgets
