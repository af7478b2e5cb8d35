"""The ``torch.optim.lr_scheduler`` dialect, read from PyTorch 2.13: one schedule spec per
scheduler class, with the constructor's keywords and defaults.

A scheduler acts on an optimizer's parameter group, so each spec also takes ``lr``, the
optimizer's learning rate when the scheduler is built (required: there is no scheduler
without an optimizer). ``last_epoch`` resumes a scheduler from a checkpoint; only the
fresh start (-1) is modelled. The arithmetic is :mod:`eps_ref.schedules.chainable`.
"""

from __future__ import annotations

from eps_ref.schedules import ScheduleRule
from eps_ref.schedules import chainable as C
from eps_ref.spec import REQUIRED, Spec, check_number, register, unsupported

VERSION = "2.13.0"
SOURCE = "https://github.com/pytorch/pytorch/blob/v2.13.0/torch/optim/lr_scheduler.py"
PREFIX = "torch.optim.lr_scheduler."

# -- the rules: one scheduler, a composition, the plateau -----------------------------------

SINGLE = ScheduleRule(
    "torch_chainable", lambda n, *, lr, scheduler, metrics=None: C.values(scheduler, n, lr),
    max_steps=lambda *, scheduler, **kw: None if scheduler.last_epoch is None
    else scheduler.last_epoch + 1)
CHAINED = ScheduleRule("torch_chained",
                       lambda n, *, lr, schedulers, metrics=None:
                       C.chained_values(schedulers, n, lr))
SEQUENTIAL = ScheduleRule("torch_sequential",
                          lambda n, *, lr, schedulers, milestones, metrics=None:
                          C.sequential_values(schedulers, milestones, n, lr))
PLATEAU = ScheduleRule("torch_plateau",
                       lambda n, *, lr, metrics=None, **kw:
                       C.plateau_values(n, lr, _metrics(metrics), **kw))


def _metrics(metrics):
    if metrics is None:
        raise TypeError("ReduceLROnPlateau steps on a metric: learning_rates(n, "
                        "metrics=[...]), one after each optimizer step")
    return metrics


def _lr(name, lr):
    check_number(name, lr=lr)
    if not lr >= 0:
        raise ValueError(f"{name}: invalid lr {lr!r}: must be a number >= 0")
    return float(lr)


def _fresh(name, last_epoch):
    if last_epoch != -1:
        raise unsupported(name, "last_epoch", last_epoch)


def _positive_int(name, **values):
    for k, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{name}: Expected positive integer {k}, but got {v!r}")


def _schedule(short, defaults, build, rule=SINGLE, doc="", variants=None):
    """Register ``torch.optim.lr_scheduler.<short>``: ``build(**keywords)`` returns the
    rule keywords (the Chainable), after the checks torch makes."""
    name = PREFIX + short

    def bind(*, lr, last_epoch=-1, **kw):
        _fresh(name, last_epoch)
        return {"lr": _lr(name, lr), **build(name, **kw)}

    register(Spec(name=name, framework="torch", version=VERSION,
                  defaults={"lr": REQUIRED, **defaults, "last_epoch": -1}, rule=rule,
                  bind=bind, reference=SOURCE, kind="schedule",
                  variants=variants or {"defaults": {"lr": 0.1}}, doc=doc))


def _step(name, *, step_size, gamma):
    _positive_int(name, step_size=step_size)
    return {"scheduler": C.step_lr(step_size=step_size, gamma=float(gamma))}


_schedule("StepLR", {"step_size": REQUIRED, "gamma": 0.1}, _step,
          doc="lr *= gamma at every multiple of step_size",
          variants={"defaults": {"lr": 0.1, "step_size": 30},
                    "step 7, gamma 0.5": {"lr": 0.05, "step_size": 7, "gamma": 0.5}})


def _multi_step(name, *, milestones, gamma):
    milestones = list(milestones)
    if any(not isinstance(m, int) or isinstance(m, bool) for m in milestones):
        raise TypeError(f"{name}: milestones must be integers, got {milestones!r}")
    return {"scheduler": C.multi_step_lr(milestones=milestones, gamma=float(gamma))}


