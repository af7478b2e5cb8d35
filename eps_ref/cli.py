"""eps-ref: the spec oracle's command line.

  eps-ref conformance [--framework F ...] [--steps N] [--shape D,D,...]
                      [--workload-steps N] [--porting-steps N] [--schedule-steps N]
                      [--carryover-steps N] [--out DIR]
      diff the reference against the installed frameworks, step by step (on the
      conformance tensor, then on the real workload and the size sweep, then the
      drop-ins of every porting pair in their target frameworks, then every schedule
      and the optimizers on a schedule, then optimizer and BatchNorm state carried from
      one framework to another), and write a Markdown + JSON report with plots
  eps-ref bench [--spec NAME ...] [--framework F ...] [--sizes 1e4 1e6 tree 1e7]
                [--repeat N] [--threads N] [--budget S] [--out DIR] [--doc PATH]
      time one reference step next to the frameworks' own CPU steps, a naive NumPy
      formula and the memory-bandwidth floor, with peak extra memory (--doc: the
      performance document, docs/performance.md)
  eps-ref port SPEC --to FRAMEWORK [key=value ...] [--backend B] [--json]
      the native configuration of FRAMEWORK that runs SPEC's math (verified by running
      both references), else the nearest one with its measured gap and what differs,
      switch by switch, and how to use the drop-in
  eps-ref state convert IN --from SPEC --to TARGET OUT --params PARAMS.npz [key=value ...]
      convert an optimizer-state checkpoint (torch.save(opt.state_dict()), or .npz for
      optax and Keras) to TARGET (a framework: the port's nearest configuration, or one of
      its candidates by name), exactly or not at all; nothing is written on an error
  eps-ref explain FILE.npz [--family F] [--steps N] [--against SPEC] [--json] [key=value ...]
      which spec, with which keywords, runs the same math as a recorded trajectory (an .npz
      with params0, grads and trajectory: eps_ref.testing.Recording), and what differs
      from --against; key=value: hyperparameters you know (lr=3e-4)
  eps-ref porting [--check]           regenerate docs/porting.md (or check it is current)
  eps-ref science [--doc PATH]        the epsilon science, run (docs/eps-science.md)
  eps-ref diagnose SPEC [key=value ...] [--grads FILE.npz] [--steps N] [--plot PNG] [--json]
      eps in Algorithm-1 units, the eps-dominated fraction and the step against SignSGD's
      and SGD's, per step, for SPEC and the same nominal numbers in every framework
  eps-ref sweep SPEC [key=value ...] --eps 1e-8,1e-5,1e-3,1 [--problem mlp|logistic]
                [--grads FILE.npz] [--steps N] [--eta0] [--no-dialects] [--plot PNG]
      train a built-in problem at each eps, in every dialect: loss and regime per step
  eps-ref damping SPEC [key=value ...] [--eps E] [--problem P] [--steps N] [--plot PNG]
      Levenberg-Marquardt adaptive eps (rho from a Hessian-vector product) on a problem
  eps-ref specs [--framework F]       list the qualified names known
  eps-ref semantics [--check]         regenerate docs/semantics.md (or check it is current)
"""

from __future__ import annotations

import argparse
import sys
import time

from eps_ref.conformance.streams import SHAPE

FRAMEWORKS = ("torch", "keras", "tf1", "optax", "flax", "tf_keras")


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in text.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive sizes separated by commas")
    return shape


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive whole number")
    return value


def _one_of(known: tuple, what: str = "framework"):
    """An argparse type: one of ``known``, else an error with the nearest ones."""
    import difflib

    def check(text: str) -> str:
        if text in known:
            return text
        close = difflib.get_close_matches(text, known, n=1, cutoff=0.4)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise argparse.ArgumentTypeError(f"unknown {what} {text!r}{hint} (known: "
                                         f"{', '.join(known)})")
    check.__name__ = what
    return check


