r"""Small training problems in NumPy with hand-written gradients and Hessian-vector
products, for the epsilon experiments (:mod:`eps_ref.damping`, :mod:`eps_ref.sweep`).

Each problem holds a fixed synthetic data set (seeded) and works on one flat float64
parameter vector:

- :class:`LogisticRegression`: :math:`L(w) = \frac1n\sum_i \log(1 + e^{-y_i x_i^\top w}) +
  \frac\lambda2|w|^2`, :math:`\nabla L = X^\top(\sigma(Xw) - y)/n + \lambda w`,
  :math:`Hv = X^\top (\sigma(1-\sigma) \odot Xv)/n + \lambda v` (labels in {0, 1}; the
  features' scales spread over two decades, so that the curvature is ill-conditioned and
  a preconditioner matters).
- :class:`TwoLayerMLP`: :math:`f = \tanh(XW_1 + b_1)\,w_2 + b_2`, the same logistic loss
  on :math:`f`; the gradient by backpropagation and :math:`Hv` by the R-operator of
  Pearlmutter (1994), forward and backward, all written out (no autodiff).

``loss(w)``, ``grad(w)``, ``hvp(w, v)`` and ``init(seed)``; :data:`PROBLEMS` by name.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LogisticRegression", "TwoLayerMLP", "PROBLEMS", "problem"]


def _softplus(x):
    return np.logaddexp(0.0, x)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _data(n: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    scales = np.logspace(-1, 1, d)                        # ill-conditioned features
    x = rng.standard_normal((n, d)) * scales
    w_true = rng.standard_normal(d) / scales
    logits = x @ w_true
    y = (rng.random(n) < _sigmoid(2.0 * logits)).astype(np.float64)
    return x, y


class LogisticRegression:
    """Binary logistic regression on ``n`` points in ``d`` dimensions, L2 ``l2``."""

    name = "logistic"

    def __init__(self, n: int = 512, d: int = 20, l2: float = 1e-3, seed: int = 0):
        self.x, self.y = _data(n, d, seed)
        self.l2 = float(l2)
        self.size = d

    def init(self, seed: int = 0) -> np.ndarray:
        return np.zeros(self.size)

    def loss(self, w) -> float:
        z = self.x @ w
        return float(np.mean(_softplus(z) - self.y * z) + 0.5 * self.l2 * (w @ w))

    def grad(self, w) -> np.ndarray:
        p = _sigmoid(self.x @ w)
        return self.x.T @ (p - self.y) / len(self.y) + self.l2 * w

    def hvp(self, w, v) -> np.ndarray:
        p = _sigmoid(self.x @ w)
        return self.x.T @ (p * (1 - p) * (self.x @ v)) / len(self.y) + self.l2 * v


class TwoLayerMLP:
    """A tanh layer of ``hidden`` units and a logistic output on the same kind of data."""

    name = "mlp"

    def __init__(self, n: int = 512, d: int = 20, hidden: int = 32, seed: int = 0):
        self.x, self.y = _data(n, d, seed)
        self.d, self.h = d, hidden
        self.size = d * hidden + hidden + hidden + 1

    def init(self, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed + 7)
        w1 = rng.standard_normal((self.d, self.h)) / np.sqrt(self.d)
        w2 = rng.standard_normal(self.h) / np.sqrt(self.h)
        return np.concatenate([w1.ravel(), np.zeros(self.h), w2, [0.0]])

    def _split(self, w):
        d, h = self.d, self.h
        return (w[:d * h].reshape(d, h), w[d * h:d * h + h], w[d * h + h:d * h + 2 * h],
                w[-1])

    def _forward(self, w):
        w1, b1, w2, b2 = self._split(w)
        z = np.tanh(self.x @ w1 + b1)
        return z, z @ w2 + b2

    def loss(self, w) -> float:
        _, f = self._forward(w)
        return float(np.mean(_softplus(f) - self.y * f))

    def _backward(self, w, z, df):
        _, _, w2, _ = self._split(w)
        da = np.outer(df, w2) * (1 - z * z)
        return np.concatenate([(self.x.T @ da).ravel(), da.sum(0), z.T @ df, [df.sum()]])

    def grad(self, w) -> np.ndarray:
        z, f = self._forward(w)
        return self._backward(w, z, (_sigmoid(f) - self.y) / len(self.y))

    def hvp(self, w, v) -> np.ndarray:
        """The R-operator: forward :math:`R\\{a\\} = XV_1 + v_{b1}`, :math:`R\\{z\\} =
        (1-z^2)R\\{a\\}`, :math:`R\\{f\\} = R\\{z\\}w_2 + zv_2 + v_{b2}`; backward through
        :math:`\\delta_f = (\\sigma(f)-y)/n`, :math:`\\delta_a = (\\delta_f w_2^\\top)(1-z^2)`."""
        w1, b1, w2, b2 = self._split(w)
        v1, vb1, v2, vb2 = self._split(v)
        z, f = self._forward(w)
        n = len(self.y)
        p = _sigmoid(f)
        df = (p - self.y) / n
        ra = self.x @ v1 + vb1
        rz = (1 - z * z) * ra
        rf = rz @ w2 + z @ v2 + vb2
        rdf = p * (1 - p) * rf / n
        dz = np.outer(df, w2)
        rdz = np.outer(rdf, w2) + np.outer(df, v2)
        rda = rdz * (1 - z * z) - dz * 2 * z * rz
        return np.concatenate([(self.x.T @ rda).ravel(), rda.sum(0),
                               rz.T @ df + z.T @ rdf, [rdf.sum()]])


PROBLEMS = {"logistic": LogisticRegression, "mlp": TwoLayerMLP}
"""The built-in problems by name."""


def problem(name: str, **kwargs):
    """A built-in problem by name (``"logistic"``, ``"mlp"``)."""
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; one of {sorted(PROBLEMS)}")
    return PROBLEMS[name](**kwargs)
