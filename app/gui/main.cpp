// affinequant-studio: the desktop application. Thin: application metadata, translations, the main window.
#include "i18n.h"
#include "mainwindow.h"

#include "aq/version.h"

#include <QApplication>
#include <QCommandLineParser>

int main(int argc, char* argv[])
{
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("AffineQuant"));
    QApplication::setApplicationName(QStringLiteral("AffineQuant Studio"));
    QApplication::setApplicationVersion(QStringLiteral(AQ_VERSION));
    QApplication::setDesktopFileName(QStringLiteral("io.github.affinequant.Studio"));

    // Language: the system locale unless the settings (View > Language) or --lang name one.
    QLocale locale = aq::gui::preferredLocale();
    for (int i = 1; i + 1 < argc; ++i)
        if (qstrcmp(argv[i], "--lang") == 0)
            locale = QLocale(QString::fromLocal8Bit(argv[i + 1]));
    aq::gui::installTranslators(locale);

    QCommandLineParser parser;
    parser.setApplicationDescription(QApplication::translate(
        "main", "Quantize large language models with AffineQuant and watch the calibration live."));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addOption({QStringLiteral("lang"),
                      QApplication::translate("main", "Language for this session, e.g. zh_CN or en."),
                      QStringLiteral("code")});
    parser.addPositionalArgument(QStringLiteral("model"),
                                 QApplication::translate("main", "Model folder to open (default: the last one, or "
                                                                 "the bundled demo model)."),
                                 QStringLiteral("[model]"));
    parser.process(app);

    aq::gui::MainWindow window;
    if (!parser.positionalArguments().isEmpty())
        window.openModel(parser.positionalArguments().first());
    window.show();
    return app.exec();
}
