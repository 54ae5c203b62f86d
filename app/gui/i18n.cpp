#include "i18n.h"

#include <QCoreApplication>
#include <QLibraryInfo>
#include <QSettings>
#include <QTranslator>

#include <memory>

namespace aq::gui {

namespace {
// Owned here for the lifetime of the application; QCoreApplication only keeps pointers.
std::unique_ptr<QTranslator> g_qtTranslator;
std::unique_ptr<QTranslator> g_appTranslator;
}  // namespace

QLocale preferredLocale()
{
    const QString language = QSettings().value(QStringLiteral("ui/language")).toString();
    return language.isEmpty() ? QLocale::system() : QLocale(language);
}

void removeTranslators()
{
    if (g_qtTranslator)
        QCoreApplication::removeTranslator(g_qtTranslator.get());
    if (g_appTranslator)
        QCoreApplication::removeTranslator(g_appTranslator.get());
    g_qtTranslator.reset();
    g_appTranslator.reset();
}

bool installTranslators(const QLocale& locale)
{
    removeTranslators();
    QLocale::setDefault(locale);
    auto qt = std::make_unique<QTranslator>();
    if (qt->load(locale, QStringLiteral("qtbase"), QStringLiteral("_"),
                 QLibraryInfo::path(QLibraryInfo::TranslationsPath))) {
        QCoreApplication::installTranslator(qt.get());
        g_qtTranslator = std::move(qt);
    }
    auto app = std::make_unique<QTranslator>();
    if (!app->load(locale, QStringLiteral("affinequant"), QStringLiteral("_"), QStringLiteral(":/i18n")))
        return false;
    QCoreApplication::installTranslator(app.get());
    g_appTranslator = std::move(app);
    return true;
}

}  // namespace aq::gui
