// The k-quant grids of the fake quantizer (quantizer.cpp) against an independent scalar implementation of the same
// rules written here with plain float arithmetic and the compiler's own binary16 conversion: forward values bit for
// bit, the factors' ranges, codes that decode back to the calibrated values exactly (what the GGUF export writes),
// and gradients that reach the weights and the learned clipping.
#include "aq/error.h"
#include "quantizer.h"
#include "transforms.h"

#include <torch/torch.h>

#include <QtTest>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

using namespace aq::detail;
using aq::WeightGrid;

namespace {

const WeightGrid kGrids[] = {WeightGrid::Q4_K, WeightGrid::Q5_K, WeightGrid::Q6_K, WeightGrid::Q3_K, WeightGrid::Q2_K};

/// The grid's rules, one super-block at a time, written from the description in quantizer.h: clipped extremes
/// (sigmoid of the LWC parameters times max and min), sub-block scales (and minimums) rounded to integers against a
/// binary16 super-block factor, then codes and (d·sc)·q − dmin·m.
struct Reference {
    int sub, qMin, qMax, scMin, scMax, mMax;
    bool hasMin;

    static float half(float x) { return static_cast<float>(static_cast<_Float16>(x)); }
    static float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

    /// y for one row of `n` weights (n a multiple of 256); u/l: LWC parameters per sub-block, or null.
    void row(const float* x, int64_t n, const float* u, const float* l, float* y) const
    {
        const int subs = 256 / sub;
        for (int64_t b = 0; b < n / 256; ++b) {
            std::vector<float> scale(subs), minimum(subs);
            for (int j = 0; j < subs; ++j) {
                const float* s = x + b * 256 + j * sub;
                float mx = *std::max_element(s, s + sub), mn = *std::min_element(s, s + sub);
                if (u) {
                    mx = sigmoid(u[b * subs + j]) * mx;
                    mn = sigmoid(l[b * subs + j]) * mn;
                }
                if (hasMin) {
                    mx = std::max(mx, 0.0f);
                    mn = std::min(mn, 0.0f);
                    scale[j] = (mx - mn) / static_cast<float>(qMax);
                    minimum[j] = -mn;
                } else {
                    scale[j] = (-mn >= mx ? -mn : -mx) / static_cast<float>(-qMin);
                }
            }
            float smax = 0, mmax = 0;
            for (int j = 0; j < subs; ++j) {
                smax = std::max(smax, std::fabs(scale[j]));
                mmax = std::max(mmax, minimum[j]);
            }
            const float d = half(smax / static_cast<float>(scMax));
            const float dmin = hasMin ? half(mmax / static_cast<float>(mMax)) : 0.0f;
            for (int j = 0; j < subs; ++j) {
                // Integers: "+ 0.0f" drops the sign of a zero that nearbyint keeps.
                const float sc =
                    d == 0 ? 0.0f : std::clamp(std::nearbyint(scale[j] / d), float(scMin), float(scMax)) + 0.0f;
                const float m =
                    !hasMin || dmin == 0 ? 0.0f : std::clamp(std::nearbyint(minimum[j] / dmin), 0.0f, float(mMax)) + 0.0f;
                const float eff = d * sc, off = dmin * m;
                for (int i = 0; i < sub; ++i) {
                    const int64_t k = b * 256 + j * sub + i;
                    // Codes are integers: a code of zero is +0 (nearbyint keeps the sign of a small negative).
                    const float q = eff == 0 ? 0.0f
                                             : std::clamp(std::nearbyint((x[k] + off) / eff), float(qMin), float(qMax)) +
                                                   0.0f;
                    y[k] = hasMin ? eff * q - off : eff * q;
                }
            }
        }
    }
};

Reference referenceOf(WeightGrid g)
{
    switch (g) {
    case WeightGrid::Q4_K: return {32, 0, 15, 0, 63, 63, true};
    case WeightGrid::Q5_K: return {32, 0, 31, 0, 63, 63, true};
    case WeightGrid::Q6_K: return {16, -32, 31, -128, 127, 0, false};
    case WeightGrid::Q3_K: return {16, -4, 3, -32, 31, 0, false};
    case WeightGrid::Q2_K: return {16, 0, 3, 0, 15, 15, true};
    default: break;
    }
    return {};
}

WeightQuantSpec specOf(WeightGrid g)
{
    const KQuantLayout& L = kquantLayout(g);
    WeightQuantSpec s;
    s.bits = L.bits;
    s.groupSize = L.subBlock;
    s.grid = g;
    return s;
}

/// Weights like a trained model's: normal rows with a few outliers, an all-positive row, an all-negative row, a row
/// of zeros and a sub-block of zeros, scaled over several orders of magnitude.
torch::Tensor makeWeights(int64_t rows, int64_t n)
{
    auto w = torch::randn({rows, n}) * 0.02;
    auto idx = torch::randint(n, {rows, 3});
    w.scatter_(1, idx, torch::randn({rows, 3}) * 0.3);
    w[1] = w[1].abs() + 0.01;
    w[2] = -w[2].abs() - 0.01;
    w[3].zero_();
    w[4].narrow(0, 32, 32).zero_();
    w[5] = w[5] * 1e-4;
    w[6] = w[6] * 50;
    return w.contiguous();
}

int64_t bitDifferences(const torch::Tensor& a, const torch::Tensor& b)
{
    const auto x = a.contiguous(), y = b.contiguous();
    int64_t n = 0;
    for (int64_t i = 0; i < x.numel(); ++i)
        n += std::memcmp(x.data_ptr<float>() + i, y.data_ptr<float>() + i, sizeof(float)) != 0;
    return n;
}

}  // namespace