_schedule("MultiStepLR", {"milestones": REQUIRED, "gamma": 0.1}, _multi_step,
          doc="lr *= gamma^k at an epoch listed k times in milestones",
          variants={"defaults": {"lr": 0.1, "milestones": [30, 80]},
                    "repeated milestone": {"lr": 0.1, "milestones": [5, 5, 40],
                                           "gamma": 0.3}})


def _constant(name, *, factor, total_iters):
    if factor > 1.0 or factor < 0:
        raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
    return {"scheduler": C.constant_lr(factor=float(factor), total_iters=total_iters)}


_schedule("ConstantLR", {"factor": 1.0 / 3, "total_iters": 5}, _constant,
          doc="lr * factor until total_iters, then lr (multiplied back by 1/factor)",
          variants={"defaults": {"lr": 0.1},
                    "factor 0.1, 100 iterations": {"lr": 0.003, "factor": 0.1,
                                                   "total_iters": 100}})


def _linear(name, *, start_factor, end_factor, total_iters):
    if start_factor > 1.0 or start_factor <= 0:
        raise ValueError("Starting multiplicative factor expected to be greater than 0 and "
                         "less or equal to 1.")
    if end_factor > 1.0 or end_factor < 0:
        raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
    return {"scheduler": C.linear_lr(start_factor=float(start_factor),
                                     end_factor=float(end_factor), total_iters=total_iters)}


_schedule("LinearLR", {"start_factor": 1.0 / 3, "end_factor": 1.0, "total_iters": 5},
          _linear, doc="linear warmup by a recursive factor",
          variants={"defaults": {"lr": 0.1},
                    "warmup over 100": {"lr": 3e-4, "start_factor": 0.01,
                                        "total_iters": 100},
                    "decay to 0": {"lr": 0.01, "start_factor": 1.0, "end_factor": 0.0,
                                   "total_iters": 300}})


def _exponential(name, *, gamma):
    check_number(name, gamma=gamma)
    return {"scheduler": C.exponential_lr(gamma=float(gamma))}


_schedule("ExponentialLR", {"gamma": REQUIRED}, _exponential,
          doc="lr *= gamma at every step, rounded each time",
          variants={"defaults": {"lr": 0.1, "gamma": 0.99},
                    "gamma 0.9995": {"lr": 1e-3, "gamma": 0.9995}})


def _polynomial(name, *, total_iters, power):
    return {"scheduler": C.polynomial_lr(total_iters=total_iters, power=float(power))}


_schedule("PolynomialLR", {"total_iters": 5, "power": 1.0}, _polynomial,
          doc="lr *= ((1 - e/T)/(1 - (e-1)/T))^power until total_iters",
          variants={"defaults": {"lr": 0.1},
                    "power 2 over 500": {"lr": 0.01, "total_iters": 500, "power": 2.0}})


def _cosine(name, *, T_max, eta_min):   # noqa: N803
    if not isinstance(T_max, int) or isinstance(T_max, bool) or T_max == 0:
        raise ValueError(f"{name}: T_max must be a nonzero integer, got {T_max!r}")
    return {"scheduler": C.cosine_annealing_lr(T_max=T_max, eta_min=float(eta_min))}


_schedule("CosineAnnealingLR", {"T_max": REQUIRED, "eta_min": 0.0}, _cosine,
          doc="cosine annealing by the recursive ratio of cosines, not the closed form",
          variants={"defaults": {"lr": 0.1, "T_max": 100},
                    "eta_min, past T_max": {"lr": 0.05, "T_max": 37, "eta_min": 1e-4}})


def _callable(name, lr_lambda):
    if isinstance(lr_lambda, (list, tuple)):
        raise unsupported(name, "lr_lambda", "a list (one per param group)")
    if not callable(lr_lambda):
        raise TypeError(f"lr_lambda should be a function, but got "
                        f"{type(lr_lambda).__name__}")
    return lr_lambda


def warmup_factor(epoch: int) -> float:
    """A linear warmup factor over 10 epochs, then 1: a ``lr_lambda`` for the variants
    (a module-level function, so that a worker process can load it)."""
    return min(1.0, (epoch + 1) / 10)


def decay_factor(epoch: int) -> float:
    """0.95 an epoch: a ``lr_lambda`` for MultiplicativeLR's variant."""
    return 0.95


