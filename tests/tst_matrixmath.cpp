// The small-matrix arithmetic behind the teaching and mask-schedule views: the mask schedule against spec §5.1's
// worked examples, and Gaussian elimination against matrices with known inverses and determinants.
#include "testutil.h"

#include "matrixmath.h"

#include <cmath>
#include <random>

using namespace aq::widgets;

namespace {

QVector<double> identity(int n)
{
    QVector<double> m(n * n, 0.0);
    for (int i = 0; i < n; ++i)
        m[i * n + i] = 1.0;
    return m;
}

double maxAbsDiff(const QVector<double>& a, const QVector<double>& b)
{
    double d = 0;
    for (int i = 0; i < a.size(); ++i)
        d = std::max(d, std::abs(a[i] - b[i]));
    return d;
}

}  // namespace

class TestMatrixMath : public QObject {
    Q_OBJECT

private slots:
    void bandWidth_data()
    {
        QTest::addColumn<qlonglong>("d");
        QTest::addColumn<int>("epochs");
        QTest::addColumn<int>("epoch");
        QTest::addColumn<qlonglong>("expected");
        // Worked examples of spec §5.1.
        QTest::newRow("d4096 e0") << 4096LL << 20 << 0 << 1LL;
        QTest::newRow("d4096 e1") << 4096LL << 20 << 1 << 216LL;
        QTest::newRow("d4096 e2") << 4096LL << 20 << 2 << 432LL;
        QTest::newRow("d4096 e3") << 4096LL << 20 << 3 << 647LL;
        QTest::newRow("d4096 last (rounding corner)") << 4096LL << 20 << 19 << 4095LL;
        QTest::newRow("h128 e1") << 128LL << 20 << 1 << 7LL;
        QTest::newRow("h128 e2") << 128LL << 20 << 2 << 14LL;
        QTest::newRow("h128 e3") << 128LL << 20 << 3 << 21LL;
        QTest::newRow("h128 last") << 128LL << 20 << 19 << 128LL;
        // Edge cases: one epoch trains the diagonal only; zero epochs likewise.
        QTest::newRow("E=1") << 256LL << 1 << 0 << 1LL;
        QTest::newRow("E=0") << 256LL << 0 << 0 << 1LL;
        QTest::newRow("d8 E8") << 8LL << 8 << 5 << 6LL;
        QTest::newRow("d1") << 1LL << 20 << 10 << 1LL;
    }
    void bandWidth()
    {
        QFETCH(qlonglong, d);
        QFETCH(int, epochs);
        QFETCH(int, epoch);
        QFETCH(qlonglong, expected);
        QCOMPARE(matrixmath::bandWidth(d, epochs, epoch), expected);
    }

    void bandMask()
    {
        const QVector<double> m = matrixmath::bandMask(4, 2, 0.1);
        const QVector<double> expected = {1, 0.1, 0, 0,  //
                                          0.1, 1, 0.1, 0,  //
                                          0, 0.1, 1, 0.1,  //
                                          0, 0, 0.1, 1};
        QCOMPARE(m, expected);
        QCOMPARE(matrixmath::bandMask(3, 1, 0.5), identity(3));
    }

    void rowMargins()
    {
        const QVector<double> a = {2, -1, 0.5,  //
                                   1, 1, 1,  //
                                   0, -3, 4};
        const QVector<double> expected = {0.5, -1, 1};
        QCOMPARE(matrixmath::rowMargins(a, 3), expected);
        QVERIFY(!matrixmath::isStrictlyDiagonallyDominant(a, 3));
        QVERIFY(matrixmath::isStrictlyDiagonallyDominant(identity(3), 3));
    }

    void invertKnown_data()
    {
        QTest::addColumn<int>("n");
        QTest::addColumn<QVector<double>>("a");
        QTest::addColumn<bool>("invertible");
        QTest::addColumn<double>("determinant");
        QTest::newRow("identity") << 3 << identity(3) << true << 1.0;
        QTest::newRow("2x2") << 2 << QVector<double>{4, 7, 2, 6} << true << 10.0;
        // Needs a row swap: the first pivot is zero.
        QTest::newRow("pivoting") << 2 << QVector<double>{0, 1, 1, 0} << true << -1.0;
        QTest::newRow("singular rows") << 3 << QVector<double>{1, 2, 3, 2, 4, 6, 1, 0, 1} << false << 0.0;
        QTest::newRow("all zero") << 2 << QVector<double>{0, 0, 0, 0} << false << 0.0;
        // Upper bidiagonal with 2 above the diagonal: no row is dominant, the determinant is 1.
        QVector<double> bidiagonal(16, 0.0);
        for (int i = 0; i < 4; ++i) {
            bidiagonal[i * 4 + i] = 1;
            if (i + 1 < 4)
                bidiagonal[i * 4 + i + 1] = 2;
        }
        QTest::newRow("bidiagonal") << 4 << bidiagonal << true << 1.0;
    }
    void invertKnown()
    {
        QFETCH(int, n);
        QFETCH(QVector<double>, a);
        QFETCH(bool, invertible);
        QFETCH(double, determinant);
        const matrixmath::Inversion inv = matrixmath::invert(a, n);
        QCOMPARE(inv.invertible, invertible);
        if (!invertible) {
            QVERIFY(inv.inverse.isEmpty());
            return;
        }
        QVERIFY(std::abs(inv.determinant - determinant) < 1e-12);
        QVERIFY(maxAbsDiff(matrixmath::multiply(a, inv.inverse, n), identity(n)) < 1e-12);
        QVERIFY(inv.conditionEstimate >= 1.0 - 1e-12);
    }

    void invertRandom()
    {
        // Fresh seeded matrices of the teaching view's size: A * A^-1 = I to 1e-10.
        std::mt19937 rng(12345);
        std::normal_distribution<double> dist;
        for (int trial = 0; trial < 50; ++trial) {
            const int n = 8;
            QVector<double> a(n * n);
            for (double& v : a)
                v = dist(rng);
            const matrixmath::Inversion inv = matrixmath::invert(a, n);
            QVERIFY(inv.invertible);
            QVERIFY2(maxAbsDiff(matrixmath::multiply(a, inv.inverse, n), identity(n)) < 1e-10,
                     qPrintable(QString::number(trial)));
            QVERIFY(maxAbsDiff(matrixmath::multiply(inv.inverse, a, n), identity(n)) < 1e-10);
        }
    }
};

QTEST_APPLESS_MAIN(TestMatrixMath)
#include "tst_matrixmath.moc"
