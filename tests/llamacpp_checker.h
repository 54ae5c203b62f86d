#pragma once
// What the llama.cpp tests share: running aq-llama-check (tools/llamacpp) and the other programs, and whether the
// checker can run here. A test's main() calls llamaCppCheckerMain(): without llama.cpp the test is skipped (exit status
// 77), except under CI (the environment variable CI set), where it fails and says to run tools/install-deps.sh.
#include <QByteArray>
#include <QCoreApplication>
#include <QFile>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QtTest>

#include <cstdio>

namespace llamacpp {

inline const QString kChecker = QStringLiteral(AQ_LLAMA_CHECK_PATH);

struct Run {
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

inline Run run(const QString& program, const QStringList& args, int timeoutMs)
{
    QProcess p;
    p.start(program, args);
    Run r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        r.err = "timed out after " + QByteArray::number(timeoutMs / 1000) + " s: " + program.toUtf8();
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

/// The command, its exit status, its error output and the end of its standard output, for a failure message.
inline QByteArray describe(const QString& program, const QStringList& args, const Run& r)
{
    return (program + " " + args.join(' ')).toUtf8() + "\nexit " + QByteArray::number(r.exitCode) + "\n" + r.err +
           r.out.right(2000);
}

/// Why aq-llama-check cannot run here, or an empty string when it can.
inline QString checkerProblem()
{
    if (kChecker.isEmpty())
        return QStringLiteral("aq-llama-check was not built: llama.cpp was not found when the project was configured "
                              "(AQ_LLAMACPP_DIR)");
    if (!QFile::exists(kChecker))
        return QStringLiteral("%1 does not exist; build the target aq-llama-check").arg(kChecker);
    const Run r = run(kChecker, {"--version"}, 60000);
    if (r.exitCode != 0)
        return QStringLiteral("%1 --version failed (exit %2): %3")
            .arg(kChecker)
            .arg(r.exitCode)
            .arg(QString::fromUtf8(r.err.trimmed()));
    return {};
}

/// Runs `test` when the checker works; otherwise skips, or fails under CI. `what` completes "CI must check ...".
template <class Test>
int checkerMain(int argc, char** argv, const char* what)
{
    QCoreApplication app(argc, argv);
    const QString problem = checkerProblem();
    if (!problem.isEmpty()) {
        if (!qEnvironmentVariableIsEmpty("CI")) {
            std::fprintf(stderr,
                         "FAIL: %s. CI must check %s in llama.cpp: run tools/install-deps.sh (it installs llama.cpp), "
                         "then configure and build again.\n",
                         qPrintable(problem), what);
            return 1;
        }
        std::printf("SKIP: %s. To run this test: tools/install-deps.sh (it installs llama.cpp), then configure and "
                    "build again.\n",
                    qPrintable(problem));
        return 77;
    }
    Test t;
    return QTest::qExec(&t, argc, argv);
}

}  // namespace llamacpp
