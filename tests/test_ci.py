"""What CI runs: the README's test command, and a test whose component is missing fails there instead of skipping."""
import os
import subprocess
import sys

from conftest import ROOT

NEEDY_TESTS = '''
import pytest
from conftest import require, require_module, requires

set_up = []


@pytest.fixture()
def expensive():
    set_up.append("expensive")


def test_needs_a_package():
    require(False, "the frobnicator", "apt-get install frobnicator")


@requires(False, "a browser", "apt-get install a-browser")
def test_needs_a_browser(expensive):
    pass


def test_needs_a_module():
    require_module("zoo_no_such_module", "pip install zoo-no-such-module")


def test_has_what_it_needs():
    require(True, "the frobnicator", "apt-get install frobnicator")
    assert require_module("json", "it comes with Python").dumps(1) == "1"


def test_no_fixture_was_set_up_for_a_missing_component():
    assert set_up == []
'''


def run_needy_tests(tmp_path, ci: bool) -> subprocess.CompletedProcess:
    """The tests above in a pytest of their own, with tests/conftest.py as a plugin, with or without CI=true."""
    (tmp_path / "test_needy.py").write_text(NEEDY_TESTS)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]), **({"CI": "true"} if ci else {}))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-p",
                           "no:xdist", "-rsfE", "-q", "test_needy.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_missing_component_skips_with_how_to_install_it(tmp_path):
    result = run_needy_tests(tmp_path, ci=False)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "2 passed, 3 skipped" in result.stdout, result.stdout[-3000:]
    for reason in ("the frobnicator is missing: apt-get install frobnicator",
                   "a browser is missing: apt-get install a-browser",
                   "the Python package zoo_no_such_module is missing: pip install zoo-no-such-module"):
        assert reason in result.stdout, result.stdout[-3000:]


def test_under_ci_a_missing_component_fails_with_how_to_install_it(tmp_path):
    result = run_needy_tests(tmp_path, ci=True)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "skipped" not in result.stdout
    # the test body's checks fail the test; the mark's, checked before the fixtures, is an error in setup
    assert "2 failed, 2 passed, 1 error" in result.stdout, result.stdout[-3000:]
    for failure in ("the frobnicator is missing under CI, where every test must run: apt-get install frobnicator",
                    "a browser is missing under CI, where every test must run: apt-get install a-browser",
                    "the Python package zoo_no_such_module is missing under CI, where every test must run: "
                    "pip install zoo-no-such-module"):
        assert failure in result.stdout, result.stdout[-3000:]


def test_ci_runs_the_readmes_test_command_under_ci():
    """.ci/run installs what the tests need, sets CI=true and runs the README's test command, which lists skips."""
    readme = [line for line in (ROOT / "README.md").read_text().splitlines()[:10] if "-m pytest" in line]
    assert len(readme) == 1
    command = readme[0].split("#")[0].strip()
    assert " -rs" in command
    ci = (ROOT / ".ci" / "run").read_text()
    assert command in ci.splitlines()
    assert "export CI=true" in ci and "apt-get update" in ci and "|| true" not in ci
