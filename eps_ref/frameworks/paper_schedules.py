"""The papers' schedules (``paper.*``): SGDR's warm restarts, the Transformer's Noam
schedule, the linear warmup of large-batch SGD, and the exponential ε decay the ε-tuning
essay recommends, as published (:mod:`eps_ref.schedules.published`); float64, steps
from 1."""

from __future__ import annotations

from eps_ref.schedules import ScheduleRule
from eps_ref.schedules import published as P
from eps_ref.spec import REQUIRED, Spec, check_nonnegative, register

RULE = ScheduleRule("paper_closed_form", P.values)
EPS_RULE = ScheduleRule("paper_closed_form_eps", P.eps_values, writes="eps")


def _positive(name, **values):
    for k, v in values.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
            raise ValueError(f"{name}: {k} must be a number > 0, got {v!r}")


def _bind_sgdr(*, eta_max, eta_min, T_0, T_mult, steps_per_epoch):   # noqa: N803
    name = "paper.sgdr"
    check_nonnegative(name, eta_max=eta_max, eta_min=eta_min)
    _positive(name, T_0=T_0, steps_per_epoch=steps_per_epoch)
    if not isinstance(T_mult, (int, float)) or T_mult < 1:
        raise ValueError(f"{name}: T_mult must be >= 1, got {T_mult!r}")
    return {"fn": P.sgdr(eta_max=float(eta_max), eta_min=float(eta_min), T_0=T_0,
                         T_mult=T_mult, steps_per_epoch=steps_per_epoch)}


register(Spec(name="paper.sgdr", framework="paper", version="ICLR 2017",
              defaults={"eta_max": REQUIRED, "eta_min": 0.0, "T_0": REQUIRED, "T_mult": 1,
                        "steps_per_epoch": 1},
              rule=RULE, bind=_bind_sgdr,
              reference="https://arxiv.org/abs/1608.03983 (Loshchilov & Hutter, ICLR 2017, "
                        "eq. 5)",
              kind="schedule",
              variants={"defaults": {"eta_max": 0.1, "T_0": 50},
                        "T_mult 2, batches": {"eta_max": 0.05, "eta_min": 1e-4, "T_0": 10,
                                              "T_mult": 2, "steps_per_epoch": 4}},
              doc="eta_min + (eta_max - eta_min)(1 + cos(pi T_cur/T_i))/2, T_i = T_0 "
                  "T_mult^i, T_cur in epochs since the restart"))


def _bind_noam(*, d_model, warmup_steps):
    _positive("paper.noam", d_model=d_model, warmup_steps=warmup_steps)
    return {"fn": P.noam(d_model=d_model, warmup_steps=warmup_steps)}


register(Spec(name="paper.noam", framework="paper", version="NeurIPS 2017",
              defaults={"d_model": 512, "warmup_steps": 4000},
              rule=RULE, bind=_bind_noam,
              reference="https://arxiv.org/abs/1706.03762 (Vaswani et al., NeurIPS 2017, "
                        "eq. 3)",
              kind="schedule",
              variants={"defaults": {}, "small": {"d_model": 64, "warmup_steps": 100}},
              doc="d_model^-0.5 min(t^-0.5, t warmup_steps^-1.5): linear warmup, then "
                  "inverse square root"))


def _steps(name, **values):
    for k, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name}: {k} must be an int >= 1, got {v!r}")


def _bind_warmup(*, init_value, peak_value, warmup_steps):
    name = "paper.linear_warmup"
    check_nonnegative(name, init_value=init_value, peak_value=peak_value)
    _steps(name, warmup_steps=warmup_steps)
    return {"fn": P.linear_warmup(init_value=float(init_value), peak_value=float(peak_value),
                                  warmup_steps=warmup_steps)}


register(Spec(name="paper.linear_warmup", framework="paper", version="2017",
              defaults={"init_value": 0.0, "peak_value": REQUIRED, "warmup_steps": REQUIRED},
              rule=RULE, bind=_bind_warmup,
              reference="https://arxiv.org/abs/1706.02677 (Goyal et al., 2017, Sec. 2.2, "
                        "gradual warmup)",
              kind="schedule",
              variants={"defaults": {"peak_value": 0.1, "warmup_steps": 100},
                        "from lr/k": {"init_value": 0.0125, "peak_value": 0.1,
                                      "warmup_steps": 500}},
              doc="init + (peak - init) min(t - 1, warmup_steps)/warmup_steps: up by a "
                  "constant amount each step, then constant"))


def _bind_eps_decay(*, init_value, end_value, decay_steps):
    name = "paper.exponential_eps_decay"
    _positive(name, init_value=init_value, end_value=end_value)
    _steps(name, decay_steps=decay_steps)
    return {"fn": P.exponential_decay(init_value=float(init_value),
                                      end_value=float(end_value), decay_steps=decay_steps)}


register(Spec(name="paper.exponential_eps_decay", framework="paper", version="essay",
              defaults={"init_value": 1e-3, "end_value": 1e-12, "decay_steps": REQUIRED},
              rule=EPS_RULE, bind=_bind_eps_decay,
              reference="https://zna.do/epsilon (Nado, the seeds' epsilon-tuning essay: "
                        "decay eps exponentially to a value extremely close to zero; try "
                        "1e-3)",
              kind="schedule",
              variants={"defaults": {"decay_steps": 1000},
                        "from 1": {"init_value": 1.0, "end_value": 1e-8,
                                   "decay_steps": 500}},
              doc="eps_0 (eps_T/eps_0)^(min(t - 1, T)/T): an eps schedule (eps=...), "
                  "from eps_0 to eps_T over T steps"))
