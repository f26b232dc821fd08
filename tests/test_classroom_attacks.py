"""Attacks on the classroom's grading (issue 13), each a planted hostile submission of a1_neurons
(tests/classroom_attacks.py), all graded in one ``scripts/classroom.py grade`` call in the
sandbox, beside nothing else (tests/test_classroom.py grades the honest ones in its own call,
in the other pytest process); and the judge's guards that need no grading run.

Whatever the student's code saw inside the sandbox, it can report only through its functions'
results: the scores, and files that must not appear on the grader's side, are the proof.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest
from classroom_attacks import Attack, attacks
from nbgrader.api import Gradebook
from test_classroom import COURSE, GENERATED, ROOT, TIMEOUT, classroom, submission

sys.path.insert(0, str(ROOT / "scripts"))
import judge  # noqa: E402
import wire  # noqa: E402

pytestmark = pytest.mark.classroom

ASSIGNMENT = "a1_neurons"


@dataclass
class Attacked:
    path: Path
    attacks: dict[str, Attack]
    scores: dict[str, dict[str, float]]  # student -> grade id -> score
    max_scores: dict[str, float]
    flags: dict[str, list[str]]  # student -> grades.csv's flags
    connections: int  # connections the grader's listening port accepted while grading


def hostile(course: Path, attack: Attack):
    """The reference solution (or the released stubs returning x) with the attack planted."""
    if attack.start == "blank":
        notebook = nbformat.read(course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
        for cell in notebook.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = cell.source.replace("raise NotImplementedError()", "return x")
    else:
        notebook = submission(course, ASSIGNMENT, "reference")
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == attack.cell:
            assert cell.source.count(attack.old) == 1, f"the attack does not fit {attack.cell}"
            cell.source = cell.source.replace(attack.old, attack.new)
    return notebook


@pytest.fixture(scope="session")
def attacked(tmp_path_factory) -> Attacked:
    course = tmp_path_factory.mktemp("attacks") / "course"
    others = [p.name for p in (COURSE / "source").iterdir() if p.name != ASSIGNMENT]
    shutil.copytree(COURSE, course, ignore=shutil.ignore_patterns(*GENERATED, *others))
    classroom("generate", "--course", course)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        plans = attacks(course, ROOT, listener.getsockname()[1], uuid.uuid4().hex)
        for student, attack in plans.items():
            folder = course / "submitted" / student / ASSIGNMENT
            folder.mkdir(parents=True)
            nbformat.write(hostile(course, attack), folder / f"{ASSIGNMENT}.ipynb")
        classroom("grade", "--course", course, f"--ExecutePreprocessor.timeout={TIMEOUT}")
        listener.setblocking(False)
        connections = 0
        while True:
            try:
                listener.accept()[0].close()
                connections += 1
            except BlockingIOError:
                break
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in plans:
            notebook = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
            scores[student] = {g.name: g.score for g in notebook.grades}
            max_scores = {g.name: g.max_score for g in notebook.grades}
    with open(course / "grades.csv", newline="") as file:
        flags = {r["student_id"]: r["flags"].split("; ") for r in csv.DictReader(file)}
    return Attacked(course, plans, scores, max_scores, flags, connections)


def _scores_and_flags(attacked: Attacked, student: str) -> None:
    """The student lost exactly its attack's parts and got its flags."""
    attack = attacked.attacks[student]
    expected = {
        name: 0.0 if name in attack.loses else full for name, full in attacked.max_scores.items()
    }
    assert attacked.scores[student] == expected
    assert set(attack.flags) <= set(attacked.flags[student]), attacked.flags[student]


def test_the_issues_exploit_scores_exactly_zero_and_is_flagged(attacked):
    # Every function returns x; the checks and numpy's asserts were rebound in its cell.
    assert set(attacked.scores["exploit"].values()) == {0.0}
    assert set(attacked.attacks["exploit"].flags) <= set(attacked.flags["exploit"])


def test_the_same_tampering_beside_correct_work_gains_and_loses_nothing(attacked):
    _scores_and_flags(attacked, "honest_tamper")
    assert attacked.scores["honest_tamper"] == attacked.max_scores


def test_the_flags_are_in_the_feedback(attacked):
    classroom("feedback", "--course", attacked.path, "--CourseDirectory.student_id=exploit")
    report = attacked.path / "feedback" / "exploit" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    text = report.read_text()
    assert "Flagged for review" in text and "rebinds-instructor-name:check_activation" in text