def _conformance(args) -> int:
    from eps_ref.conformance import runner
    from eps_ref.conformance.cases import cases
    from eps_ref.conformance.journal import Journal
    from eps_ref.conformance.layers import layer_cases, run_layer_cases
    from eps_ref.conformance.report import write_report
    from eps_ref.conformance.runner import PASSING, run_cases

    unknown = _unknown_specs(args.spec or [])
    if unknown:
        print(f"eps-ref conformance: error: {unknown}", file=sys.stderr)
        return 2
    from eps_ref.conformance.schedules import schedule_cases, scheduled_cases
    selected = cases(args.framework or None)
    selected_layers = layer_cases(args.framework or None)
    selected_schedules = (schedule_cases(args.framework, args.spec)
                          + scheduled_cases(args.framework, args.spec)) \
        if args.schedule_steps else []
    if args.spec:
        selected = [c for c in selected if c.spec in args.spec]
        selected_layers = [c for c in selected_layers if c.spec in args.spec]
    if not selected and not selected_layers and not selected_schedules:
        print("eps-ref conformance: no case matches the selection", file=sys.stderr)
        return 2
    from eps_ref.conformance.carryover import carryover_cases
    selected_carry = carryover_cases(args.framework, args.spec) if args.carryover_steps else []
    planned = (len(selected) + len(selected_layers) + len(selected_schedules)
               + len(selected_carry))
    from eps_ref.conformance.report import uncertified_versions
    uncertified = uncertified_versions()
    try:    # the report folder must take the journal before any case runs
        journal = Journal(args.out, {"argv": sys.argv[1:], "framework": args.framework,
                                     "spec": args.spec, "steps": args.steps,
                                     "shape": args.shape, "planned_cases": planned,
                                     "uncertified_versions": uncertified})
    except OSError as e:
        print(f"eps-ref conformance: error: cannot write the report to {args.out!r}: "
              f"{e.strerror or e}", file=sys.stderr)
        return 2
    print(f"eps-ref conformance: {len(selected)} optimizer cases ({args.steps} float32 steps "
          f"each, parameter shape {'x'.join(map(str, args.shape))}) and "
          f"{len(selected_layers)} layer cases, device {args.device}; every finished case "
          f"goes to {journal.path}", flush=True)
    for fw, v in uncertified.items():
        print(f"eps-ref conformance: uncertified version: {fw} {v['installed']} is "
              f"installed, the {fw} table was read from {v['table']}", flush=True)
    start = time.perf_counter()
    progress = lambda line: print(line, flush=True)  # noqa: E731

    def notice(signal_name):
        print(f"\n{signal_name}: stopping the run (again to quit at once); the finished "
              f"cases are in {journal.path}", file=sys.stderr, flush=True)

    ended = None
    try:
        with runner.stop_on_signals(notice=notice), runner.streaming(journal.record), \
                runner.reusing_workers():
            try:
                results, versions, _ = run_cases(
                    selected, steps=args.steps, device=args.device, jobs=args.jobs,
                    timeout=args.timeout, progress=progress, shape=args.shape) \
                    if selected else ([], {}, None)
                journal.section = "layer cases"
                layer_results, layer_versions = run_layer_cases(
                    selected_layers, device=args.device, jobs=args.jobs, timeout=args.timeout,
                    progress=progress) if selected_layers and not runner.stop_requested() \
                    else ([], {})
                for label, v in layer_versions.items():
                    versions.setdefault(label, v)
                trees = _workload(args, selected, progress, journal) \
                    if args.workload_steps and not runner.stop_requested() else {}
                porting = _porting_pairs(args, selected, progress, journal) \
                    if args.porting_steps and not runner.stop_requested() else None
                schedules = _schedules(args, selected_schedules, progress, journal) \
                    if selected_schedules and not runner.stop_requested() else None
                carried = _carryover(args, selected_carry, progress, journal) \
                    if selected_carry and not runner.stop_requested() else None
                if not runner.stop_requested():
                    out = write_report(results, versions, args.out, args.steps,
                                       device=args.device, layer_results=layer_results,
                                       shape=args.shape, workload_results=trees,
                                       porting=porting, schedules=schedules,
                                       carryover=carried)
            except runner.Interrupted:
                pass
            ended = runner.stop_requested()
    except BaseException as e:      # a crash: what finished is kept, then the traceback
        how = f"{type(e).__name__}: {e}"
        journal.end(how)
        journal.write_partial(how, planned)
        raise
    if ended:
        journal.end(ended)
        out = journal.write_partial(ended, planned)
        print(f"\n{ended}: {len(journal.records)} of {planned} planned cases finished in "
              f"{time.perf_counter() - start:.0f} s; partial report: {out / 'report.md'}",
              file=sys.stderr)
        return {"SIGINT": 130, "SIGTERM": 143}.get(ended, 1)
    journal.end("complete")
    tree_results = [r for _, rs in trees.values() for r in rs]
    tree_results += porting[1] if porting else []
    tree_results += schedules[1] if schedules else []
    tree_results += carried[1] if carried else []
    counts: dict[str, int] = {}
    for r in [*results, *layer_results, *tree_results]:
        counts[r.status] = counts.get(r.status, 0) + 1
    print(f"\n{', '.join(f'{n} {s}' for s, n in sorted(counts.items()))} "
          f"in {time.perf_counter() - start:.0f} s; report: {out / 'report.md'}")
    failed = [r for r in [*results, *layer_results, *tree_results]
              if r.status not in (*PASSING, "skipped", "open", "not certified here")]
    return 1 if failed else 0


