// GPTQ rounding (gptq_rounding.cpp) against a reference written here the way the method was first described: plain
// double loops over an explicit inverse of the Gram matrix that is downdated after every rounded column, no Cholesky
// factor, no batching. Also: every value lies on the grid the learned clipping fixes (the codes an export recovers
// decode back bit for bit), uncorrelated inputs give nearest rounding exactly, correlated ones a smaller output error.
#include "aq/error.h"
#include "gptq_rounding.h"
#include "quantizer.h"

#include <torch/torch.h>

#include <QtTest>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

using namespace aq::detail;
using aq::WeightGrid;

namespace {

struct Case {
    const char* name;
    WeightQuantSpec spec;
    int64_t in;
    bool lwc;
};

std::vector<Case> cases()
{
    auto uniform = [](int bits, int64_t group, bool symmetric) {
        WeightQuantSpec s;
        s.bits = bits;
        s.groupSize = group;
        s.symmetric = symmetric;
        return s;
    };
    auto kquant = [](WeightGrid g) {
        WeightQuantSpec s;
        s.grid = g;
        s.bits = g == WeightGrid::Q4_K ? 4 : g == WeightGrid::Q6_K ? 6 : g == WeightGrid::Q3_K ? 3 : 2;
        s.groupSize = g == WeightGrid::Q4_K ? 32 : 16;
        s.symmetric = g == WeightGrid::Q6_K || g == WeightGrid::Q3_K;
        return s;
    };
    return {{"uniform 4-bit, groups of 32, clipping", uniform(4, 32, false), 256, true},
            {"uniform 3-bit symmetric, per channel", uniform(3, 0, true), 192, false},
            {"uniform 4-bit, partial last group", uniform(4, 32, false), 80, true},
            {"q4_k, clipping", kquant(WeightGrid::Q4_K), 512, true},
            {"q6_k", kquant(WeightGrid::Q6_K), 256, false},
            {"q3_k, clipping", kquant(WeightGrid::Q3_K), 256, true},
            {"q2_k, clipping", kquant(WeightGrid::Q2_K), 512, true}};
}

/// Inputs whose channels are mixed (so the Gram matrix has large off-diagonal entries) and of unequal energy.
torch::Tensor correlatedInputs(int64_t tokens, int64_t in, uint64_t seed)
{
    torch::manual_seed(seed);
    const auto z = torch::randn({tokens, in});
    const auto mix = torch::eye(in) + 0.4 * torch::randn({in, in}) / std::sqrt(static_cast<double>(in));
    const auto energy = torch::exp(0.8 * torch::randn({in}));
    return z.matmul(mix) * energy;
}

struct Inputs {
    torch::Tensor w, upper, lower, gram;
};

Inputs inputsFor(const Case& c, uint64_t seed)
{
    torch::manual_seed(seed);
    Inputs r;
    r.w = torch::randn({12, c.in}) * 0.05;
    const int64_t groups = c.spec.grid != WeightGrid::Uniform ? c.in / c.spec.groupSize
                                                              : groupsPerRow(c.in, c.spec.groupSize);
    if (c.lwc) {
        r.upper = 2.0 + 0.5 * torch::randn({12, groups});
        r.lower = 2.0 + 0.5 * torch::randn({12, groups});
    }
    InputGram g;
    g.add(correlatedInputs(600, c.in, seed + 1));
    r.gram = g.matrix();
    return r;
}

/// The grid of one weight as numbers: its value of a code, and the range of codes (from the recorded factors, which
/// tst_kquant and tst_quantizer check on their own).
struct Grid {
    std::vector<double> step, shift;  // per weight
    bool uniform = true, hasMin = false;
    double lo = 0, hi = 0;
    int64_t out = 0, in = 0;

