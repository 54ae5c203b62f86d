// The fused fake-quantization path (CPU loops and, when present, the CUDA kernels) against the reference sequence of
// tensor operations (quantizer.cpp, itself checked against an independent double-precision quantizer in
// tst_quantize): forward values and the gradients autograd gives the reference path, for every quantizer option.
#include "fused_quant.h"
#include "quantizer.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <QtTest>

#include <cfloat>
#include <limits>
#include <tuple>

using namespace aq::detail;

namespace {

struct Case {
    int bits;
    bool symmetric, zeroInRange, clampDelta, lwc;
    int64_t n;
};

/// Rows of normal values with a few large outliers; every fifth row is all positive (negative zero points).
torch::Tensor makeRows(int64_t rows, int64_t n)
{
    auto x = torch::randn({rows, n});
    auto idx = torch::randint(n, {rows, 2});
    x.scatter_(1, idx, torch::randn({rows, 2}) * 30);
    for (int64_t r = 0; r < rows; r += 5)
        x[r] = x[r].abs() + 0.5;
    return x;
}

struct Result {
    torch::Tensor y, dx, du, dl;
};

Result run(bool fused, const torch::Tensor& x0, const torch::Tensor& u0, const torch::Tensor& l0, const torch::Tensor& w,
           const Case& c, torch::ScalarType outType)
{
    auto x = x0.detach().clone().requires_grad_(true);
    torch::Tensor u, l;
    if (c.lwc) {
        u = u0.detach().clone().requires_grad_(true);
        l = l0.detach().clone().requires_grad_(true);
    }
    torch::Tensor y;
    if (fused) {
        y = fusedFakeQuantRows(x, c.bits, c.symmetric, c.zeroInRange, c.clampDelta, u, l, outType);
    } else {
        // The reference path on the CPU, in float32.
        y = referenceFakeQuantRows(x, c.bits, c.symmetric, c.zeroInRange, c.clampDelta, u, l);
    }
    (y.to(torch::kFloat32) * w.to(y.device())).sum().backward();
    Result r{y.detach().to(torch::kCPU, torch::kFloat32), x.grad().to(torch::kCPU, torch::kFloat32), {}, {}};
    if (c.lwc) {
        r.du = u.grad().to(torch::kCPU).reshape({-1});
        r.dl = l.grad().to(torch::kCPU).reshape({-1});
    }
    return r;
}

double maxRel(const torch::Tensor& a, const torch::Tensor& b)
{
    const double scale = std::max(b.abs().max().item<double>(), 1e-12);
    return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>() / scale;
}

}  // namespace

class TestFusedQuant : public QObject {
    Q_OBJECT

