#pragma once
// Loading the translations: Qt's own strings (dialog buttons) and the application's, compiled into the program's
// resources under :/i18n.
#include <QLocale>
#include <QString>

namespace aq::gui {

/// The language the settings ask for (ui/language, e.g. "zh_CN" or "en"), or the system's when none is set.
QLocale preferredLocale();
/// Installs the translators for `locale` on the application (replacing ones installed before). Returns false when
/// the application has no translation for it, which leaves English.
bool installTranslators(const QLocale& locale);
/// Removes the translators installed by installTranslators().
void removeTranslators();

}  // namespace aq::gui
