"""Arithmetic that gives the same bits on every CPU, for the demo's generator, training and
scoring (seed 004 section 4.2: an auditor re-running an analysis must get the same numbers,
so the demo data it runs on must be the same on every machine).

Why this cannot depend on the machine: every function here is a fixed sequence of numpy
element-wise ``+``, ``-``, ``*``, ``/``, ``sqrt``, comparisons, ``rint``, ``frexp`` and
``ldexp``. IEEE 754 defines each of these as the exactly rounded result of its operands, and
numpy runs every operator as its own ufunc over whole arrays, so no compiler can fuse two of
them into one FMA; whatever SIMD width numpy dispatches to, each element gets the same bits.
What is left out on purpose:

* BLAS (``@``, ``np.dot``, LAPACK solvers): OpenBLAS picks a kernel per CPU, and kernels
  split and order the additions of a dot product differently, so the last bits differ.
  ``fixed_order_dot`` and ``fixed_order_sum`` add in an order written down here instead.
* numpy's and the C library's ``exp``, ``log``, ``log1p``, ``power``: numpy dispatches
  float64 ``exp``/``log`` to AVX-512 code and ``log1p``/``power`` to SVML on CPUs that have
  it, and glibc picks FMA variants at load time; each is accurate to an ulp or so, but not
  the same ulp. ``exp`` and ``log`` below are accurate to a few ulps and identical
  everywhere, which is what a seeded demo needs.
"""

from __future__ import annotations

import numpy as np

# Cody and Waite's split of ln 2 (fdlibm): k * _LN2_HIGH is exact for the |k| < 2**11 used.
_LN2_HIGH = 6.93147180369123816490e-01
_LN2_LOW = 1.90821492927058770002e-10
_INVERSE_LN2 = 1.44269504088896338700e00
_EXP_TERMS = 14
_LOG_TERMS = 11
_SQRT_HALF = 0.70710678118654752440
# Acklam's rational approximation of the normal quantile (relative error below 1.2e-9).
_NDTRI_A = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
_NDTRI_B = (
    -5.447609879822406e01,
    1.615858368580409e02,
    -1.556989798598866e02,
    6.680131188771972e01,
    -1.328068155288572e01,
)
_NDTRI_C = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549671323129170e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
_NDTRI_D = (
    7.784695709041462e-03,
    3.224671290700398e-01,
    2.445134137142996e00,
    3.754408661907416e00,
)
_NDTRI_LOW = 0.02425
_GAMMA_BISECTIONS = 64
_GAMMA_UPPER = 64.0
_POISSON_MAX_COUNT = 200


def _float_array(values) -> np.ndarray:
    return np.array(values, dtype=np.float64, copy=True)


def exp(values) -> np.ndarray:
    """``e ** values``: ``2**k * exp(r)`` with ``|r| <= ln2 / 2`` and a Taylor polynomial."""
    x = np.clip(_float_array(values), -745.0, 709.0)
    k = np.rint(x * _INVERSE_LN2)
    r = (x - k * _LN2_HIGH) - k * _LN2_LOW
    polynomial = np.ones_like(r)
    for n in range(_EXP_TERMS, 0, -1):
        polynomial = 1.0 + polynomial * r / n
    return np.ldexp(polynomial, k.astype(np.int64))


def log(values) -> np.ndarray:
    """Natural logarithm of positive ``values``: ``k ln2 + 2 atanh((m - 1) / (m + 1))``."""
    x = _float_array(values)
    mantissa, exponent = np.frexp(x)
    small = mantissa < _SQRT_HALF
    mantissa = np.where(small, mantissa * 2.0, mantissa)
    k = (exponent - small).astype(np.float64)
    f = mantissa - 1.0
    s = f / (2.0 + f)
    s2 = s * s
    series = np.full_like(s, 1.0 / (2 * _LOG_TERMS - 1))
    for n in range(_LOG_TERMS - 2, -1, -1):
        series = 1.0 / (2 * n + 1) + s2 * series
    return k * _LN2_HIGH + (2.0 * s * series + k * _LN2_LOW)


def log1p(values) -> np.ndarray:
    """``log(1 + values)``, for the non-negative amounts the demo log-scales."""
    return log(1.0 + _float_array(values))


