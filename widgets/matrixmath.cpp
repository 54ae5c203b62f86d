#include "matrixmath.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace aq::widgets::matrixmath {

long long bandWidth(long long d, int epochs, int epoch)
{
    if (epochs <= 1 || d <= 1)
        return 1;
    // Same expression and evaluation order as the reference: the quotient first, then the product, then truncation
    // (for d = 4096, E = 20 the last epoch gives 4095, not 4096; spec §5.1).
    const double step = double(d - 1) / double(epochs - 1);
    const long long n = static_cast<long long>(std::floor(step * double(std::max(epoch, 0)))) + 1;
    return std::min(n, d);
}

QVector<double> bandMask(int n, long long bandWidth, double stabilityFactor)
{
    QVector<double> m(qsizetype(n) * n, 0.0);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
            const long long offset = std::abs(i - j);
            if (offset == 0)
                m[qsizetype(i) * n + j] = 1.0;
            else if (offset <= bandWidth - 1)
                m[qsizetype(i) * n + j] = stabilityFactor;
        }
    return m;
}

QVector<double> hadamard(const QVector<double>& a, const QVector<double>& b)
{
    QVector<double> r(std::min(a.size(), b.size()));
    for (qsizetype i = 0; i < r.size(); ++i)
        r[i] = a[i] * b[i];
    return r;
}

QVector<double> rowMargins(const QVector<double>& a, int n)
{
    QVector<double> margins(n, 0.0);
    for (int i = 0; i < n; ++i) {
        double off = 0;
        for (int j = 0; j < n; ++j)
            if (j != i)
                off += std::abs(a[qsizetype(i) * n + j]);
        margins[i] = std::abs(a[qsizetype(i) * n + i]) - off;
    }
    return margins;
}

bool isStrictlyDiagonallyDominant(const QVector<double>& a, int n)
{
    const QVector<double> margins = rowMargins(a, n);
    return std::all_of(margins.begin(), margins.end(), [](double m) { return m > 0; });
}

namespace {

double norm1(const QVector<double>& a, int n)
{
    double best = 0;
    for (int j = 0; j < n; ++j) {
        double col = 0;
        for (int i = 0; i < n; ++i)
            col += std::abs(a[qsizetype(i) * n + j]);
        best = std::max(best, col);
    }
    return best;
}

}  // namespace

Inversion invert(const QVector<double>& a, int n, double relativeTolerance)
{
    Inversion result;
    if (n <= 0 || a.size() != qsizetype(n) * n)
        return result;
    double scale = 0;
    for (double v : a)
        scale = std::max(scale, std::abs(v));
    if (scale == 0)
        return result;
    const double tolerance = relativeTolerance * scale;

    QVector<double> m = a;                       // reduced in place to the identity
    QVector<double> inv(qsizetype(n) * n, 0.0);  // receives the same row operations, starting from the identity
    for (int i = 0; i < n; ++i)
        inv[qsizetype(i) * n + i] = 1.0;
    auto at = [n](QVector<double>& x, int r, int c) -> double& { return x[qsizetype(r) * n + c]; };

    double det = 1.0;
    for (int col = 0; col < n; ++col) {
        // Partial pivoting: the largest entry of the column bounds the multipliers by 1 and keeps rounding small.
        int pivot = col;
        for (int r = col + 1; r < n; ++r)
            if (std::abs(at(m, r, col)) > std::abs(at(m, pivot, col)))
                pivot = r;
        const double p = at(m, pivot, col);
        if (std::abs(p) <= tolerance)
            return result;  // singular (up to rounding)
        if (pivot != col) {
            for (int c = 0; c < n; ++c) {
                std::swap(at(m, pivot, c), at(m, col, c));
                std::swap(at(inv, pivot, c), at(inv, col, c));
            }
            det = -det;
        }
        det *= p;
        for (int c = 0; c < n; ++c) {
            at(m, col, c) /= p;
            at(inv, col, c) /= p;
        }
        for (int r = 0; r < n; ++r) {
            if (r == col)
                continue;
            const double f = at(m, r, col);
            if (f == 0)
                continue;
            for (int c = 0; c < n; ++c) {
                at(m, r, c) -= f * at(m, col, c);
                at(inv, r, c) -= f * at(inv, col, c);
            }
        }
    }
    result.invertible = true;
    result.determinant = det;
    result.inverse = std::move(inv);
    result.conditionEstimate = norm1(a, n) * norm1(result.inverse, n);
    return result;
}

QVector<double> multiply(const QVector<double>& a, const QVector<double>& b, int n)
{
    QVector<double> r(qsizetype(n) * n, 0.0);
    for (int i = 0; i < n; ++i)
        for (int k = 0; k < n; ++k) {
            const double aik = a[qsizetype(i) * n + k];
            for (int j = 0; j < n; ++j)
                r[qsizetype(i) * n + j] += aik * b[qsizetype(k) * n + j];
        }
    return r;
}

}  // namespace aq::widgets::matrixmath
