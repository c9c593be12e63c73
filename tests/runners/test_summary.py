"""log_error_summary picks the lines that say why a container failed."""

from __future__ import annotations

from kontinue.runners import log_error_summary, strip_ansi

TRACEBACK = """\
starting worker
Traceback (most recent call last):
  File "/app/old.py", line 3, in <module>
KeyError: 'first'
retrying
Traceback (most recent call last):
  File "/app/main.py", line 10, in <module>
    main()
  File "/app/main.py", line 7, in main
    raise ValueError("bad input")
ValueError: bad input
shutting down
"""


def test_the_last_python_traceback_wins() -> None:
    assert log_error_summary(TRACEBACK) == "\n".join(
        [
            "Traceback (most recent call last):",
            '  File "/app/main.py", line 10, in <module>',
            "    main()",
            '  File "/app/main.py", line 7, in main',
            '    raise ValueError("bad input")',
            "ValueError: bad input",
        ]
    )


def test_a_long_traceback_keeps_its_header_and_its_end() -> None:
    frames = [f'  File "/app/m{i}.py", line {i}, in f{i}' for i in range(20)]
    log = "\n".join(["Traceback (most recent call last):", *frames, "RuntimeError: deep"])
    summary = log_error_summary(log, max_lines=5).splitlines()

    assert summary == ["Traceback (most recent call last):", *frames[-3:], "RuntimeError: deep"]
    assert log_error_summary(log, max_lines=1) == "RuntimeError: deep"


def test_generic_error_lines_without_a_traceback() -> None:
    log = "\n".join(
        [
            "compiling",
            "WARNING: slow disk",
            "Error: cannot find module 'x'",
            "still going",
            "FATAL: giving up",
            "npm ERR! code 1",
            "panic: runtime error: index out of range",
            "Build FAILED",
            "done",
        ]
    )
    assert log_error_summary(log, max_lines=3).splitlines() == [
        "npm ERR! code 1",
        "panic: runtime error: index out of range",
        "Build FAILED",
    ]
    assert len(log_error_summary(log).splitlines()) == 5


def test_the_last_lines_when_nothing_looks_like_an_error() -> None:
    log = "one\n\ntwo\nthree\n\n\n"
    assert log_error_summary(log, max_lines=2) == "two\nthree"
    assert log_error_summary("") == ""
    assert log_error_summary("\n \n") == ""


def test_ansi_colours_are_removed() -> None:
    log = (
        "\x1b[32mok\x1b[0m\n\x1b[1;31merror:\x1b[0m bad \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\n"
    )
    assert log_error_summary(log) == "error: bad link"
    assert strip_ansi("\x1b[2K\x1b[1Gprogress") == "progress"


def test_a_progress_bar_shows_only_what_was_drawn_last() -> None:
    assert log_error_summary("10%\r50%\r100% failed\n") == "100% failed"
