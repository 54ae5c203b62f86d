#pragma once
// An inline message strip (error, warning, information) shown above the views instead of a modal dialog, so a
// failed run or a bad model folder never stops the user from carrying on.
#include <QFrame>

class QLabel;
class QToolButton;

namespace aq::widgets {

class MessageBar : public QFrame {
    Q_OBJECT
public:
    enum class Kind { Invalid = 0, Information, Warning, Error };

    explicit MessageBar(QWidget* parent = nullptr);

    /// Shows `text` (plain text; `title` in bold before it) until dismissed or replaced.
    void showMessage(Kind kind, const QString& title, const QString& text);
    void dismiss();

    Kind kind() const { return m_kind; }
    QString title() const { return m_title; }
    QString text() const { return m_text; }

signals:
    void dismissed();

private:
    QLabel* m_label = nullptr;
    QToolButton* m_close = nullptr;
    Kind m_kind = Kind::Invalid;
    QString m_title;
    QString m_text;
};

}  // namespace aq::widgets
