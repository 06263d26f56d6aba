#!/usr/bin/env python3
"""Self-test for promcheck.py: valid texts pass and each kind of violation
is caught with the right line, so the checker itself can fail (and a
checker that accepts everything would fail here)."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promcheck  # noqa: E402

GOOD = """\
# HELP snapstage_api_requests_total Requests with a \\\\ and a \\n in help.
# TYPE snapstage_api_requests_total counter
snapstage_api_requests_total{code="200",verb="GET"} 3
snapstage_api_requests_total{code="<error>",verb="LIST"} 1 1700000000000
# TYPE g gauge
g -1.5e-07
g{a="q\\"uo\\\\te\\nnl"} +Inf
g{a="nan"} NaN
g{a="neg"} -Inf
# a free comment
# TYPE h histogram
h_bucket{x="1",le="0.5"} 1
h_bucket{x="1",le="1"} 2
h_bucket{x="1",le="+Inf"} 3
h_sum{x="1"} 4.25
h_count{x="1"} 3
h_bucket{x="2",le="0.5"} 0
h_bucket{x="2",le="1"} 0
h_bucket{x="2",le="+Inf"} 0
h_sum{x="2"} 0
h_count{x="2"} 0
untyped_thing{trailing="comma",} 7
"""


class PromcheckTest(unittest.TestCase):
    def assertValid(self, text):
        self.assertEqual(promcheck.check(text), [])

    def assertInvalid(self, text, line, fragment):
        errors = promcheck.check(text)
        self.assertTrue(errors, "accepted:\n" + text)
        self.assertTrue(
            any(l == line and fragment in m for l, m in errors),
            "wanted line %d '%s', got %r" % (line, fragment, errors),
        )

    def test_good(self):
        self.assertValid(GOOD)
        self.assertValid("")

    def test_help_and_type_syntax(self):
        self.assertInvalid("# HELP 1bad text\n", 1, "malformed HELP")
        self.assertInvalid("# TYPE x countr\n", 1, "unknown type")
        self.assertInvalid("# TYPE x\n", 1, "malformed TYPE")
        self.assertInvalid("# HELP x a \\t b\n", 1, "bad escape")
        self.assertInvalid("# TYPE x gauge\n# TYPE x gauge\n", 2, "second TYPE")
        self.assertInvalid("# HELP x a\n# HELP x b\n", 2, "second HELP")

    def test_type_after_samples(self):
        self.assertInvalid("x 1\n# TYPE x gauge\n", 2, "after its samples")

    def test_sample_syntax(self):
        self.assertInvalid("x{a=\"b} 1\n", 1, "unterminated")
        self.assertInvalid("x{a=b} 1\n", 1, "expected =\"")
        self.assertInvalid("x{__a=\"\",0b=\"\"} 1\n", 1, "bad label name")
        self.assertInvalid("x{a=\"\\t\"} 1\n", 1, "bad escape")
        self.assertInvalid("x{a=\"1\",a=\"2\"} 1\n", 1, "twice")
        self.assertInvalid("x{a=\"1\" b=\"2\"} 1\n", 1, "expected , or }")
        self.assertInvalid("x 1,5\n", 1, "not a float")
        self.assertInvalid("x Infinite\n", 1, "not a float")
        self.assertInvalid("x 1 1.5\n", 1, "timestamp")
        self.assertInvalid("x 1 2 3\n", 1, "at most a timestamp")
        self.assertInvalid("x\n", 1, "space before the value")
        self.assertInvalid("x 1", 1, "newline")

    def test_duplicates_and_interleaving(self):
        self.assertInvalid("x{a=\"1\",b=\"2\"} 1\nx{b=\"2\",a=\"1\"} 2\n", 2, "duplicate")
        self.assertInvalid(
            "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x=\"y\"} 2\n", 5, "interleaved"
        )

    def test_histogram_rules(self):
        head = "# TYPE h histogram\n"
        tail_ok = 'h_sum 1\nh_count 2\n'
        self.assertValid(head + 'h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\n' + tail_ok)
        self.assertInvalid(
            head + 'h_bucket{le="1"} 3\nh_bucket{le="+Inf"} 2\n' + tail_ok, 3, "decrease"
        )
        self.assertInvalid(head + 'h_bucket{le="1"} 1\n' + tail_ok, 2, "+Inf")
        self.assertInvalid(
            head + 'h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\n' + tail_ok, 3, "_count"
        )
        self.assertInvalid(
            head + 'h_bucket{le="+Inf"} 2\nh_count 2\n', 2, "no _sum"
        )
        self.assertInvalid(head + 'h_bucket{le="+Inf"} 2\nh_sum 2\n', 2, "no _count")
        self.assertInvalid(head + 'h_bucket 2\n' + tail_ok, 2, "without an le")
        self.assertInvalid(head + 'h_bucket{le="x"} 2\n' + tail_ok, 2, "not a float")
        self.assertInvalid(head + 'h 2\n', 2, "without a suffix")
        self.assertInvalid(
            head + 'h_bucket{le="+Inf"} 2\nh_bucket{le="1"} 1\n' + tail_ok,
            2,
            "increasing le order",
        )

    def test_command_line(self):
        tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "promcheck.py")
        ok = subprocess.run([sys.executable, tool], input=GOOD, text=True,
                            capture_output=True)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        bad = subprocess.run([sys.executable, tool, "-"], input="x\n", text=True,
                             capture_output=True)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("promcheck: line 1:", bad.stderr)


if __name__ == "__main__":
    unittest.main()