def power(base, exponent: float) -> np.ndarray:
    """``base ** exponent`` for non-negative ``base`` (0 stays 0)."""
    x = _float_array(base)
    positive = x > 0
    return np.where(positive, exp(exponent * log(np.where(positive, x, 1.0))), 0.0)


def expit(values) -> np.ndarray:
    """The logistic function ``1 / (1 + e ** -values)``."""
    return 1.0 / (1.0 + exp(-_float_array(values)))


def _polynomial(coefficients: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    result = np.full_like(x, coefficients[0])
    for coefficient in coefficients[1:]:
        result = result * x + coefficient
    return result


def ndtri(probabilities) -> np.ndarray:
    """The standard normal quantile of each probability in (0, 1), to about 1e-9."""
    p = np.clip(_float_array(probabilities), 1e-300, 1.0 - 2.0**-53)
    tail = np.minimum(p, 1.0 - p)
    q_tail = np.sqrt(-2.0 * log(np.maximum(tail, 1e-300)))
    tail_value = _polynomial(_NDTRI_C, q_tail) / (_polynomial(_NDTRI_D, q_tail) * q_tail + 1.0)
    q = p - 0.5
    r = q * q
    central = q * _polynomial(_NDTRI_A, r) / (_polynomial(_NDTRI_B, r) * r + 1.0)
    return np.where(tail < _NDTRI_LOW, np.where(p < 0.5, tail_value, -tail_value), central)


def poisson_quantile(probabilities, mean) -> np.ndarray:
    """The smallest count whose Poisson(``mean``) cumulative probability reaches each
    probability, as ``scipy.stats.poisson.ppf`` defines it."""
    p = _float_array(probabilities)
    mean = np.broadcast_to(_float_array(mean), p.shape)
    mass = exp(-mean)
    cumulative = mass
    counts = np.zeros_like(p)
    for count in range(1, _POISSON_MAX_COUNT + 1):
        below = cumulative < p
        if not below.any():
            break
        counts = counts + below
        mass = mass * mean / count
        cumulative = cumulative + mass
    return counts


def gamma2_quantile(probabilities) -> np.ndarray:
    """The quantile of the Gamma distribution with shape 2 and scale 1, whose cumulative
    probability is ``1 - e**-x (1 + x)``, by a fixed number of bisections."""
    p = _float_array(probabilities)
    low = np.zeros_like(p)
    high = np.full_like(p, _GAMMA_UPPER)
    for _ in range(_GAMMA_BISECTIONS):
        middle = (low + high) * 0.5
        below = 1.0 - exp(-middle) * (1.0 + middle) < p
        low = np.where(below, middle, low)
        high = np.where(below, high, middle)
    return (low + high) * 0.5


def fixed_order_sum(values) -> np.ndarray:
    """The sum along the first axis by halving: the second half is added to the first until
    one row is left (an odd length gets a row of zeros first, which adds exactly)."""
    total = _float_array(values)
    while len(total) > 1:
        if len(total) % 2:
            total = np.concatenate([total, np.zeros_like(total[:1])])
        half = len(total) // 2
        total = total[:half] + total[half:]
    return total[0] if len(total) else np.zeros(total.shape[1:])


def fixed_order_dot(matrix, vector) -> np.ndarray:
    """``matrix @ vector`` as the sum of its columns times the vector's entries, left to
    right."""
    matrix = np.asarray(matrix, dtype=np.float64)
    vector = np.asarray(vector, dtype=np.float64)
    total = np.zeros(matrix.shape[0])
    for column in range(matrix.shape[1]):
        total = total + matrix[:, column] * vector[column]
    return total


def fixed_order_solve(matrix, vector) -> np.ndarray:
    """The solution of ``matrix @ x = vector`` for a symmetric positive definite ``matrix``,
    by Gaussian elimination without pivoting (stable for such matrices), in plain order."""
    a = np.array(matrix, dtype=np.float64)
    b = np.array(vector, dtype=np.float64)
    size = len(b)
    for pivot in range(size):
        for row in range(pivot + 1, size):
            factor = a[row, pivot] / a[pivot, pivot]
            a[row, pivot:] = a[row, pivot:] - factor * a[pivot, pivot:]
            b[row] = b[row] - factor * b[pivot]
    solution = np.zeros(size)
    for row in range(size - 1, -1, -1):
        tail = fixed_order_dot(a[row : row + 1, row + 1 :], solution[row + 1 :])[0]
        solution[row] = (b[row] - tail) / a[row, row]
    return solution