def _porting_pairs(args, selected, progress, journal=None):
    """The drop-ins of the porting pairs whose source is selected (and whose target
    framework is, with ``--framework``), run in their target frameworks: ``(steps, results,
    rows)`` for the report, or None when no pair is selected."""
    from eps_ref.conformance.porting import (dropin_cases, framework_of, porting_rows,
                                             run_dropin_cases)
    from eps_ref.conformance.runner import stop_requested
    chosen = {c.spec for c in selected}
    pairs = [c for c in dropin_cases() if c.spec in chosen
             and (not args.framework or framework_of(c.label) in args.framework)]
    if not pairs:
        return None
    print(f"\nporting: {len(pairs)} drop-ins in their target frameworks, "
          f"{args.porting_steps} steps", flush=True)
    if journal is not None:
        journal.section = "porting"
    results, _ = run_dropin_cases(pairs, args.porting_steps, jobs=args.jobs,
                                  timeout=args.timeout, progress=progress)
    if stop_requested():
        return None
    print("porting: the nominal ports and the plans' nearest configurations", flush=True)
    return args.porting_steps, results, porting_rows(results, args.porting_steps)


def _schedules(args, selected, progress, journal=None):
    """The schedule cases and the optimizers on a schedule, each in its framework:
    ``(steps, results)`` for the report, or None after a stop."""
    from eps_ref.conformance.runner import stop_requested
    from eps_ref.conformance.schedules import run_schedule_cases
    print(f"\nschedules: {len(selected)} schedules and optimizers on a schedule against "
          f"their frameworks, {args.schedule_steps} steps", flush=True)
    if journal is not None:
        journal.section = "schedules"
    results = run_schedule_cases(selected, args.schedule_steps, jobs=args.jobs,
                                 timeout=args.timeout, progress=progress)
    return None if stop_requested() else (args.schedule_steps, results)


def _carryover(args, selected, progress, journal=None):
    """The state carry-over pairs (:mod:`eps_ref.conformance.carryover`): ``((k, n),
    results)`` for the report, or None after a stop."""
    from eps_ref.conformance.carryover import run_carryover_cases
    from eps_ref.conformance.runner import stop_requested
    steps = (args.carryover_steps, args.carryover_steps)
    print(f"\nstate carry-over: {len(selected)} runs continued in another framework from "
          f"their converted state, {steps[0]} + {steps[1]} steps", flush=True)
    if journal is not None:
        journal.section = "state carry-over"
    results = run_carryover_cases(selected, steps, jobs=args.jobs, timeout=args.timeout,
                                  progress=progress)
    return None if stop_requested() else (steps, results)


def _unknown_specs(names) -> str | None:
    """The first of ``names`` that is no spec, with the nearest ones, or ``None``."""
    import difflib
    import eps_ref
    known = eps_ref.specs()
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            return f"unknown spec {name!r}{hint} (eps-ref specs lists them)"
    return None


