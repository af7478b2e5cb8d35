r"""Fingerprinting: which spec, with which keywords, runs the same math as an optimizer of
unknown semantics.

    e = eps_ref.explain(MyAdam())
    e.nearest, e.kwargs        # "keras.optimizers.Adam", {}: the spec that reproduces it
    e.same_math, e.max_ulp     # True, 3: within rounding of it (and its plain ULP count)
    e.ranking                  # every spec searched, best first, each with its distance
    e.differences("torch.optim.Adam")   # what it does differently from torch's Adam
    print(e)                   # all of it (``eps-ref explain FILE.npz``)

The candidate is anything :func:`eps_ref.testing.compare` takes. It runs once, on
``steps`` steps of the conformance stream (every regime: ordinary, tiny, zero, spikes,
sign flips), or a recording brings its own stream. Then, from the spec tables alone:

1. The families to search: the candidate's ``family`` (a name of
   :func:`eps_ref.port.port_family`: ``"adam"``, ``"rmsprop"``, ...) or, without one, the
   :data:`FAMILIES_SEARCHED` families whose members at their defaults come closest to it.
2. Each member is first run at its start: its defaults, with its learning rate rescaled to
   the candidate's first step (:func:`_lr_guess`) and any ``known`` values. When one of
   them already runs the candidate's math, that is the answer and nothing is searched.
   Otherwise the same with the spec tables' variants too, and then each member's keywords
   are searched with the porting search (:func:`eps_ref.port._search`: a coordinate
   search over each keyword's candidate values, :func:`eps_ref.port._candidate_values`)
   from that start: one pass over the member's own
   values (its default, its variants', eps over two decades either way, and zero for eps
   and weight decay); then the :data:`SHORTLIST` closest members again, two passes, with
   every family member's values too. The rule switches (eps placement, epsilon-hat, the
   bias-correction form, AMSGrad's max before or after the correction, weight-decay
   coupling, initial accumulators, momentum form) are what the specs and their keywords
   bind to (``spec.bind``), so the search over specs and keywords is a search over them.
3. Every member's configuration is run on all the steps and ranked by its distance from the
   candidate in ULPs of each element's scale (:func:`eps_ref.port.scale_ulp`). It runs the
   *same math* when that distance is within :data:`~eps_ref.port.SAME_MATH_ULP`: a correct
   re-implementation that rounds differently (no fused multiply-add, another order of
   operations) stays within about a hundred, while a different formula or constant (eps
   inside or outside the root, eps-hat, eps 1% off) moves it by tens of thousands or more.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from eps_ref.port import (EPS_SWEPT, LR_COUPLED, PRUNE_LOG_ULP, SAME_MATH_ULP, SEARCH_STEPS,
                          VERIFY_STEPS, Candidate, _aliases, _build, _candidate_values, _flat,
                          _is_number, _jsonable, _paste_kwargs, _same_numbers, _score, _search,
                          _trajectory, _ulp, _unflat, _unique, differences, port_family,
                          scale_ulp)
from eps_ref.spec import REQUIRED, spec as _spec, specs as _specs

__all__ = ["explain", "Explanation", "families", "FAMILIES_SEARCHED", "SCREEN_STEPS",
           "SHORTLIST", "EPS_DECADES"]

FAMILIES_SEARCHED = 2
"""Families searched when none is given: those whose closest member at its defaults comes
nearest to the candidate."""

SHORTLIST = 4
"""Members of each family searched again, wider, after the first pass."""

SCREEN_STEPS = 3
"""Steps on which the families are told apart (their members at their defaults differ
from each other by orders of magnitude from the first steps)."""


def families() -> dict[str, list[str]]:
    """Every optimizer spec by its family (:func:`eps_ref.port.port_family`)."""
    out: dict[str, list[str]] = {}
    for name in _specs(kind="optimizer"):
        out.setdefault(port_family(_spec(name)), []).append(name)
    return out


def _start(name: str) -> dict:
    """A member's flat keywords at its defaults (its first variant: the required ones),
    without those that change no number (``spec.inert``: ``name``, ``use_locking``)."""
    return _configs(name)[0]


def _configs(name: str) -> list[dict]:
    """A member's flat keywords at its defaults, then at each of its variants (the spec
    table's settings worth checking: another eps, momentum, AMSGrad, ...)."""
    s = _spec(name)
    variants = list(s.variants.values()) or [{}]
    out = []
    for variant in variants:
        flat = _flat({**s.defaults, **variants[0], **variant})
        flat = {k: v for k, v in flat.items() if k.split("[")[0] not in s.inert}
        if flat not in out:
            out.append(flat)
    return out


