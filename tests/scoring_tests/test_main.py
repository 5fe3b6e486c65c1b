"""``python -m scoring``: the command line (``scoring/__main__.py``)."""

import contextlib
import io
import unittest

from scoring.__main__ import main


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


class MainTests(unittest.TestCase):
    def test_prints_the_score_at_each_offset_with_a_summary(self):
        status, out, _ = run("--seed", "3", "--stamps", "10", "0", "5")
        lines = out.splitlines()
        self.assertEqual(status, 0)
        self.assertEqual(lines[:2], ["0 0:0", "5 0:0"])
        self.assertRegex(lines[2], r"^# seed 3: 11 stamps, last offset \d+, final 0:0$")

    def test_offset_before_kick_off_is_reported_on_stderr_with_status_1(self):
        status, _out, err = run("--seed", "3", "--stamps", "10", "-1")
        self.assertEqual(status, 1)
        self.assertIn("-1 error: offset -1 is before the first stamp", err)

    def test_non_integer_offset_is_a_usage_error(self):
        with contextlib.redirect_stderr(io.StringIO()):
            with self.assertRaises(SystemExit) as stop:
                main(["--seed", "1", "soon"])
        self.assertEqual(stop.exception.code, 2)


if __name__ == "__main__":
    unittest.main()