    void addCases()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<bool>("symmetric");
        QTest::addColumn<bool>("zeroInRange");
        QTest::addColumn<bool>("clampDelta");
        QTest::addColumn<bool>("lwc");
        QTest::addColumn<qint64>("n");
        QTest::newRow("w4 asym lwc g128") << 4 << false << false << true << true << qint64(128);
        QTest::newRow("w3 asym lwc partial group 37") << 3 << false << false << true << true << qint64(37);
        QTest::newRow("w2 asym lwc zero-in-range") << 2 << false << true << true << true << qint64(64);
        QTest::newRow("w4 symmetric lwc") << 4 << true << false << true << true << qint64(128);
        QTest::newRow("a4 per-token 4096") << 4 << false << false << true << false << qint64(4096);
        QTest::newRow("a6 per-token 11008") << 6 << false << false << true << false << qint64(11008);
        QTest::newRow("w4 reference delta clamp (off)") << 4 << false << false << false << true << qint64(96);
        QTest::newRow("a8 symmetric") << 8 << true << false << true << false << qint64(300);
    }

    void check(const torch::Device& dev, torch::ScalarType inType, torch::ScalarType outType)
    {
        QFETCH(int, bits);
        QFETCH(bool, symmetric);
        QFETCH(bool, zeroInRange);
        QFETCH(bool, clampDelta);
        QFETCH(bool, lwc);
        QFETCH(qint64, n);
        const Case c{bits, symmetric, zeroInRange, clampDelta, lwc, n};
        torch::manual_seed(11);
        const int64_t rows = 40;
        // Inputs in the tested dtype; the reference sees exactly the same values in float32.
        auto x = makeRows(rows, n).to(inType).to(torch::kFloat32);
        auto u = torch::randn({rows, 1}) * 2 + 3;
        auto l = torch::randn({rows, 1}) * 2 + 3;
        auto w = torch::randn({rows, n});
        const Result ref = run(false, x, u, l, w, c, torch::kFloat32);
        const Result got = run(true, x.to(dev, inType), u.to(dev), l.to(dev), w, c, outType);
        const bool exactType = inType == torch::kFloat32 && outType == torch::kFloat32;
        // float32 in and out: the same operations in the same order, so the values agree to rounding of the sigmoid
        // (LWC); half-precision output: one rounding of the result.
        const double yTol = exactType ? 1e-6 : 8e-3;
        QVERIFY2(maxRel(got.y, ref.y) <= yTol, qPrintable(QString("forward max rel %1").arg(maxRel(got.y, ref.y))));
        // Gradients: the step's gradient is a sum over the row, accumulated in a different order.
        const double gTol = exactType ? 2e-5 : 2e-2;
        QVERIFY2(maxRel(got.dx, ref.dx) <= gTol, qPrintable(QString("dx max rel %1").arg(maxRel(got.dx, ref.dx))));
        if (lwc) {
            QVERIFY2(maxRel(got.du, ref.du) <= gTol * 10, qPrintable(QString("du max rel %1").arg(maxRel(got.du, ref.du))));
            QVERIFY2(maxRel(got.dl, ref.dl) <= gTol * 10, qPrintable(QString("dl max rel %1").arg(maxRel(got.dl, ref.dl))));
            QVERIFY(ref.du.abs().sum().item<double>() > 0);  // the case exercises the clipping gradients
        }
    }