def _eps_like(key: str) -> bool:
    return key in EPS_SWEPT or "eps" in key


EPS_DECADES = tuple(10.0 ** -k for k in range(13))
"""The eps values the wide search also tries: every decade from 1 to 1e-12."""


def _values(family_flats=()):
    """The candidate values of the explain search: the porting search's for the member's
    own start (``source_flat``) and, for the wide search, for each of ``family_flats``
    and :data:`EPS_DECADES` for eps; zero for eps and weight decay (an implementation
    without them)."""
    def values(target, source_flat, key):
        out = list(_candidate_values(target, source_flat, key))
        for flat in family_flats:
            out += _candidate_values(target, flat, key)
        numbers = any(_is_number(v) for v in out)
        if numbers and (_eps_like(key) or key in LR_COUPLED):
            out.append(0.0)
        if numbers and _eps_like(key) and family_flats:
            out += EPS_DECADES
        return _unique(v for v in out if v is not REQUIRED)
    return values


def _lr_key(flat: Mapping) -> str | None:
    return next((k for k in ("lr", "learning_rate") if _is_number(flat.get(k))
                 and flat[k] > 0), None)


def _lr_guess(flat: dict, reference: np.ndarray, trajectory: np.ndarray) -> dict:
    r"""The learning rate that makes a member (at ``flat``, whose ``reference`` run starts
    like ``trajectory``) take the candidate's first step: its own times the median ratio
    of the two first updates, :math:`\eta\,\mathrm{median}(\Delta_{cand} / \Delta_{ref})`,
    at four significant digits; ``{}`` where that is its own or cannot be told. A guess:
    the search keeps it only where the numbers say so."""
    key = _lr_key(flat)
    if key is None or len(reference) < 2:
        return {}
    with np.errstate(all="ignore"):
        d_ref = reference[1].astype(np.float64) - reference[0]
        d_cand = trajectory[1].astype(np.float64) - trajectory[0]
        ok = (d_ref != 0) & (d_cand != 0) & np.isfinite(d_ref) & np.isfinite(d_cand)
        if not ok.any():
            return {}
        ratio = float(np.median(d_cand[ok] / d_ref[ok]))
    if not math.isfinite(ratio) or ratio <= 0:
        return {}
    guess = float(f"{flat[key] * ratio:.4g}")
    return {} if guess == flat[key] else {key: guess}


@dataclass(frozen=True)
class Explanation:
    """What :func:`explain` found: ``ranking`` holds every member searched, best first (a
    :class:`eps_ref.port.Candidate`: name, keywords, plain and scale ULP distance from the
    candidate over the whole stream, and its switch differences from the nearest)."""

    candidate: str
    stream: str
    families: tuple[str, ...]
    ranking: tuple[Candidate, ...]

    @property
    def best(self) -> Candidate:
        return self.ranking[0]

    @property
    def nearest(self) -> str:
        """The qualified name of the spec closest to the candidate."""
        return self.best.name

    @property
    def kwargs(self) -> dict:
        """The nearest spec's keywords (those that differ from its defaults, and the
        required ones) that reproduce the candidate best."""
        return dict(self.best.kwargs)

    @property
    def max_ulp(self) -> int:
        """The nearest configuration's largest plain ULP distance from the candidate."""
        return self.best.max_ulp

    @property
    def scale_ulp(self) -> float:
        """The same distance in ULPs of each element's scale (what decides same math)."""
        return self.best.scale_ulp

    @property
    def same_math(self) -> bool:
        """Whether the nearest configuration runs the candidate's math (within
        :data:`~eps_ref.port.SAME_MATH_ULP` of it)."""
        return self.best.equivalent

    @property
    def equivalent(self) -> list[tuple[str, dict]]:
        """Every configuration found that runs the same math, best first."""
        return [(c.name, dict(c.kwargs)) for c in self.ranking if c.equivalent]

    def config(self) -> str:
        """The nearest configuration as a call: ``keras.optimizers.Adam(epsilon=1e-06)``."""
        return self.best.config()

    def differences(self, against: str, **kwargs) -> list[str]:
        """The rule switches and numbers in which the nearest configuration (what the
        candidate does) differs from spec ``against`` (with ``kwargs``, else its
        defaults), one line each, in the rule docstrings' words; [] when none do."""
        s = _spec(against)
        if s.kind != "optimizer":
            raise TypeError(f"{against} is a {s.kind}, not an optimizer")
        if not kwargs:
            kwargs = dict(next(iter(s.variants.values()), {}))
        return list(differences(_build(against, kwargs), _build(self.nearest, self.kwargs)))

    def to_json(self) -> dict:
        return {"candidate": self.candidate, "stream": self.stream,
                "families": list(self.families), "nearest": self.nearest,
                "kwargs": _jsonable(self.kwargs), "max_ulp": self.max_ulp,
                "scale_ulp": _jsonable(self.scale_ulp), "same_math": self.same_math,
                "equivalent": [[n, _jsonable(k)] for n, k in self.equivalent],
                "ranking": [{"name": c.name, "kwargs": _jsonable(c.kwargs),
                             "max_ulp": c.max_ulp, "scale_ulp": _jsonable(c.scale_ulp),
                             "same_math": c.equivalent, "differences": list(c.differences)}
                            for c in self.ranking]}

    def __str__(self) -> str:
        return report(self)


