#pragma once
// Small dense-matrix arithmetic for the teaching and mask-schedule views. Deliberately plain C++ (no engine, no
// torch): the widgets must not depend on core, and 8 x 8 matrices need nothing more.
#include <QVector>

#include <complex>

namespace aq::widgets::matrixmath {

/// Number of included diagonals of the gradual mask at 0-based `epoch` of `epochs` for a d x d matrix:
/// N_e = floor(((d - 1) / (E - 1)) * e) + 1, evaluated in double and truncated; E <= 1 gives 1 (diagonal only).
/// This mirrors spec §5.1 and core's aq::maskBandWidth; it is repeated here because widgets must not link core. The
/// teaching view's small matrices use it; the window hands the mask preview the engine's own function.
long long bandWidth(long long d, int epochs, int epoch);

/// The n x n banded mask (row-major): 1 on the diagonal, `stabilityFactor` where 0 < |i - j| <= bandWidth - 1, 0
/// elsewhere.
QVector<double> bandMask(int n, long long bandWidth, double stabilityFactor);

/// Element-wise product (the masked matrix A = S ⊙ M).
QVector<double> hadamard(const QVector<double>& a, const QVector<double>& b);

/// Per-row margins |a_ii| - sum_{j != i} |a_ij| of an n x n row-major matrix.
QVector<double> rowMargins(const QVector<double>& a, int n);
/// True when every row margin is strictly positive.
bool isStrictlyDiagonallyDominant(const QVector<double>& a, int n);

struct Inversion {
    bool invertible = false;
    double determinant = 0;
    QVector<double> inverse;  ///< row-major n x n; empty when not invertible
    double conditionEstimate = 0;  ///< ||A||_1 * ||A^-1||_1; 0 when not invertible
};

/// Gauss-Jordan elimination with partial pivoting. A pivot below `relativeTolerance` times the largest entry of A
/// counts as zero, so a matrix that is singular up to rounding is reported as singular.
Inversion invert(const QVector<double>& a, int n, double relativeTolerance = 1e-12);

/// Product of two n x n row-major matrices.
QVector<double> multiply(const QVector<double>& a, const QVector<double>& b, int n);

/// The leading principal k x k block A[0..k-1, 0..k-1] of an n x n row-major matrix (k clamped to [0, n]).
QVector<double> leadingBlock(const QVector<double>& a, int n, int k);

/// Gershgorin disc of one row in the complex plane: centre a_ii (real for a real matrix), radius sum_{j != i} |a_ij|.
/// It contains 0 exactly when the row is not strictly diagonally dominant.
struct Disc {
    double centre = 0;
    double radius = 0;
};
QVector<Disc> gershgorinDiscs(const QVector<double>& a, int n);

/// Eigenvalues of a real n x n row-major matrix (in no particular order): Householder reduction to Hessenberg form,
/// then shifted QR steps in complex arithmetic with deflation. Empty when the iteration did not converge (it does for
/// every matrix the views show; the limit only guards against a hang on NaN input).
QVector<std::complex<double>> eigenvalues(const QVector<double>& a, int n);

}  // namespace aq::widgets::matrixmath