def _workload(args, selected, progress, journal=None) -> dict:
    """The selected cases that run on parameter trees, on the real workload and the size
    sweep: ``{title: (steps, results)}``."""
    from eps_ref.conformance.runner import stop_requested
    from eps_ref.conformance.workload import (WorkloadUnavailable, record, run_workload_cases,
                                              size_sweep, workload_cases)
    from eps_ref.backends import eager_label
    chosen = {(c.spec, c.variant, c.label) for c in selected}
    # a compiled label runs the cases of its eager one
    tree_cases = [c for c in workload_cases()
                  if (c.spec, c.variant, eager_label(c.label)) in chosen]
    if not tree_cases:
        return {}
    trees = {}
    try:
        inputs = record(args.workload_steps)
    except WorkloadUnavailable as e:
        print(f"eps-ref conformance: real workload skipped: {e}", flush=True)
    else:
        print(f"\nreal workload: {len(tree_cases)} cases on a recorded training run's "
              f"26 tensors, {args.workload_steps} steps", flush=True)
        title = "Real workload (a recorded training run's parameter list)"
        if journal is not None:
            journal.section = title
        trees[title] = (
            args.workload_steps, run_workload_cases(
                tree_cases, inputs, device=args.device, jobs=args.jobs,
                timeout=args.timeout, progress=progress)[0])
    if stop_requested():
        return trees
    print(f"\nsize sweep: {len(tree_cases)} cases, {args.workload_steps} steps", flush=True)
    title = "Size sweep (one parameter list of the lengths where kernels change path)"
    if journal is not None:
        journal.section = title
    trees[title] = (
        args.workload_steps, run_workload_cases(
            tree_cases, size_sweep(args.workload_steps), device=args.device, jobs=args.jobs,
            timeout=args.timeout, progress=progress)[0])
    return trees


def _bench(args) -> int:
    from eps_ref import bench

    try:
        sizes = [bench.parse_size(s) for s in args.sizes]
    except ValueError as e:
        print(f"eps-ref bench: {e}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    print(f"eps-ref bench: one step per size, best of {args.repeat}, {args.threads} "
          f"thread(s), sizes {' '.join(sizes)}; a step predicted over {args.budget:g} s is "
          "skipped", flush=True)
    try:
        results = bench.run(args.spec or None, sizes, repeat=args.repeat, budget=args.budget,
                            threads=args.threads, frameworks=args.framework or None,
                            progress=lambda line: print(line, flush=True))
    except (KeyError, ValueError) as e:
        print(f"eps-ref bench: {e}", file=sys.stderr)
        return 2
    within = [r for r in results if r.ratio() and r.ratio() <= 2.0]
    rated = [r for r in results if r.ratio()]
    print(f"\n{len(within)} of {len(rated)} spec/backend/size steps within 2x of the "
          f"framework's default step, in {time.perf_counter() - start:.0f} s")
    if args.out:
        out = bench.write(results, args.out)
        print(f"report: {out / 'bench.md'}")
    if args.doc:
        command = "eps-ref bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else \
            "eps-ref bench"
        path = bench.write_document(results, args.doc, command=command,
                                    seconds=time.perf_counter() - start)
        print(f"document: {path}")
    return 0


def _science(args) -> int:
    from eps_ref import science
    if args.samples < 2:
        print(f"eps-ref science: --samples must be at least 2, got {args.samples}",
              file=sys.stderr)
        return 2
    science.write_document(args.doc, samples=args.samples)
    print(f"document: {args.doc}")
    return 0


def _eps_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give eps values as 1e-8,1e-3,1") from None


def _science_errors(command: str, run):
    """Run ``run()``; a bad input is one line on stderr and exit status 2."""
    try:
        return run()
    except (OSError, KeyError, ValueError, TypeError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"eps-ref {command}: {message}", file=sys.stderr)
        return 2


def _finite(values) -> list:
    """A float array as a JSON list: NaN and infinities as null."""
    return [x if x == x and abs(x) != float("inf") else None for x in values.tolist()]


