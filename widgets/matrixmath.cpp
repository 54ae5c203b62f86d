#include "matrixmath.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

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

QVector<double> leadingBlock(const QVector<double>& a, int n, int k)
{
    k = std::clamp(k, 0, n);
    QVector<double> r(qsizetype(k) * k);
    for (int i = 0; i < k; ++i)
        for (int j = 0; j < k; ++j)
            r[qsizetype(i) * k + j] = a[qsizetype(i) * n + j];
    return r;
}

QVector<Disc> gershgorinDiscs(const QVector<double>& a, int n)
{
    QVector<Disc> discs(n);
    for (int i = 0; i < n; ++i) {
        double radius = 0;
        for (int j = 0; j < n; ++j)
            if (j != i)
                radius += std::abs(a[qsizetype(i) * n + j]);
        discs[i] = {a[qsizetype(i) * n + i], radius};
    }
    return discs;
}

QVector<std::complex<double>> eigenvalues(const QVector<double>& a, int n)
{
    using C = std::complex<double>;
    if (n <= 0 || a.size() != qsizetype(n) * n)
        return {};
    double scale = 0;
    for (double v : a) {
        if (!std::isfinite(v))
            return {};
        scale = std::max(scale, std::abs(v));
    }
    if (scale == 0)
        return QVector<C>(n, C(0, 0));

    // Householder reflections to upper Hessenberg form: a similarity, so the eigenvalues stay, and each QR step below
    // costs O(n^2) instead of O(n^3).
    QVector<double> h = a;
    auto at = [n](QVector<double>& x, int r, int c) -> double& { return x[qsizetype(r) * n + c]; };
    std::vector<double> v(n);
    for (int k = 0; k + 2 < n; ++k) {
        double norm = 0;
        for (int i = k + 1; i < n; ++i)
            norm += at(h, i, k) * at(h, i, k);
        norm = std::sqrt(norm);
        if (norm == 0)
            continue;
        // The sign that avoids cancellation in v[k+1].
        const double alpha = at(h, k + 1, k) > 0 ? -norm : norm;
        double vv = 0;
        for (int i = k + 1; i < n; ++i) {
            v[i] = at(h, i, k) - (i == k + 1 ? alpha : 0.0);
            vv += v[i] * v[i];
        }
        if (vv == 0)
            continue;
        for (int c = k; c < n; ++c) {  // from the left: rows k+1 .. n-1
            double dot = 0;
            for (int i = k + 1; i < n; ++i)
                dot += v[i] * at(h, i, c);
            const double f = 2 * dot / vv;
            for (int i = k + 1; i < n; ++i)
                at(h, i, c) -= f * v[i];
        }
        for (int r = 0; r < n; ++r) {  // from the right: columns k+1 .. n-1
            double dot = 0;
            for (int j = k + 1; j < n; ++j)
                dot += at(h, r, j) * v[j];
            const double f = 2 * dot / vv;
            for (int j = k + 1; j < n; ++j)
                at(h, r, j) -= f * v[j];
        }
        for (int i = k + 2; i < n; ++i)
            at(h, i, k) = 0;
    }

    // Shifted QR on the Hessenberg matrix in complex arithmetic: complex shifts find complex eigenvalues directly,
    // without the real double-shift bookkeeping. Only the unreduced trailing block [lo, hi] is iterated; once a
    // subdiagonal entry is negligible the matrix is block triangular and the blocks' eigenvalues are independent.
    std::vector<C> H(std::size_t(n) * n);
    for (qsizetype i = 0; i < h.size(); ++i)
        H[std::size_t(i)] = h[i];
    auto hc = [&H, n](int r, int c) -> C& { return H[std::size_t(r) * n + c]; };
    const double eps = std::numeric_limits<double>::epsilon();
    QVector<C> result;
    result.reserve(n);
    std::vector<double> cs(n);
    std::vector<C> sn(n);
    int hi = n - 1;
    int iterations = 0, sinceDeflation = 0;
    const int maxIterations = 60 * n;
    while (hi >= 0) {
        int lo = hi;
        while (lo > 0) {
            double local = std::abs(hc(lo, lo)) + std::abs(hc(lo - 1, lo - 1));
            if (local == 0)
                local = scale;
            if (std::abs(hc(lo, lo - 1)) <= eps * local) {
                hc(lo, lo - 1) = 0;
                break;
            }
            --lo;
        }
        if (lo == hi) {
            result.push_back(hc(hi, hi));
            --hi;
            sinceDeflation = 0;
            continue;
        }
        if (++iterations > maxIterations)
            return {};
        ++sinceDeflation;

        // Wilkinson shift: the eigenvalue of the trailing 2 x 2 block nearer to its last diagonal entry.
        const C p = hc(hi - 1, hi - 1), q = hc(hi - 1, hi), r = hc(hi, hi - 1), d = hc(hi, hi);
        const C half = (p + d) / 2.0;
        const C root = std::sqrt(half * half - (p * d - q * r));
        C mu = std::abs(half + root - d) < std::abs(half - root - d) ? half + root : half - root;
        if (sinceDeflation % 10 == 0)  // an exceptional shift breaks the rare cycles of the plain one
            mu = d + std::abs(r) * C(0.75, 0.4);

        for (int k = lo; k <= hi; ++k)
            hc(k, k) -= mu;
        // H - mu I = Q R by Givens rotations G_k = [c s; -conj(s) c] that zero the subdiagonal ...
        for (int k = lo; k < hi; ++k) {
            const C x = hc(k, k), y = hc(k + 1, k);
            const double ax = std::abs(x), norm = std::hypot(ax, std::abs(y));
            double c = 1;
            C s = 0;
            if (norm != 0) {
                if (ax == 0) {
                    c = 0;
                    s = 1;
                } else {
                    c = ax / norm;
                    s = (x / ax) * std::conj(y) / norm;
                }
            }
            for (int j = k; j <= hi; ++j) {
                const C u = hc(k, j), w = hc(k + 1, j);
                hc(k, j) = c * u + s * w;
                hc(k + 1, j) = -std::conj(s) * u + c * w;
            }
            cs[std::size_t(k)] = c;
            sn[std::size_t(k)] = s;
        }
        // ... then R Q + mu I, which keeps the Hessenberg form.
        for (int k = lo; k < hi; ++k) {
            const double c = cs[std::size_t(k)];
            const C s = sn[std::size_t(k)];
            for (int i = lo; i <= std::min(k + 2, hi); ++i) {
                const C u = hc(i, k), w = hc(i, k + 1);
                hc(i, k) = c * u + std::conj(s) * w;
                hc(i, k + 1) = -s * u + c * w;
            }
        }
        for (int k = lo; k <= hi; ++k)
            hc(k, k) += mu;
    }
    return result;
}

}  // namespace aq::widgets::matrixmath
