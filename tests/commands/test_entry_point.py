"""The tests call ferkit's entry point in their own process; this checks, through a real
`python -m ferkit`, that a process answers the same: output, exit status, one-line errors."""

from conftest import ROOT, assert_user_error, ferkit, ferkit_process

ASTRONAUT = ROOT / "photos" / "astronaut.png"


def test_a_process_prints_and_exits_as_the_in_process_call_does():
    args = ("predict", str(ASTRONAUT), "--json")
    here, there = ferkit(*args), ferkit_process(*args)
    assert here.returncode == there.returncode == 0, there.stderr
    assert here.stdout == there.stdout


def test_a_process_reports_bad_input_in_one_line_like_the_in_process_call():
    args = ("predict", str(ROOT / "no_such_photo.jpg"))
    here, there = ferkit(*args), ferkit_process(*args)
    assert_user_error(here, "no_such_photo.jpg")
    assert_user_error(there, "no_such_photo.jpg")
    assert here.stderr == there.stderr
    assert ferkit_process("--version").stdout == ferkit("--version").stdout
