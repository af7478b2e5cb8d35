"""The papers' schedules (``paper.*``): SGDR's warm restarts and the Transformer's Noam
schedule, as published (:mod:`eps_ref.schedules.published`); float64, steps from 1."""

from __future__ import annotations

from eps_ref.schedules import ScheduleRule
from eps_ref.schedules import published as P
from eps_ref.spec import REQUIRED, Spec, check_nonnegative, register

RULE = ScheduleRule("paper_closed_form", P.values)


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
