"""The README's set-up commands and example stay true: CI runs the README's test command,
and the oracle example runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_two_setup_commands_and_ci_runs_the_test_one():
    install_and_run, tests = [b.strip() for b in _blocks("bash")]
    assert "eps-ref conformance" in install_and_run and ".[frameworks]" in install_and_run
    assert "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci, ".ci/run must run the README's test command verbatim"


def test_oracle_example_runs(capsys):
    (example,) = _blocks("python")
    assert len(example.strip().splitlines()) <= 12
    exec(compile(example, "README example", "exec"), {})
    printed = re.search(r"prints\n\n```\n(.*?)```", README, flags=re.S).group(1)
    assert capsys.readouterr().out == printed