_schedule("LambdaLR", {"lr_lambda": REQUIRED},
          lambda name, *, lr_lambda: {"scheduler": C.lambda_lr(
              lr_lambda=_callable(name, lr_lambda))},
          doc="lr = initial lr * lr_lambda(epoch)",
          variants={"defaults": {"lr": 0.1, "lr_lambda": warmup_factor}})
_schedule("MultiplicativeLR", {"lr_lambda": REQUIRED},
          lambda name, *, lr_lambda: {"scheduler": C.multiplicative_lr(
              lr_lambda=_callable(name, lr_lambda))},
          doc="lr *= lr_lambda(epoch) from epoch 1",
          variants={"defaults": {"lr": 0.1, "lr_lambda": decay_factor}})


def _warm_restarts(name, *, T_0, T_mult, eta_min):   # noqa: N803
    if T_0 <= 0 or not isinstance(T_0, int):
        raise ValueError(f"Expected positive integer T_0, but got {T_0}")
    if T_mult < 1 or not isinstance(T_mult, int):
        raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
    if not isinstance(eta_min, (float, int)):
        raise ValueError(f"Expected float or int eta_min, but got {eta_min} of type "
                         f"{type(eta_min)}")
    return {"scheduler": C.cosine_annealing_warm_restarts(T_0=T_0, T_mult=T_mult,
                                                          eta_min=eta_min)}


_schedule("CosineAnnealingWarmRestarts", {"T_0": REQUIRED, "T_mult": 1, "eta_min": 0.0},
          _warm_restarts, doc="SGDR: cosine from the initial lr, restarted every T_i "
          "epochs, T_i growing by T_mult",
          variants={"defaults": {"lr": 0.1, "T_0": 50},
                    "T_mult 2, eta_min": {"lr": 0.1, "T_0": 10, "T_mult": 2,
                                          "eta_min": 1e-3}})


def _cyclic(name, *, base_lr, max_lr, step_size_up, step_size_down, mode, gamma, scale_fn,
            scale_mode, cycle_momentum, base_momentum, max_momentum):
    for k, v in {"base_lr": base_lr, "max_lr": max_lr, "base_momentum": base_momentum,
                 "max_momentum": max_momentum}.items():
        if isinstance(v, (list, tuple)):
            raise unsupported(name, k, "a list (one per param group)")
    if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
        raise ValueError("mode is invalid and scale_fn is None")
    return {"scheduler": C.cyclic_lr(
        base_lr=base_lr, max_lr=max_lr, step_size_up=step_size_up,
        step_size_down=step_size_down, mode=mode, gamma=gamma, scale_fn=scale_fn,
        scale_mode=scale_mode, cycle_momentum=cycle_momentum, base_momentum=base_momentum,
        max_momentum=max_momentum)}


_schedule("CyclicLR", {"base_lr": REQUIRED, "max_lr": REQUIRED, "step_size_up": 2000,
                       "step_size_down": None, "mode": "triangular", "gamma": 1.0,
                       "scale_fn": None, "scale_mode": "cycle", "cycle_momentum": True,
                       "base_momentum": 0.8, "max_momentum": 0.9},
          _cyclic, doc="a triangle wave between base_lr and max_lr; momentum the other way",
          variants={"defaults": {"lr": 0.1, "base_lr": 1e-3, "max_lr": 0.1,
                                 "step_size_up": 20},
                    "triangular2, uneven": {"lr": 0.1, "base_lr": 1e-4, "max_lr": 1e-2,
                                            "step_size_up": 7, "step_size_down": 13,
                                            "mode": "triangular2"},
                    "exp_range": {"lr": 0.1, "base_lr": 1e-4, "max_lr": 1e-2,
                                  "step_size_up": 25, "mode": "exp_range",
                                  "gamma": 0.999, "cycle_momentum": False}})


