// The fused fake-quantization path (CPU loops and, when present, the CUDA kernels) against the reference sequence of
// tensor operations (quantizer.cpp, itself checked against an independent double-precision quantizer in
// tst_quantize): forward values and the gradients autograd gives the reference path, for every quantizer option.
#include "fused_quant.h"
#include "quantizer.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <QtTest>

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