def _science_command(command: str, args, run, records) -> int:
    """``run()``, then its result's Markdown, or ``records(result)`` as JSON with
    ``--json``, and its plot with ``--plot``; a bad input is one line on stderr and exit
    status 2."""
    import json
    result = _science_errors(command, run)
    if isinstance(result, int):
        return result
    print(json.dumps(records(result)) if args.json else result.markdown())
    if args.plot:
        result.plot(args.plot)
        print(f"plot: {args.plot}", file=sys.stderr)
    return 0


def _eps_parser(sub, name: str, help_: str, plot: str, json_: str | None = None):
    """A subcommand of the eps tools: SPEC, key=value keywords, --plot (and --json)."""
    p = sub.add_parser(name, help=help_)
    p.add_argument("spec")
    p.add_argument("keywords", nargs="*", metavar="key=value")
    p.add_argument("--plot", default=None, help=f"write {plot} here (.png)")
    if json_:
        p.add_argument("--json", action="store_true", help=f"print {json_} as JSON")
    return p


def _diagnose(args) -> int:
    from eps_ref import diagnostics

    def run():
        return diagnostics.diagnose(args.spec, args.grads, steps=args.steps or 1000,
                                    compare=not args.no_compare, progress=lambda line: print(
                                        line, file=sys.stderr, flush=True),
                                    **_keywords(args.keywords))
    return _science_command("diagnose", args, run, lambda report: [
        {"spec": d.name, "kwargs": {k: repr(v) for k, v in d.kwargs.items()},
         "placement": d.placement.where,
         **{k: _finite(getattr(d, k)) for k in ("eps_median", "eps_min", "eps_max",
                                                "dominated", "sign_ratio", "sgd_ratio")},
         "dominated_by_regime": d.dominated_by_regime} for d in report.runs])


def _sweep(args) -> int:
    from eps_ref import sweep

    def run():
        return sweep.sweep(args.spec, args.eps, problem=args.problem, grads=args.grads,
                           steps=args.steps or 500, eta0=args.eta0,
                           dialects=not args.no_dialects,
                           progress=lambda n, e: print(f"running {n} at eps={e:g}",
                                                       file=sys.stderr, flush=True),
                           **_keywords(args.keywords))
    return _science_command("sweep", args, run, lambda result: [
        {"spec": r.name, "eps": r.eps, "loss": _finite(r.loss),
         "dominated": _finite(r.dominated)} for r in result.runs])