def report(e: Explanation, runners_up: int = 5) -> str:
    """``str(explanation)``: the verdict, the equivalents, the closest runners-up and what
    each changes."""
    fams = ", ".join(e.families)
    noun = "family" if len(e.families) == 1 else "families"
    lines = [f"{e.candidate}: searched the {fams} {noun} ({len(e.ranking)} specs) on "
             f"{e.stream}", ""]
    units = lambda c: f"{c.scale_ulp:.3g} units ({c.max_ulp} ULP)"  # noqa: E731
    if e.same_math:
        lines += [f"Same math as {e.config()}: {units(e.best)} from the candidate; rounding "
                  f"alone stays within {SAME_MATH_ULP} units of each element's scale."]
        also = [c for c in e.ranking[1:] if c.equivalent]
        if also:
            lines += ["Also the same math:"] + [f"    {c.config()}    # {units(c)}" for c in also]
    else:
        lines += [f"No spec searched runs the same math (rounding alone stays within "
                  f"{SAME_MATH_ULP} units). Nearest: {e.config()}, {units(e.best)} away."]
    rest = [c for c in e.ranking[1:] if not c.equivalent][:runners_up]
    if rest:
        lines += ["", "Runners-up (what each does differently from the nearest; "
                      "differences() has the formulas):"]
        for c in rest:
            lines.append(f"    {c.config()}    # {units(c)}")
            framework = _spec(c.name).framework
            lines += [f"        - {_short(d, framework)}" for d in c.differences[:4]]
    return "\n".join(lines) + "\n"


def _short(line: str, framework: str) -> str:
    """A line of :func:`eps_ref.port.differences` without the rule docstring's words:
    ``eps_placement: optax 'outside_corrected_root'; keras 'eps_hat'``."""
    if line.startswith("rule: "):
        return ": ".join(line.split(": ", 2)[:2])
    i = line.rfind(f"; {framework} ")
    if i < 0:
        return line if len(line) <= 120 else line[:117] + "..."
    return f"{line[:i].split(' (', 1)[0]}; {line[i + 2:].split(' (', 1)[0]}"