class TestKQuant : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { torch::manual_seed(7); }

    void matchesTheScalarRules_data()
    {
        QTest::addColumn<int>("grid");
        QTest::addColumn<bool>("lwc");
        for (WeightGrid g : kGrids) {
            const QByteArray name = aq::weightGridName(g);
            QTest::newRow(name + " min/max") << int(g) << false;
            QTest::newRow(name + " learned clipping") << int(g) << true;
        }
    }
    void matchesTheScalarRules()
    {
        // Forward values bitwise equal to the scalar rules: the two compute the same float32 operations in the same
        // order, so any difference is a mistake in one of them (tolerance: none).
        QFETCH(int, grid);
        QFETCH(bool, lwc);
        const WeightGrid g = WeightGrid(grid);
        const WeightQuantSpec spec = specOf(g);
        const int64_t rows = 12, n = 768;
        const auto w = makeWeights(rows, n);
        torch::Tensor u, l;
        if (lwc) {
            u = torch::rand({rows, n / spec.groupSize}) * 6 - 1;  // sigmoid 0.27 .. 0.99
            l = torch::rand({rows, n / spec.groupSize}) * 6 - 1;
        }
        const auto y = fakeQuantWeight(w, spec, u, l);
        QCOMPARE(y.scalar_type(), torch::kFloat32);
        auto ref = torch::empty_like(w);
        const Reference R = referenceOf(g);
        for (int64_t r = 0; r < rows; ++r)
            R.row(w[r].data_ptr<float>(), n, lwc ? u[r].contiguous().data_ptr<float>() : nullptr,
                  lwc ? l[r].contiguous().data_ptr<float>() : nullptr, ref[r].data_ptr<float>());
        if (bitDifferences(y, ref) != 0) {
            const auto bad = (y != ref).logical_or(torch::signbit(y) != torch::signbit(ref)).nonzero();
            for (int64_t i = 0; i < std::min<int64_t>(bad.size(0), 5); ++i) {
                const int64_t r = bad[i][0].item<int64_t>(), c = bad[i][1].item<int64_t>();
                qWarning("row %lld col %lld: w %.9g ours %.9g reference %.9g", (long long)r, (long long)c,
                         w[r][c].item<double>(), y[r][c].item<double>(), ref[r][c].item<double>());
            }
        }
        QCOMPARE(bitDifferences(y, ref), int64_t(0));
        // The zero row stays zero; the weights move by less than the grid's reach.
        QCOMPARE(y[3].abs().max().item<float>(), 0.0f);
        QVERIFY(torch::isfinite(y).all().item<bool>());
    }

    void factorsAreTheStoredGrid_data()
    {
        QTest::addColumn<int>("grid");
        for (WeightGrid g : kGrids)
            QTest::newRow(aq::weightGridName(g)) << int(g);
    }
    void factorsAreTheStoredGrid()
    {
        // What the export relies on: binary16 super-block factors, whole sub-block scales and minimums in their
        // ranges, and codes recovered from the fake-quantized weights that decode to those weights exactly.
        QFETCH(int, grid);
        const WeightGrid g = WeightGrid(grid);
        const WeightQuantSpec spec = specOf(g);
        const KQuantLayout& L = kquantLayout(g);
        const int64_t rows = 10, n = 512;
        const auto w = makeWeights(rows, n);
        const auto u = torch::rand({rows, n / L.subBlock}) * 6 - 1, l = torch::rand({rows, n / L.subBlock}) * 6 - 1;
        const auto y = fakeQuantWeight(w, spec, u, l);
        const KQuantFactors f = kquantFactors(w, spec, u, l);
        QCOMPARE(f.d.sizes().vec(), (std::vector<int64_t>{rows, n / 256}));
        QCOMPARE(f.sc.sizes().vec(), (std::vector<int64_t>{rows, n / L.subBlock}));
        QCOMPARE(bitDifferences(f.d, f.d.to(torch::kHalf).to(torch::kFloat32)), int64_t(0));
        QCOMPARE(bitDifferences(f.dmin, f.dmin.to(torch::kHalf).to(torch::kFloat32)), int64_t(0));
        QVERIFY(f.sc.eq(f.sc.round()).all().item<bool>());
        QVERIFY(f.m.eq(f.m.round()).all().item<bool>());
        QVERIFY(f.sc.min().item<float>() >= L.scMin && f.sc.max().item<float>() <= L.scMax);
        QVERIFY(f.m.min().item<float>() >= 0 && f.m.max().item<float>() <= (L.hasMin ? L.mMax : 0));
        QVERIFY(f.d.min().item<float>() >= 0);

        const auto codes = kquantCodes(y, g, f);
        QVERIFY(codes.eq(codes.round()).all().item<bool>());
        QVERIFY(codes.min().item<float>() >= 0 && codes.max().item<float>() <= (1 << L.bits) - 1);
        QCOMPARE(bitDifferences(kquantValues(codes, g, f), y), int64_t(0));
        // From the weights in binary16 (a float16 model's storage), the same codes come back.
        QVERIFY(kquantCodes(y.to(torch::kHalf).to(torch::kFloat32), g, f).equal(codes));
        // The scale and zero form (reports, the weight view's grid) describes the same values up to rounding, where
        // a sub-block's scale is not zero (a zero scale leaves the single value -dmin·m, which that form cannot hold).
        const QuantParams p = weightQuantParams(w, spec, u, l);
        const auto scale = p.scale.repeat_interleave(L.subBlock, 1), zero = p.zero.repeat_interleave(L.subBlock, 1);
        const auto viaParams = (codes - zero) * scale;
        const auto rowReach = std::get<0>(y.abs().max(1, true));
        QVERIFY((viaParams - y).abs().le(rowReach * 1e-5).logical_or(scale == 0).all().item<bool>());
    }

    void gradientsReachWeightsAndClipping()
    {
        // Straight-through rounding: inside the grid's range a weight's gradient is 1; the clipping parameters get
        // finite gradients, and not all zero.
        for (WeightGrid g : kGrids) {
            const WeightQuantSpec spec = specOf(g);
            const int64_t rows = 8, n = 512;
            auto w = makeWeights(rows, n).requires_grad_(true);
            auto u = torch::full({rows, n / spec.groupSize}, 4.0).requires_grad_(true);
            auto l = torch::full({rows, n / spec.groupSize}, 4.0).requires_grad_(true);
            const auto y = fakeQuantWeight(w, spec, u, l);
            (y * torch::randn_like(y)).sum().backward();
            QVERIFY2(torch::isfinite(w.grad()).all().item<bool>(), aq::weightGridName(g));
            QVERIFY2(torch::isfinite(u.grad()).all().item<bool>() && torch::isfinite(l.grad()).all().item<bool>(),
                     aq::weightGridName(g));
            QVERIFY2(u.grad().abs().sum().item<float>() > 0, aq::weightGridName(g));
            QVERIFY2(l.grad().abs().sum().item<float>() > 0, aq::weightGridName(g));
        }
    }

    void clippingSearchStartsCloserToTheWeights()
    {
        // --lwc-init-search: each group (k-quant: super-block) starts at the ladder's factor with the least squared
        // error, so none is worse than at the default start, and some start clipped.
        for (WeightGrid g : {WeightGrid::Uniform, WeightGrid::Q4_K, WeightGrid::Q3_K}) {
            WeightQuantSpec spec = g == WeightGrid::Uniform ? WeightQuantSpec{} : specOf(g);
            if (g == WeightGrid::Uniform)
                spec.groupSize = 64;
            const int64_t rows = 16, n = 512, groups = n / spec.groupSize;
            const auto w = makeWeights(rows, n);
            BlockWeights bw;
            bw.tensors["lin.weight"] = w;
            BlockTransforms t;
            t.lwc["lin"] = {torch::full({rows, groups}, 4.0), torch::full({rows, groups}, 4.0)};
            const auto errors = [&](const torch::Tensor& u, const torch::Tensor& l) {
                return (fakeQuantWeight(w, spec, u, l) - w).pow(2).view({rows, groups, -1}).sum(-1);
            };
            const auto before = errors(t.lwc["lin"].first, t.lwc["lin"].second);
            searchClipping(t, bw, {{"lin", spec}});
            const auto& [u, l] = t.lwc["lin"];
            QVERIFY(u.equal(l));
            QVERIFY(u.le(4.0).all().item<bool>() && torch::sigmoid(u).ge(0.70).all().item<bool>());
            // Per group for the uniform grid; per super-block for a k-quant grid (its sub-blocks share one factor).
            const int64_t together = g == WeightGrid::Uniform ? 1 : 256 / spec.groupSize;
            const auto after = errors(u, l).view({rows, groups / together, together}).sum(-1);
            QVERIFY(after.le(before.view({rows, groups / together, together}).sum(-1)).all().item<bool>());
            QVERIFY(u.view({rows, groups / together, together}).eq(u.view({rows, groups / together, together})
                                                                       .narrow(2, 0, 1)).all().item<bool>());
            QVERIFY2(u.lt(4.0).any().item<bool>(), aq::weightGridName(g));  // some group found a tighter start
        }
    }

    void rowsOfPartialSuperBlocksAreRefused()
    {
        const WeightQuantSpec spec = specOf(WeightGrid::Q4_K);
        bool refused = false;
        try {
            fakeQuantWeight(torch::randn({4, 288}), spec);
        } catch (const aq::Error& e) {
            refused = QString::fromUtf8(e.what()).contains(QStringLiteral("256"));
        }
        QVERIFY(refused);
    }
};

QTEST_APPLESS_MAIN(TestKQuant)
#include "tst_kquant.moc"