def _damping(args) -> int:
    from eps_ref.damping import AdaptiveDamping
    from eps_ref.problems import problem

    def run():
        kwargs = _keywords(args.keywords)
        return AdaptiveDamping(args.spec, eps=args.eps, **kwargs).run(
            problem(args.problem), args.steps or 1000)
    h = _science_errors("damping", run)
    if isinstance(h, int):
        return h
    print(f"{args.spec} on {args.problem}, {len(h.loss)} steps: loss {h.initial_loss:.4g} -> "
          f"{h.loss[-1]:.4g}; eps {h.eps[0]:.3g} -> {h.eps_after[-1]:.3g} "
          f"({h.decreases} decreases, {h.increases} increases in {len(h.rho)} evaluations)")
    print("| step | loss | rho | eps after |\n|---|---|---|---|")
    marks = sorted({0, len(h.evaluated) // 4, len(h.evaluated) // 2, len(h.evaluated) - 1})
    for i in marks:
        t = h.evaluated[i]
        print(f"| {t} | {h.loss[t - 1]:.4g} | {h.rho[i]:.3g} | {h.eps_after[i]:.3g} |")
    if args.plot:
        from eps_ref.science import plot_damping
        plot_damping({args.spec: h}, args.plot)
        print(f"plot: {args.plot}", file=sys.stderr)
    return 0


def _specs(args) -> int:
    import eps_ref
    for name in eps_ref.specs(framework=args.framework):
        print(name)
    return 0


def _semantics(args) -> int:
    from eps_ref.docs import SEMANTICS_PATH, semantics_markdown
    return _generated(args, SEMANTICS_PATH, semantics_markdown, "eps-ref semantics")


def parse_value(text: str):
    """A keyword value from the command line: a Python literal (``1e-3``, ``(0.9, 0.99)``,
    ``True``, ``'constant'``), or ``true``/``false``/``none``."""
    import ast
    words = {"true": True, "false": False, "none": None}
    if text.lower() in words:
        return words[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(f"cannot parse the value {text!r}: give a Python literal (1e-3, "
                         "(0.9, 0.99), True, and strings in quotes: 'constant')") from None


def _port(args) -> int:
    import json
    import eps_ref
    try:
        kwargs = _keywords(args.keywords)
        plan = eps_ref.port(args.spec, to=args.to, backend=args.backend, **kwargs)
    except (KeyError, ValueError, TypeError, NotImplementedError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"eps-ref port: error: {message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(plan.to_json(), indent=2))
    else:
        print(plan, end="")
    return 0


def _keywords(items) -> dict:
    kwargs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"{item!r}: give keywords as key=value (lr=3e-4)")
        kwargs[key] = parse_value(value)
    return kwargs


def _state_convert(args) -> int:
    from eps_ref.state_files import convert_file
    paths = [a for a in args.items if "=" not in a]
    try:
        if len(paths) != 2:
            raise ValueError(f"give the input and the output file, got {paths}")
        kwargs = _keywords([a for a in args.items if "=" in a])
        framework_or_spec = args.to
        candidate = framework_or_spec if "." in framework_or_spec else None
        plan, chosen = convert_file(args.source, kwargs,
                                    framework_or_spec if candidate is None else None,
                                    paths[0], paths[1], args.params, backend=args.backend,
                                    step=args.step, candidate=candidate)
    except (KeyError, ValueError, TypeError, NotImplementedError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"eps-ref state convert: error: {message}", file=sys.stderr)
        return 2
    print(f"wrote {paths[1]}: the state of {chosen.config()}"
          + ("" if chosen.equivalent else " (the nearest configuration, not the same math: "
             "see eps-ref port)"))
    return 0


def _explain(args) -> int:
    import json
    from eps_ref.explain import explain
    from eps_ref.testing import Recording
    try:
        known = _keywords(args.keywords)
        recording = Recording.load(args.file)
        if args.against:
            import eps_ref
            eps_ref.spec(args.against)
        result = explain(recording, steps=args.steps, family=args.family, **known)
        against = result.differences(args.against) if args.against else None
    except (OSError, KeyError, ValueError, TypeError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"eps-ref explain: error: {message}", file=sys.stderr)
        return 2
    if args.json:
        data = result.to_json()
        if against is not None:
            data["against"] = {"name": args.against, "differences": against}
        print(json.dumps(data, indent=2))
        return 0
    print(result, end="")
    if against is not None:
        head = f"\nWhat it does differently from {args.against}:"
        print(head if against else f"\nIt runs {args.against}'s switches and numbers.")
        for line in against:
            print(f"  - {line}")
    return 0


def _porting(args) -> int:
    from eps_ref.port_docs import PORTING_PATH, porting_markdown
    return _generated(args, PORTING_PATH, porting_markdown, "eps-ref porting")


def _generated(args, default_path, generate, command) -> int:
    import os
    text = generate()
    path = args.path or default_path
    if args.check:
        current = open(path).read() if os.path.exists(path) else ""
        if current != text:
            print(f"{path} is out of date: run `{command}`", file=sys.stderr)
            return 1
        print(f"{path} is current")
        return 0
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="eps-ref", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("conformance", help="diff the reference against the real frameworks")
    p.add_argument("--framework", nargs="+", type=_one_of(FRAMEWORKS),
                   help="dialects to check: " + ", ".join(FRAMEWORKS) + " (default: all)")
    p.add_argument("--spec", nargs="+", help="only these qualified names")
    p.add_argument("--steps", type=int, default=1000, help="steps per case (default 1000)")
    p.add_argument("--shape", type=_shape, default=SHAPE,
                   help="the optimizer cases' parameter shape, e.g. 3,37 (default "
                        f"{','.join(map(str, SHAPE))}; layer cases keep their own)")
    p.add_argument("--workload-steps", type=int, default=20,
                   help="steps of the cases run on the real workload and the size sweep "
                        "(default 20; 0 skips them)")
    p.add_argument("--porting-steps", type=int, default=200,
                   help="steps of the porting pairs' drop-ins, nominal ports and nearest "
                        "configurations (default 200; 0 skips them)")
    p.add_argument("--schedule-steps", type=int, default=1000,
                   help="optimizer steps of each schedule and optimizer on a schedule "
                        "(default 1000; 0 skips them)")
    p.add_argument("--carryover-steps", type=int, default=6,
                   help="optimizer steps before and after each state carry-over "
                        "(default 6; 0 skips them)")
    p.add_argument("--out", default="conformance-report", help="report folder")
    p.add_argument("--device", default="cpu", choices=("cpu",), help="device (cpu)")
    p.add_argument("--jobs", type=_positive_int, default=None, help="backends run at once")
    p.add_argument("--timeout", type=_positive_seconds, default=300.0,
                   help="seconds per case (default 300)")
    p.set_defaults(func=_conformance)

    p = sub.add_parser("bench", help="time the reference next to the frameworks' own steps")
    p.add_argument("--spec", nargs="+", help="only these optimizer specs (default: all)")
    p.add_argument("--framework", nargs="+", type=_one_of(FRAMEWORKS + ("paper",)),
                   help="only these dialects")
    p.add_argument("--sizes", nargs="+", default=["1e4", "1e6", "tree"],
                   help="float32 elements per parameter, or 'tree' (25 tensors, 201k); "
                        "default 1e4 1e6 tree (add 1e7 for the memory-bound regime)")
    p.add_argument("--repeat", type=int, default=3, help="timed steps per size (the best "
                                                          "counts; default 3)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch/TensorFlow/XLA/BLAS threads (default 1)")
    p.add_argument("--budget", type=float, default=4.0,
                   help="skip a size whose step is predicted to take longer (seconds, "
                        "default 4)")
    p.add_argument("--out", default=None, help="write bench.json, bench.md, bench.png here")
    p.add_argument("--doc", default=None,
                   help="write the performance document here (docs/performance.md: the "
                        "targets, memory and every table, its plot and data beside it)")
    p.set_defaults(func=_bench)

    p = sub.add_parser("science", help="the softsign analysis of Adam's eps, checked by "
                                        "Monte Carlo (docs/eps-science.md)")
    p.add_argument("--doc", default="docs/eps-science.md", help="where to write the document "
                                                               "(default docs/eps-science.md)")
    p.add_argument("--samples", type=int, default=20000,
                   help="Monte-Carlo draws per grid point (default 20000)")
    p.set_defaults(func=_science)

    p = _eps_parser(sub, "diagnose", "eps in Algorithm-1 units and the eps-dominated "
                    "fraction, per step, across frameworks", "the four-panel plot",
                    "the per-step arrays")
    p.add_argument("--grads", default=None, help="an .npz of recorded gradients: 'grads' "
                   "(steps, ...) or 'grads/<name>' arrays, optionally 'params0' (default: "
                   "the conformance stream)")
    p.add_argument("--steps", type=int, default=None,
                   help="steps of the conformance stream (default 1000)")
    p.add_argument("--no-compare", action="store_true",
                   help="only SPEC, not its nominal counterparts in the other frameworks")
    p.set_defaults(func=_diagnose)

    p = _eps_parser(sub, "sweep", "train a built-in problem at several eps, in every "
                    "dialect", "the loss and regime plot", "the curves")
    p.add_argument("--eps", type=_eps_list, default=(1e-8, 1e-5, 1e-3, 1.0),
                   help="comma-separated eps values (default 1e-8,1e-5,1e-3,1)")
    p.add_argument("--problem", default="mlp", help="logistic or mlp (default mlp)")
    p.add_argument("--grads", default=None, help="recorded gradients instead of a problem "
                   "(the regime fractions only: nothing is retrained)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default 500)")
    p.add_argument("--eta0", action="store_true",
                   help="the learning-rate keyword is eta0; each run uses lr = eta0/eps")
    p.add_argument("--no-dialects", action="store_true",
                   help="only SPEC, not its nominal counterparts in the other frameworks")
    p.set_defaults(func=_sweep)

    p = _eps_parser(sub, "damping", "Levenberg-Marquardt adaptive eps on a problem",
                    "eps and the loss against the step")
    p.add_argument("--eps", type=float, default=None,
                   help="the initial eps (default: the spec's default)")
    p.add_argument("--problem", default="mlp", help="logistic or mlp (default mlp)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default 1000)")
    p.set_defaults(func=_damping)

    p = sub.add_parser("specs", help="list every qualified name known")
    p.add_argument("--framework", default=None, type=_one_of(FRAMEWORKS + ("paper",)))
    p.set_defaults(func=_specs)

    p = sub.add_parser("semantics", help="regenerate docs/semantics.md from the spec tables")
    p.add_argument("--check", action="store_true", help="fail if the file is not current")
    p.add_argument("--path", default=None)
    p.set_defaults(func=_semantics)

    p = sub.add_parser("port", help="port a configuration to another framework")
    p.add_argument("spec", help="qualified name, e.g. torch.optim.Adam")
    p.add_argument("keywords", nargs="*", metavar="key=value",
                   help="the source's keywords, in its own spelling")
    p.add_argument("--to", required=True, help="target framework: " + ", ".join(FRAMEWORKS))
    p.add_argument("--backend", default=None, help="the target's backend (Keras: "
                                                   "tensorflow, jax, torch)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=_port)

    p = sub.add_parser("state", help="optimizer state across frameworks")
    state_sub = p.add_subparsers(dest="state_command", required=True)
    p = state_sub.add_parser("convert", help="convert an optimizer-state checkpoint file")
    p.add_argument("items", nargs="+", metavar="ITEM",
                   help="IN OUT [key=value ...]: the source checkpoint (torch: "
                        "torch.save(opt.state_dict()); optax, Keras: .npz, see "
                        "eps_ref.state_files), the output file, and the source's keywords in "
                        "its own spelling")
    p.add_argument("--from", dest="source", required=True,
                   help="the source optimizer, e.g. torch.optim.Adam")
    p.add_argument("--to", required=True, help="a target framework (the nearest "
                   "configuration) or a target optimizer among the port's candidates")
    p.add_argument("--params", required=True, help=".npz of the parameters, in the "
                   "optimizer's order")
    p.add_argument("--backend", default=None, help="the target's backend (Keras)")
    p.add_argument("--step", type=int, default=None,
                   help="the step count, where the source file keeps none (torch SGD)")
    p.set_defaults(func=_state_convert)

    p = sub.add_parser("explain", help="which spec runs the math of a recorded trajectory")
    p.add_argument("file", help="an .npz with params0, grads and trajectory (the params "
                                "after each step)")
    p.add_argument("keywords", nargs="*", metavar="key=value",
                   help="hyperparameters you know, in any framework's spelling")
    p.add_argument("--family", default=None, help="search only this family (adam, rmsprop, "
                                                  "...; default the closest two)")
    p.add_argument("--steps", type=int, default=None, help="use the first N steps "
                                                           "(default all)")
    p.add_argument("--against", default=None, help="also list what differs from this spec")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_explain)

    p = sub.add_parser("porting", help="regenerate docs/porting.md from the plans")
    p.add_argument("--check", action="store_true", help="fail if the file is not current")
    p.add_argument("--path", default=None)
    p.set_defaults(func=_porting)

    # `port SPEC --to F key=value ...`: keywords may follow the options.
    args, extra = parser.parse_known_args(argv)
    if extra and args.command in ("port", "explain", "diagnose", "sweep", "damping"):
        args.keywords = [*args.keywords, *extra]
    elif extra and args.command == "state":
        args.items = [*args.items, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "steps", None) is not None and args.steps < 1:
        parser.error("--steps must be at least 1")
    if getattr(args, "workload_steps", 0) < 0:
        parser.error("--workload-steps must be at least 0")
    if getattr(args, "porting_steps", 0) < 0:
        parser.error("--porting-steps must be at least 0")
    if getattr(args, "schedule_steps", 0) < 0:
        parser.error("--schedule-steps must be at least 0")
    if getattr(args, "carryover_steps", 0) < 0:
        parser.error("--carryover-steps must be at least 0")
    if getattr(args, "repeat", 1) < 1 or getattr(args, "threads", 1) < 1:
        parser.error("--repeat and --threads must be at least 1")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