def explain(candidate, *, steps: int | None = None, family: str | None = None,
            **known) -> Explanation:
    """Find the specs and keywords that reproduce ``candidate`` (see the module docstring).

    Args:
        candidate: an optimizer of unknown semantics: anything
            :func:`eps_ref.testing.compare` takes (a recording too).
        steps: steps of the conformance stream (default
            :data:`~eps_ref.port.VERIFY_STEPS`, 50; the search itself runs the first
            :data:`~eps_ref.port.SEARCH_STEPS`); with a recording, the first ``steps`` of
            it (default all).
        family: search only this family (:func:`families`: ``"adam"``, ``"rmsprop"``,
            ...); default the :data:`FAMILIES_SEARCHED` closest.
        known: hyperparameters you know, in any framework's spelling (``lr=3e-4``,
            ``betas=(0.9, 0.99)``): the search tries them first.

    Returns an :class:`Explanation`. Raises ``ValueError`` (an unknown family, with the
    nearest name; bad steps; a recording that does not fit) and what
    :func:`eps_ref.testing.compare` raises for a bad candidate.
    """
    from eps_ref import testing
    members = families()
    if family is not None and family not in members:
        close = difflib.get_close_matches(str(family), members, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown family {family!r}{hint}; families: {sorted(members)}")
    recording = testing._as_recording(candidate)
    if recording is not None:
        if steps is not None:
            testing._check_positive_int("steps", steps)
            if steps > recording.steps:
                raise ValueError(f"steps={steps}, but the recording has {recording.steps}")
        n = recording.steps if steps is None else steps
        param0, grads = recording.params0, recording.grads[:n]
        trajectory = np.concatenate([param0[None], recording.trajectory[:n]])
        known_stream = recording.stream().regimes is not None
        description = "the recording"
        stream_text = f"{n} steps of the {'conformance' if known_stream else 'recorded'} stream"
    else:
        n = VERIFY_STEPS if steps is None else steps
        stream = testing.conformance_stream(n)
        runner = testing._runner(candidate)
        param0, grads = stream.params0, stream.grads
        trajectory = np.asarray(runner.run(stream))
        description = runner.description
        stream_text = f"{n} steps of the conformance stream"
    known_flat = _flat(known)
    search = _Search(trajectory, grads, known_flat)
    screened = members if family is None else {family: members[family]}
    for search.variants in (False, True):
        chosen = search.closest_families(screened)[:FAMILIES_SEARCHED]
        found = search.starts([m for fam in chosen for m in members[fam]])
        if any(search.same_math(name, flat) for name, flat in found.items()):
            break
    else:
        for fam in chosen:
            found.update(search.family([m for m in members[fam] if m in found]))
    if not found:
        raise ValueError(f"no spec of the {', '.join(chosen)} family could run on the "
                         f"candidate's stream (parameter shape {param0.shape})")
    ranking = sorted((search.candidate(name, flat) for name, flat in found.items()),
                     key=lambda c: (c.scale_ulp, c.max_ulp, len(c.kwargs)))
    nearest = _build(ranking[0].name, dict(ranking[0].kwargs))
    ranked = [ranking[0]] + [
        Candidate(c.name, c.kwargs, c.max_ulp, c.scale_ulp,
                  differences(nearest, _build(c.name, dict(c.kwargs))), c.tried)
        for c in ranking[1:]]
    return Explanation(description, stream_text, tuple(chosen), tuple(ranked))


class _Search:
    """The search for one candidate trajectory (``trajectory[t]``: the params after step
    ``t`` of ``grads``), its reference runs memoized."""

    def __init__(self, trajectory: np.ndarray, grads: np.ndarray, known_flat: dict):
        self.trajectory, self.grads, self.known = trajectory, grads, known_flat
        self.steps = len(grads)
        self.search_steps = min(SEARCH_STEPS, self.steps)
        self.search_ref = trajectory[:self.search_steps + 1]
        self._runs: dict = {}
        self._starts: dict = {}
        self.variants = False     # whether a start may be one of the table's variants
        self.cache: dict = {}     # the searches' scores, all on search_ref

    def run(self, name: str, kwargs: Mapping, steps: int | None = None) -> np.ndarray:
        steps = self.search_steps if steps is None else steps
        key = (name, repr(sorted(_flat(kwargs).items())), steps)
        if key not in self._runs:
            self._runs[key] = _trajectory(_build(name, kwargs), self.grads[:steps],
                                          self.trajectory[0])
        return self._runs[key]

    def distance(self, name: str, flat: dict) -> float:
        """Scale-ULP distance from the candidate over every step."""
        return scale_ulp(self.trajectory, self.run(name, _unflat(flat), self.steps))

    def same_math(self, name: str, flat: dict) -> bool:
        return self.distance(name, flat) <= SAME_MATH_ULP

    def start(self, name: str) -> dict:
        """Member ``name`` at its defaults or, once :attr:`variants` is set, at the
        configuration of its table (:func:`_configs`: its defaults or one of its
        variants) that comes closest to the candidate on the first :data:`SCREEN_STEPS`
        steps; a variant that changes no number of the rule (a kernel flag) only where it
        comes closer by more than rounding (:data:`~eps_ref.port.PRUNE_LOG_ULP`), and on a
        tie there the one closer over every step. Each has the ``known`` values under its
        own keyword names and its learning rate rescaled to the candidate's first step
        (:func:`_lr_guess`) unless the learning rate is known. Raises where none runs."""
        key = (name, self.variants)
        if key not in self._starts:
            best, error = None, None
            for flat in _configs(name)[:None if self.variants else 1]:
                try:
                    flat, score = self._screen(name, flat)
                except Exception as e:   # a shape or a configuration it rejects
                    error = e
                    continue
                # A variant that only switches kernels must beat rounding; one that
                # changes a number (a beta, an eps) only has to come closer.
                margin = PRUNE_LOG_ULP if best is not None and _same_numbers(
                    name, flat, best[0]) else 0.0
                tie = best is not None and score == best[1] and self.distance(
                    name, flat) < self.distance(name, best[0])   # the screen is too short
                if best is None or score[0] < best[1][0] - margin or tie:
                    best = (flat, score)
            self._starts[key] = best or error
        if isinstance(self._starts[key], Exception):
            raise self._starts[key]
        return self._starts[key][0]

    def _screen(self, name: str, flat: dict) -> tuple[dict, tuple]:
        steps = min(SCREEN_STEPS, self.steps)
        given = {k: self.known[alias] for k in flat for alias in _aliases(k)
                 if alias in self.known}
        flat = {**flat, **given}
        ref = self.run(name, _unflat(flat), steps)
        if _lr_key(flat) not in given:
            guess = _lr_guess(flat, ref, self.trajectory)
            if guess:
                flat = {**flat, **guess}
                ref = self.run(name, _unflat(flat), steps)
        return flat, _score(self.trajectory[:steps + 1], ref)

    def screen_score(self, name: str) -> tuple:
        self.start(name)
        return self._starts[(name, self.variants)][1]

    def starts(self, names) -> dict[str, dict]:
        """The members that run on this stream, at their start."""
        out = {}
        for name in names:
            try:
                self.distance(name, self.start(name))
            except Exception:   # a shape or a configuration it rejects
                continue
            out[name] = self.start(name)
        return out

    def closest_families(self, members: Mapping[str, list]) -> list[str]:
        """The families, the one whose closest member at its start (:meth:`start`) comes
        nearest to the candidate on the first :data:`SCREEN_STEPS` steps first (mean log2
        ULP, :func:`eps_ref.port._score`)."""
        best: dict[str, tuple] = {}
        for fam, names in members.items():
            for name in names:
                try:
                    s = self.screen_score(name)
                except Exception:
                    continue
                if fam not in best or s < best[fam]:
                    best[fam] = s
        return sorted(best, key=best.get)

    def family(self, names: list[str]) -> dict[str, dict]:
        """Search each member: one pass over its own values, then the :data:`SHORTLIST`
        closest two passes over every member's values too. The flat keywords found."""
        found = {}
        for name in names:
            try:
                flat = _search(name, self.start(name), self.search_ref, self.run,
                               accept=lambda f, name=name: self.same_math(name, f),
                               values=_values(), passes=1, cache=self.cache,
                               keep_pruned=self._no_worse(name))
            except Exception:
                flat = None
            found[name] = self.start(name) if flat is None else flat
        family_flats = [_start(name) for name in names] + ([self.known] if self.known else [])
        for name in sorted(found, key=lambda n: self.distance(n, found[n]))[:SHORTLIST]:
            if self.same_math(name, found[name]):
                continue
            wider = _search(name, {**self.start(name), **found[name]}, self.search_ref,
                            self.run, accept=lambda f, name=name: self.same_math(name, f),
                            values=_values(family_flats), passes=2, cache=self.cache,
                            keep_pruned=self._no_worse(name))
            if wider is not None and self.distance(name, wider) < self.distance(name,
                                                                              found[name]):
                found[name] = wider
        return {name: self._without_decay(name, flat) for name, flat in found.items()}

    def _as_good(self, name: str, simpler: dict, flat: dict) -> bool:
        """Whether ``simpler`` explains the candidate as well as ``flat``: no farther from
        it, or both within rounding of it."""
        a, b = self.distance(name, simpler), self.distance(name, flat)
        return a <= b or a <= SAME_MATH_ULP and b <= SAME_MATH_ULP

    def _no_worse(self, name: str):
        """The porting search drops a switch that moves its score by rounding only; here
        a switch stays unless the configuration without it explains the candidate as well
        (:meth:`_as_good`): an AMSGrad max moves few elements, and the mean score hardly."""
        return lambda pruned, flat: self._as_good(name, pruned, flat)

    def _without_decay(self, name: str, flat: dict) -> dict:
        """No weight decay where none explains the candidate as well: a decay of 1e-5
        moves 50 steps by less than rounding does, and the search may land on it."""
        for key in LR_COUPLED:
            if _is_number(flat.get(key)) and flat[key] != 0:
                trial = {**flat, key: 0.0}
                try:
                    if self._as_good(name, trial, flat):
                        flat = trial
                except Exception:   # this spec refuses a zero decay
                    pass
        return flat

    def candidate(self, name: str, flat: dict) -> Candidate:
        traj = self.run(name, _unflat(flat), self.steps)
        return Candidate(name, _paste_kwargs(_spec(name), flat), _ulp(self.trajectory, traj),
                         scale_ulp(self.trajectory, traj), ())
