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
    assert "eps-ref conformance" in install_and_run and ".[frameworks," in install_and_run
    assert "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci, ".ci/run must run the README's test command verbatim"


def test_examples_print_what_the_readme_says(capsys):
    # each python block is followed by the block of what it prints; they share a namespace
    examples = re.findall(r"```python\n(.*?)```\s*(?:prints\s*)?```\n(.*?)```", README, flags=re.S)
    assert len(examples) == len(_blocks("python")) >= 2
    assert len(examples[0][0].strip().splitlines()) <= 12       # "the oracle in ten lines"
    namespace = {}
    for code, printed in examples:
        exec(compile(code, "README example", "exec"), namespace)
        assert capsys.readouterr().out == printed