def _one_cycle(name, *, max_lr, total_steps, epochs, steps_per_epoch, pct_start,
               anneal_strategy, cycle_momentum, base_momentum, max_momentum, div_factor,
               final_div_factor, three_phase):
    if total_steps is not None:
        if total_steps <= 0 or not isinstance(total_steps, int):
            raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
    elif epochs is not None and steps_per_epoch is not None:
        _positive_int(name, epochs=epochs, steps_per_epoch=steps_per_epoch)
        total_steps = epochs * steps_per_epoch
    else:
        raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
    if pct_start < 0 or pct_start > 1 or not isinstance(pct_start, float):
        raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got "
                         f"{anneal_strategy}")
    for k, v in {"max_lr": max_lr, "base_momentum": base_momentum,
                 "max_momentum": max_momentum}.items():
        if isinstance(v, (list, tuple)):
            raise unsupported(name, k, "a list (one per param group)")
    return {"scheduler": C.one_cycle_lr(
        max_lr=max_lr, total_steps=total_steps, pct_start=pct_start,
        anneal_strategy=anneal_strategy, cycle_momentum=cycle_momentum,
        base_momentum=base_momentum, max_momentum=max_momentum, div_factor=div_factor,
        final_div_factor=final_div_factor, three_phase=three_phase)}


_schedule("OneCycleLR", {"max_lr": REQUIRED, "total_steps": None, "epochs": None,
                         "steps_per_epoch": None, "pct_start": 0.3, "anneal_strategy": "cos",
                         "cycle_momentum": True, "base_momentum": 0.85,
                         "max_momentum": 0.95, "div_factor": 25.0,
                         "final_div_factor": 1e4, "three_phase": False},
          _one_cycle, doc="up from max_lr/div_factor to max_lr, then down to "
          "max_lr/(div_factor*final_div_factor); momentum the other way",
          variants={"defaults": {"lr": 0.1, "max_lr": 0.01, "total_steps": 1000},
                    "linear, three phases": {"lr": 0.1, "max_lr": 0.1, "total_steps": 999,
                                             "anneal_strategy": "linear",
                                             "three_phase": True},
                    "epochs x steps, no momentum": {"lr": 0.1, "max_lr": 3e-3,
                                                    "epochs": 10, "steps_per_epoch": 100,
                                                    "pct_start": 0.25,
                                                    "cycle_momentum": False}})


# -- compositions ----------------------------------------------------------------------------

def _parts(name, schedulers, lr):
    """The Chainables of a composition's schedulers: ``eps_ref.schedule`` objects or
    ``(qualified name, keywords)`` pairs of torch schedules, on the composition's lr."""
    from eps_ref.schedule import Schedule, schedule
    if not schedulers:
        raise ValueError(f"{name} expects at least one scheduler, but got no scheduler.")
    out = []
    for i, s in enumerate(schedulers):
        if not isinstance(s, Schedule):
            try:
                inner, kw = s
            except (TypeError, ValueError):
                raise TypeError(f"{name}: schedulers[{i}] must be an eps_ref.schedule(...) "
                                f"or a (name, keywords) pair, got {s!r}") from None
            s = schedule(inner, **{"lr": lr, **dict(kw)})
        if s.spec.framework != "torch" or s.spec.rule is not SINGLE:
            raise ValueError(f"{name}: schedulers[{i}] is {s.spec.name}; a torch "
                             "composition takes torch schedulers (not compositions, not "
                             "ReduceLROnPlateau)")
        if s.hyperparams["lr"] != lr:
            raise ValueError(f"{name}: schedulers[{i}] was built with lr="
                             f"{s.hyperparams['lr']!r}, the composition with lr={lr!r}; "
                             "the schedulers of one optimizer share its lr")
        if s.spec.name.rsplit(".", 1)[-1] in ("CyclicLR", "OneCycleLR"):
            raise unsupported(name, f"schedulers[{i}]", s.spec.name + " (it rewrites the "
                              "group's initial lr and momentum at construction)")
        out.append(s.rule_kwargs["scheduler"])
    return out


def _bind_composition(short, check):
    name = PREFIX + short

    def bind(*, schedulers, lr=None, **kw):
        lr = _common_lr(name, schedulers) if lr is None else _lr(name, lr)
        return {"lr": lr, "schedulers": _parts(name, schedulers, lr), **check(name, **kw)}
    return name, bind


def _common_lr(name, schedulers):
    from eps_ref.schedule import Schedule
    lrs = {s.hyperparams["lr"] for s in schedulers if isinstance(s, Schedule)}
    if len(lrs) != 1:
        raise TypeError(f"{name}: give lr=, the optimizer's learning rate")
    return lrs.pop()