private slots:
    void cpuFloat32_data() { addCases(); }
    void cpuFloat32() { check(torch::kCPU, torch::kFloat32, torch::kFloat32); }
    void cpuBFloat16_data() { addCases(); }
    void cpuBFloat16() { check(torch::kCPU, torch::kBFloat16, torch::kBFloat16); }

    void cudaFloat32_data() { addCases(); }
    void cudaFloat32()
    {
        if (!torch::cuda::is_available() || !fusedQuantCudaKernels())
            QSKIP("no CUDA device or no CUDA kernels in this build");
        check(torch::kCUDA, torch::kFloat32, torch::kFloat32);
    }
    void cudaFloat32ToBFloat16_data() { addCases(); }
    void cudaFloat32ToBFloat16()
    {
        if (!torch::cuda::is_available() || !fusedQuantCudaKernels())
            QSKIP("no CUDA device or no CUDA kernels in this build");
        check(torch::kCUDA, torch::kFloat32, torch::kBFloat16);
    }
    void cudaBFloat16_data() { addCases(); }
    void cudaBFloat16()
    {
        if (!torch::cuda::is_available() || !fusedQuantCudaKernels())
            QSKIP("no CUDA device or no CUDA kernels in this build");
        check(torch::kCUDA, torch::kBFloat16, torch::kBFloat16);
    }

    // The CPU's vector loops (eight floats at a time) against its element-by-element loops on rows made to catch
    // the edge cases of a max / min search: ties (the first index is the one that gets the gradient), signed zeros,
    // infinities, NaN, -FLT_MAX, and lengths around the vector width. Values and dx where no tie is involved must be
    // bitwise equal; the row's gradient sum is added in another order (tolerance 1e-5 relative).
    void cpuVectorLoopsMatchScalarLoops()
    {
        if (!fusedQuantVectorized())
            QSKIP("this processor or build has no vector loops for the fused quantizer");
        torch::manual_seed(5);
        for (const int64_t n : {1, 3, 7, 8, 9, 15, 16, 17, 31, 256, 300}) {
            const int64_t rows = 12;
            auto x = torch::randn({rows, n}) * 3;
            auto a = x.accessor<float, 2>();
            const float inf = std::numeric_limits<float>::infinity();
            for (int64_t j = 0; j < n; ++j) {
                a[1][j] = j % 2 ? 0.0f : -0.0f;              // zeros of both signs only
                a[2][j] = 2.5f;                              // all tied
                a[3][j] = -FLT_MAX;                          // nothing passes the scalar loop's start value
            }
            a[4][n - 1] = inf;                               // an infinity last
            a[5][0] = -inf;
            a[6][n / 2] = std::numeric_limits<float>::quiet_NaN();
            if (n > 2) {
                a[7][n - 1] = a[7][n - 2] = 40.0f;           // a tied max at the end, after the vector part
                a[8][1] = a[8][n - 1] = -40.0f;              // a tied min, first inside the vector part
            }
            auto w = torch::randn({rows, n});
            for (const bool lwc : {false, true}) {
                auto u = torch::full({rows}, 2.0f), l = torch::full({rows}, 1.5f);
                auto runOnce = [&](bool vec) {
                    setFusedQuantVectorized(vec);
                    auto xi = x.clone().requires_grad_(true);
                    auto ui = lwc ? u.clone().requires_grad_(true) : torch::Tensor();
                    auto li = lwc ? l.clone().requires_grad_(true) : torch::Tensor();
                    auto y = fusedFakeQuantRows(xi, 4, false, false, true, ui, li);
                    (y * w).sum().backward();
                    setFusedQuantVectorized(true);
                    return std::make_tuple(y.detach(), xi.grad(), lwc ? ui.grad() : torch::Tensor());
                };
                const auto [yv, dxv, duv] = runOnce(true);
                const auto [ys, dxs, dus] = runOnce(false);
                const QString where = QString("n %1, lwc %2").arg(n).arg(lwc);
                // Bitwise, NaN in the same places (equal_nan through the byte view).
                QVERIFY2(torch::equal(yv.view(torch::kInt32), ys.view(torch::kInt32)), qPrintable("y differs: " + where));
                // dx: equal to the element except at each row's max / min, which carry the row's sum.
                auto diff = (dxv - dxs).abs();
                auto tol = 1e-5 * dxs.nan_to_num(0, 0, 0).abs().amax(1, true) + 1e-30;  // a NaN row's other entries still count
                QVERIFY2((diff <= tol).logical_or(dxs.isnan() & dxv.isnan()).all().item<bool>(),
                         qPrintable("dx differs: " + where));
                QVERIFY2(((dxv == dxs) | (dxs.isnan() & dxv.isnan())).sum().item<int64_t>() >= rows * n - 2 * rows,
                         qPrintable("dx differs beyond the max / min elements: " + where));
                if (lwc) {
                    // Each row's clipping gradient is its sum chained through the sigmoid: relative to the largest.
                    const double scale = dus.nan_to_num(0, 0, 0).abs().max().item<double>();
                    const double worst = (duv - dus).nan_to_num(0, 0, 0).abs().max().item<double>();
                    QVERIFY2(worst <= 1e-5 * scale, qPrintable(QString("du differs by %1: ").arg(worst) + where));
                    QVERIFY2(torch::equal(duv.isnan(), dus.isnan()), qPrintable("du NaN differs: " + where));
                }
            }
        }
    }

    void nanPropagates()
    {
        // A non-finite input must stay visible (the engine's guard rolls the epoch back), never be clamped away.
        auto x = torch::randn({3, 16});
        x[1][4] = std::numeric_limits<float>::quiet_NaN();
        auto y = fusedFakeQuantRows(x, 4, false, false, true);
        QVERIFY(torch::isnan(y[1]).all().item<bool>());
        QVERIFY(torch::isfinite(y[0]).all().item<bool>());
        if (torch::cuda::is_available() && fusedQuantCudaKernels()) {
            auto yc = fusedFakeQuantRows(x.cuda(), 4, false, false, true).cpu();
            QVERIFY(torch::isnan(yc[1]).all().item<bool>());
            QVERIFY(torch::equal(yc[0], y[0]));
        }
    }
};

QTEST_APPLESS_MAIN(TestFusedQuant)
#include "tst_fused_quant.moc"