def test_a_write_outside_the_sandbox_fails_and_the_file_does_not_appear(attacked):
    _scores_and_flags(attacked, "escape")  # full marks: every write failed
    targets = [attacked.path, ROOT, Path.home()]
    escaped = [p for t in targets for p in t.glob("escaped-*.txt")]
    assert not escaped, f"the student's code wrote {escaped}"


def test_the_gradebook_and_other_submissions_are_unreadable(attacked):
    _scores_and_flags(attacked, "snoop")  # full marks: no read succeeded
    secrets = ["gradebook.db", f"submitted/exploit/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"]
    assert all((attacked.path / secret).is_file() for secret in secrets), "nothing to read"


def test_a_network_connection_fails(attacked):
    _scores_and_flags(attacked, "network")  # full marks: no connection
    assert attacked.connections == 0


@pytest.mark.parametrize("student", ["forkbomb", "memhog", "bigfile"])
def test_the_limits_stop_it_and_the_other_parts_are_graded(attacked, student):
    _scores_and_flags(attacked, student)


@pytest.mark.parametrize("student", ["exit", "kill"])
def test_a_process_that_ends_itself_loses_only_that_part(attacked, student):
    _scores_and_flags(attacked, student)
    assert any(flag.startswith("process-died") for flag in attacked.flags[student])


def test_nbgraders_interrupt_kills_the_student_process_and_a_fresh_one_replays(tmp_path):
    # nbgrader interrupts the kernel at its cell timeout (SIGINT: a KeyboardInterrupt in the
    # judge's wait); here an alarm raises it, the judge's own timeout being far longer.
    namespace = {}
    referee = judge.Judge(namespace, folder=tmp_path, timeout=60)
    referee.run_cell(
        0, "def double(x):\n    return 2 * x\n\ndef loop():\n    while True:\n        pass\n"
    )
    first = referee.proc

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        with pytest.raises(KeyboardInterrupt):
            namespace["loop"]()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert first.poll() is not None, "the student process still runs"
    assert namespace["double"](np.arange(3)).tolist() == [0, 2, 4]  # a new process, replayed
    assert referee.proc.pid != first.pid and list(referee.flags) == ["interrupted"]
    referee.close()


def test_make_grade_refuses_without_the_sandbox_and_says_how_to_opt_in(tmp_path):
    (tmp_path / "submitted" / "someone" / "a1").mkdir(parents=True)
    (tmp_path / "submitted" / "someone" / "a1" / "a1.ipynb").write_text("{}")
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "classroom.py"), "grade", "--course", tmp_path],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(tmp_path)},  # no bwrap on it
    )
    assert run.returncode != 0 and not (tmp_path / "gradebook.db").exists()
    for words in (
        "bubblewrap",
        "apt-get install bubblewrap",
        "make grade UNSANDBOXED=1",
        "your rights",
    ):
        assert words in run.stderr, run.stderr


def test_the_wire_carries_plain_data_and_refuses_the_rest():
    value = {"w": np.arange(6.0).reshape(2, 3), (1, "a"): [None, True, 2, 3.5, "s", np.int64(7)]}
    value["0-d"], value["scalar"] = np.zeros(()), np.float64(2.5)  # not (1,), not a float
    encoder = wire.Encoder(export=lambda v: pytest.fail(f"not plain data: {v!r}"))
    node = encoder.encode(value)
    header, buffers = wire.unpack(wire.pack({"v": node}, encoder.buffers)[8:])
    back = wire.Decoder(buffers, resolve=lambda n: pytest.fail("no references")).decode(header["v"])
    assert back.keys() == value.keys() and back[1, "a"] == value[1, "a"]
    np.testing.assert_array_equal(back["w"], value["w"])
    assert back["0-d"].shape == () and type(back["scalar"]) is np.float64
    # An object array would carry pointers; a reference the judge never made is refused.
    objects = {"t": "array", "dtype": "|O", "shape": [1], "b": 0}
    with pytest.raises(wire.ProtocolError):
        wire.Decoder([bytes(8)], resolve=None).decode(objects)
    referee = judge.Judge.__new__(judge.Judge)
    with pytest.raises(wire.ProtocolError):
        wire.Decoder([], resolve=referee._resolve).decode({"t": "name", "name": "np"})
