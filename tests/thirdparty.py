"""Optimizers written as third-party code writes them: plain NumPy float32, one rounding per
operation, each with the semantics its docstring names. tests/test_testing.py and
tests/test_explain.py check them against the specs (and identify them)."""

import numpy as np

f32 = np.float32


class NaiveAdam:
    """Kingma & Ba Algorithm 1 as most codebases write it: eps outside the bias-corrected
    root, no fused multiply-add (torch's and optax's math, rounded otherwise)."""

    def __init__(self, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps

    def init(self, params):
        return {"m": np.zeros_like(params), "v": np.zeros_like(params), "t": 0}

    def moments(self, grads, state):
        t = state["t"] + 1
        m = f32(self.b1) * state["m"] + f32(1 - self.b1) * grads
        v = f32(self.b2) * state["v"] + f32(1 - self.b2) * grads * grads
        return t, m, v, m / f32(1 - self.b1 ** t), v / f32(1 - self.b2 ** t)

    def step(self, params, grads, state):
        t, m, v, m_hat, v_hat = self.moments(grads, state)
        new = params - f32(self.lr) * m_hat / (np.sqrt(v_hat) + f32(self.eps))
        return new, {"m": m, "v": v, "t": t}


class KerasStyleAdam:
    """Adam as Keras writes it: epsilon-hat (1e-7) added to the raw root, the bias
    correction folded into the step size."""

    def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.lr, self.b1, self.b2, self.eps = learning_rate, beta_1, beta_2, epsilon

    def init(self, params):
        return {"m": np.zeros_like(params), "v": np.zeros_like(params), "t": 0}

    def step(self, params, grads, state):
        t = state["t"] + 1
        m = state["m"] + (grads - state["m"]) * f32(1 - self.b1)
        v = state["v"] + (grads * grads - state["v"]) * f32(1 - self.b2)
        alpha = f32(self.lr * np.sqrt(1 - self.b2 ** t) / (1 - self.b1 ** t))
        return params - m * alpha / (np.sqrt(v) + f32(self.eps)), {"m": m, "v": v, "t": t}


class AdamEpsInsideRoot(NaiveAdam):
    """eps inside the square root: :math:`\\hat m / \\sqrt{\\hat v + \\epsilon}`."""

    def step(self, params, grads, state):
        t, m, v, m_hat, v_hat = self.moments(grads, state)
        new = params - f32(self.lr) * m_hat / np.sqrt(v_hat + f32(self.eps))
        return new, {"m": m, "v": v, "t": t}


class AMSGradMaxAfterCorrection(NaiveAdam):
    """AMSGrad keeping the max of the bias-corrected second moment."""

    def init(self, params):
        return {**super().init(params), "v_max": np.zeros_like(params)}

    def step(self, params, grads, state):
        t, m, v, m_hat, v_hat = self.moments(grads, state)
        v_max = np.maximum(state["v_max"], v_hat)
        new = params - f32(self.lr) * m_hat / (np.sqrt(v_max) + f32(self.eps))
        return new, {"m": m, "v": v, "t": t, "v_max": v_max}


class AMSGradMaxBeforeCorrection(AMSGradMaxAfterCorrection):
    """AMSGrad keeping the max of the raw second moment, corrected afterwards."""

    def step(self, params, grads, state):
        t, m, v, m_hat, _ = self.moments(grads, state)
        v_max = np.maximum(state["v_max"], v)
        root = np.sqrt(v_max / f32(1 - self.b2 ** t))
        new = params - f32(self.lr) * m_hat / (root + f32(self.eps))
        return new, {"m": m, "v": v, "t": t, "v_max": v_max}


class DecoupledAdamW(NaiveAdam):
    """AdamW: the weights shrink by :math:`1 - \\eta\\lambda` before the Adam step."""

    def __init__(self, lr=1e-3, weight_decay=1e-2, **kwargs):
        super().__init__(lr=lr, **kwargs)
        self.weight_decay = weight_decay

    def step(self, params, grads, state):
        return super().step(params * f32(1 - self.lr * self.weight_decay), grads, state)


class TFStyleRMSprop:
    """RMSprop as TensorFlow 1 runs it: the mean square starts at ONE, eps (1e-10) inside
    the root, the learning rate inside the momentum buffer."""

    def __init__(self, learning_rate=1e-3, decay=0.9, momentum=0.0, epsilon=1e-10):
        self.lr, self.rho, self.mu, self.eps = learning_rate, decay, momentum, epsilon

    def init(self, params):
        return {"ms": np.ones_like(params), "mom": np.zeros_like(params)}

    def step(self, params, grads, state):
        ms = state["ms"] + (grads * grads - state["ms"]) * f32(1 - self.rho)
        mom = f32(self.mu) * state["mom"] + f32(self.lr) * grads / np.sqrt(ms + f32(self.eps))
        return params - mom, {"ms": ms, "mom": mom}


class TorchStyleAdagrad:
    """Adagrad as torch writes it: the sum of squares starts at 0, eps (1e-10) outside the
    root."""

    def __init__(self, lr=1e-2, eps=1e-10, initial_accumulator_value=0.0):
        self.lr, self.eps, self.acc0 = lr, eps, initial_accumulator_value

    def init(self, params):
        return np.full_like(params, self.acc0)

    def step(self, params, grads, acc):
        acc = acc + grads * grads
        return params - f32(self.lr) * grads / (np.sqrt(acc) + f32(self.eps)), acc


class HeavyBallSGD:
    """SGD with momentum, torch's form: :math:`b = \\mu b + g`, :math:`\\theta -= \\eta b`."""

    def __init__(self, lr=1e-2, momentum=0.9):
        self.lr, self.mu = lr, momentum

    def init(self, params):
        return np.zeros_like(params)

    def step(self, params, grads, buf):
        buf = f32(self.mu) * buf + grads
        return params - f32(self.lr) * buf, buf