    /// In float32, one rounding per operation, as the quantizer and llama.cpp's decoder compute it.
    double value(int64_t r, int64_t j, double code) const
    {
        const float s = static_cast<float>(step[r * in + j]), z = static_cast<float>(shift[r * in + j]);
        const float c = static_cast<float>(code);
        if (uniform)
            return (c - z) * s;
        const float y = s * c;
        return hasMin ? y - z : y;
    }
    /// The nearest value of the grid to x (codes clamped to the range).
    double nearest(int64_t r, int64_t j, double x) const
    {
        const double s = step[r * in + j], z = shift[r * in + j];
        if (!uniform && s == 0)
            return value(r, j, 0);
        double code = uniform ? std::nearbyint(x / s) + z : std::nearbyint((x + z) / s);
        code = std::clamp(code, lo, hi);
        return value(r, j, code);
    }
    /// x's code if x is exactly a value of the grid, else NaN.
    double codeOf(int64_t r, int64_t j, float x) const
    {
        for (double c = lo; c <= hi; c += 1)
            if (static_cast<float>(value(r, j, c)) == x)
                return c;
        return std::nan("");
    }
};

std::vector<double> doubles(const torch::Tensor& t)
{
    const auto c = t.to(torch::kFloat64).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

Grid gridOf(const Case& c, const Inputs& x)
{
    Grid g;
    g.out = x.w.size(0);
    g.in = x.w.size(1);
    if (c.spec.grid == WeightGrid::Uniform) {
        const QuantParams p = weightQuantParams(x.w, c.spec, x.upper, x.lower);
        const auto s = doubles(p.scale), z = doubles(p.zero);
        const int64_t groups = p.scale.size(1), size = groups == 1 ? g.in : c.spec.groupSize;
        for (int64_t r = 0; r < g.out; ++r)
            for (int64_t j = 0; j < g.in; ++j) {
                g.step.push_back(static_cast<float>(s[r * groups + j / size]));
                g.shift.push_back(z[r * groups + j / size]);
            }
        g.hi = std::ldexp(1.0, c.spec.bits) - 1;
        return g;
    }
    const KQuantLayout& L = kquantLayout(c.spec.grid);
    const KQuantFactors f = kquantFactors(x.w, c.spec, x.upper, x.lower);
    const auto d = doubles(f.d), dmin = doubles(f.dmin), sc = doubles(f.sc), m = doubles(f.m);
    const int64_t supers = g.in / 256, subs = g.in / L.subBlock;
    for (int64_t r = 0; r < g.out; ++r)
        for (int64_t j = 0; j < g.in; ++j) {
            // One float32 product each, as the decoder forms d·sc and dmin·m.
            g.step.push_back(static_cast<float>(static_cast<float>(d[r * supers + j / 256]) *
                                                static_cast<float>(sc[r * subs + j / L.subBlock])));
            g.shift.push_back(static_cast<float>(static_cast<float>(dmin[r * supers + j / 256]) *
                                                 static_cast<float>(m[r * subs + j / L.subBlock])));
        }
    g.uniform = false;
    g.hasMin = L.hasMin;
    g.lo = L.qMin;
    g.hi = L.qMax;
    return g;
}

/// The method as first described, in double: columns in order of decreasing Gram diagonal, each rounded to its
/// nearest grid value, its error divided by the inverse's diagonal entry and subtracted, times that inverse row,
/// from the columns left; then the inverse restricted to the columns left (a rank-one downdate).
std::vector<double> referenceRound(const Grid& g, const torch::Tensor& w, const torch::Tensor& gram)
{
    const int64_t out = g.out, n = g.in;
    std::vector<double> h = doubles(gram);
    for (int64_t j = 0; j < n; ++j)
        if (h[j * n + j] == 0)
            h[j * n + j] = 1;
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return h[a * n + a] > h[b * n + b]; });
    double mean = 0;
    for (int64_t j = 0; j < n; ++j)
        mean += h[j * n + j] / static_cast<double>(n);
    std::vector<double> hp(n * n);
    for (int64_t a = 0; a < n; ++a)
        for (int64_t b = 0; b < n; ++b)
            hp[a * n + b] = h[order[a] * n + order[b]] + (a == b ? kGptqDamping * mean : 0.0);
    std::vector<double> inv = doubles(torch::inverse(torch::from_blob(hp.data(), {n, n}, torch::kFloat64)));
    std::vector<double> W = doubles(w), Q(out * n);
    for (int64_t k = 0; k < n; ++k) {
        const int64_t col = order[k];
        const double dkk = inv[k * n + k];
        for (int64_t r = 0; r < out; ++r) {
            const double x = W[r * n + col];
            const double q = g.nearest(r, col, x);
            Q[r * n + col] = q;
            const double e = (x - q) / dkk;
            for (int64_t j = k + 1; j < n; ++j)
                W[r * n + order[j]] -= e * inv[k * n + j];
        }
        for (int64_t a = k + 1; a < n; ++a)
            for (int64_t b = k + 1; b < n; ++b)
                inv[a * n + b] -= inv[a * n + k] * inv[k * n + b] / dkk;
    }
    return Q;
}

/// trace((W − Q) H (W − Q)ᵀ): the output error over the inputs H sums.
double outputError(const torch::Tensor& w, const torch::Tensor& q, const torch::Tensor& gram)
{
    const auto e = (w - q).to(torch::kFloat64);
    return (e.matmul(gram.to(torch::kFloat64)) * e).sum().item<double>();
}

}  // namespace