def _sequential_check(name, *, milestones, last_epoch=-1):
    _fresh(name, last_epoch)
    return {"milestones": list(milestones)}


_name, _bind = _bind_composition("SequentialLR", _sequential_check)


def _bind_sequential(**kw):
    out = _bind(**kw)
    if len(out["milestones"]) != len(out["schedulers"]) - 1:
        raise ValueError(f"Sequential Schedulers expects number of schedulers provided to be "
                         f"one more than the number of milestone points, but got number of "
                         f"schedulers {len(out['schedulers'])} and the number of milestones "
                         f"to be equal to {len(out['milestones'])}")
    return out


register(Spec(name=_name, framework="torch", version=VERSION,
              defaults={"lr": None, "schedulers": REQUIRED, "milestones": REQUIRED,
                        "last_epoch": -1},
              rule=SEQUENTIAL, bind=_bind_sequential, reference=SOURCE, kind="schedule",
              variants={"warmup then cosine": {
                  "lr": 0.1, "milestones": [10],
                  "schedulers": [(PREFIX + "LinearLR", {"start_factor": 0.01,
                                                        "total_iters": 10}),
                                 (PREFIX + "CosineAnnealingLR", {"T_max": 90})]},
                  "constant, then exponential": {
                  "lr": 0.05, "milestones": [3, 50],
                  "schedulers": [(PREFIX + "ConstantLR", {"factor": 0.5, "total_iters": 3}),
                                 (PREFIX + "ExponentialLR", {"gamma": 0.97}),
                                 (PREFIX + "StepLR", {"step_size": 20})]}},
              doc="one scheduler after another on the shared lr; each restarts at its "
                  "epoch 0 (its closed form) at its milestone"))

_name, _bind_chained = _bind_composition("ChainedScheduler",
                                         lambda name, optimizer=None: {})
register(Spec(name=_name, framework="torch", version=VERSION,
              defaults={"lr": None, "schedulers": REQUIRED, "optimizer": None},
              rule=CHAINED, bind=_bind_chained, reference=SOURCE, kind="schedule",
              inert=frozenset({"optimizer"}),
              variants={"warmup times exponential": {
                  "lr": 0.1,
                  "schedulers": [(PREFIX + "ConstantLR", {"factor": 0.1, "total_iters": 2}),
                                 (PREFIX + "ExponentialLR", {"gamma": 0.9})]}},
              doc="every scheduler's step in turn on the shared lr"))


def _bind_plateau(*, lr, mode, factor, patience, threshold, threshold_mode, cooldown,
                  min_lr, eps):
    name = PREFIX + "ReduceLROnPlateau"
    if factor >= 1.0:
        raise ValueError("Factor should be < 1.0.")
    if mode not in ("min", "max"):
        raise ValueError("mode " + str(mode) + " is unknown!")
    if threshold_mode not in ("rel", "abs"):
        raise ValueError("threshold mode " + str(threshold_mode) + " is unknown!")
    if isinstance(min_lr, (list, tuple)):
        raise unsupported(name, "min_lr", "a list (one per param group)")
    return {"lr": _lr(name, lr), "mode": mode, "factor": factor, "patience": patience,
            "threshold": threshold, "threshold_mode": threshold_mode, "cooldown": cooldown,
            "min_lr": min_lr, "eps": eps}


register(Spec(name=PREFIX + "ReduceLROnPlateau", framework="torch", version=VERSION,
              defaults={"lr": REQUIRED, "mode": "min", "factor": 0.1, "patience": 10,
                        "threshold": 1e-4, "threshold_mode": "rel", "cooldown": 0,
                        "min_lr": 0, "eps": 1e-8},
              rule=PLATEAU, bind=_bind_plateau, reference=SOURCE, kind="schedule",
              variants={"defaults": {"lr": 0.1},
                        "max, abs, cooldown": {"lr": 0.01, "mode": "max", "factor": 0.5,
                                               "patience": 3, "threshold": 0.01,
                                               "threshold_mode": "abs", "cooldown": 2,
                                               "min_lr": 1e-3}},
              doc="lr *= factor after more than patience epochs without improvement "
                  "(fed the metric)"))