class TestGptqRounding : public QObject {
    Q_OBJECT

private slots:
    void valuesLieOnTheLearnedGrid()
    {
        for (const Case& c : cases()) {
            const Inputs x = inputsFor(c, 7);
            const auto q = gptqRound(x.w, x.gram, c.spec, x.upper, x.lower, "test");
            QCOMPARE(q.sizes(), x.w.sizes());
            const Grid g = gridOf(c, x);
            const std::vector<double> v = doubles(q);
            int64_t off = 0;
            for (int64_t r = 0; r < g.out; ++r)
                for (int64_t j = 0; j < g.in; ++j)
                    if (std::isnan(g.codeOf(r, j, static_cast<float>(v[r * g.in + j]))))
                        ++off;
            if (off != 0)
                QFAIL(qPrintable(QString("%1: %2 values off the grid").arg(c.name).arg(off)));
            // What an export does: codes recovered against the recorded factors decode to the same floats.
            if (c.spec.grid != WeightGrid::Uniform) {
                const KQuantFactors f = kquantFactors(x.w, c.spec, x.upper, x.lower);
                const auto back = kquantValues(kquantCodes(q, c.spec.grid, f), c.spec.grid, f);
                QVERIFY2(torch::equal(back, q), c.name);
            }
        }
    }

    void agreesWithTheReferenceSweep()
    {
        // Float32 against double: a value may round the other way where it lies within a rounding error of a
        // midpoint, and the error feedback then carries the difference on. At most 1 % of the values may differ, and
        // the output error must agree within 1 %.
        for (const Case& c : cases()) {
            const Inputs x = inputsFor(c, 11);
            const auto q = gptqRound(x.w, x.gram, c.spec, x.upper, x.lower, "test");
            const Grid g = gridOf(c, x);
            const std::vector<double> ref = referenceRound(g, x.w, x.gram);
            const std::vector<double> got = doubles(q);
            int64_t differ = 0;
            for (size_t i = 0; i < ref.size(); ++i)
                if (static_cast<float>(ref[i]) != static_cast<float>(got[i]))
                    ++differ;
            const double share = static_cast<double>(differ) / static_cast<double>(ref.size());
            const auto refT = torch::tensor(ref, torch::kFloat64).reshape(x.w.sizes());
            const double eRef = outputError(x.w, refT, x.gram), eGot = outputError(x.w, q, x.gram);
            qInfo("%s: %.3f %% of the values differ from the reference; output error %.6g (reference %.6g)", c.name,
                  100 * share, eGot, eRef);
            QVERIFY2(share <= 0.01, c.name);
            QVERIFY2(std::fabs(eGot - eRef) <= 0.01 * eRef, c.name);
        }
    }

    void uncorrelatedInputsGiveNearestRounding()
    {
        // A diagonal Gram matrix has a diagonal inverse: no error is carried to other columns, so every weight goes
        // to its nearest grid value, exactly as the fake quantizer rounds it.
        for (const Case& c : cases()) {
            Inputs x = inputsFor(c, 13);
            x.gram = torch::diag(torch::exp(torch::randn({c.in})));
            const auto q = gptqRound(x.w, x.gram, c.spec, x.upper, x.lower, "test");
            QVERIFY2(torch::equal(q, fakeQuantWeight(x.w, c.spec, x.upper, x.lower)), c.name);
        }
    }

    void correlatedInputsLowerTheOutputError()
    {
        for (const Case& c : cases()) {
            const Inputs x = inputsFor(c, 17);
            const auto nearest = fakeQuantWeight(x.w, c.spec, x.upper, x.lower);
            const auto q = gptqRound(x.w, x.gram, c.spec, x.upper, x.lower, "test");
            const double eNearest = outputError(x.w, nearest, x.gram), eGptq = outputError(x.w, q, x.gram);
            qInfo("%s: output error %.6g, nearest rounding %.6g (%.1f %% less)", c.name, eGptq, eNearest,
                  100 * (1 - eGptq / eNearest));
            QVERIFY2(eGptq < 0.9 * eNearest, c.name);
        }
    }

    void silentInputsAndBadStatistics()
    {
        const Case c = cases()[0];
        Inputs x = inputsFor(c, 19);
        // Inputs that never carried anything: their weights still go onto the grid, nothing becomes NaN.
        auto inputs = correlatedInputs(300, c.in, 20);
        inputs.narrow(1, 5, 3).zero_();
        InputGram g;
        g.add(inputs);
        const auto q = gptqRound(x.w, g.matrix(), c.spec, x.upper, x.lower, "test");
        QVERIFY(torch::isfinite(q).all().item<bool>());
        // Non-finite statistics are refused with the setting to turn off.
        auto bad = g.matrix().clone();
        bad[3][3] = std::nanf("");
        try {
            gptqRound(x.w, bad, c.spec, x.upper, x.lower, "'mlp.up_proj'");
            QFAIL("non-finite input statistics were accepted");
        } catch (const aq::Error& e) {
            QCOMPARE(e.code(), aq::ErrorCode::Numerical);
            QVERIFY(QString(e.what()).contains("mlp.up_proj"));
            QVERIFY(QString(e.what()).contains("--gptq-rounding"));
        }
        // Statistics of the wrong size are a bug, said as one.
        QVERIFY_THROWS_EXCEPTION(aq::Error, gptqRound(x.w, torch::eye(c.in + 1), c.spec, x.upper, x.lower, "test"));
    }
};

QTEST_APPLESS_MAIN(TestGptqRounding)
#include "tst_gptq_rounding.moc"
