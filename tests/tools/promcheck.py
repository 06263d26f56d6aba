#!/usr/bin/env python3
"""promcheck — a strict checker for the Prometheus text exposition format 0.0.4.

Written from the format's specification, independently of snapstage's own
writer (controller/ctrl/metrics.c), so a test can tell the writer is wrong
rather than merely consistent with itself.

Usage: promcheck.py [FILE]      (stdin when FILE is absent or "-")
Exit 0 when the text is valid; otherwise 1, with one "line N: message" per
violation on stderr. Checks:
  - "# HELP name text" and "# TYPE name counter|gauge|histogram|summary|untyped"
    syntax; at most one of each per family; TYPE before the family's samples;
    only \\\\ and \\n escapes in HELP text
  - sample lines: metric name, optional {labels} with valid names, quoted
    values and only \\\\ \\" \\n escapes, no label twice, a float value
    (+Inf, -Inf, NaN included), an optional integer timestamp
  - no duplicate series; a family's lines are not interleaved with another's
  - histograms: every series has _bucket lines with a numeric le, cumulative
    counts that never decrease as le grows, an le="+Inf" bucket equal to
    _count, a _sum and a _count; no bare samples under the family name
  - the text ends with a newline
"""

import math
import re
import sys

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")

_METRIC_RE = re.compile(METRIC_NAME)
_LABEL_RE = re.compile(LABEL_NAME)
_HELP_RE = re.compile(r"# HELP (" + METRIC_NAME + r")(?: (.*))?$")
_TYPE_RE = re.compile(r"# TYPE (" + METRIC_NAME + r") (\S+)$")
# Go's strconv.ParseFloat, minus hexadecimal forms.
_FLOAT_RE = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?"
    r"|[nN][aA][nN])$"
)
_TIMESTAMP_RE = re.compile(r"-?\d+$")


class ParseError(Exception):
    pass


def parse_float(text):
    if not _FLOAT_RE.match(text):
        raise ParseError("'%s' is not a float" % text)
    return float(text)


def _unescape(text, allowed, what):
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] not in allowed:
                raise ParseError("bad escape in %s" % what)
            out.append("\n" if text[i + 1] == "n" else text[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_sample(line):
    """'name{a="b"} 1 123' -> (name, {labels}, value, timestamp or None)."""
    m = _METRIC_RE.match(line)
    if not m:
        raise ParseError("sample does not start with a metric name")
    name = m.group(0)
    pos = m.end()
    labels = {}
    if pos < len(line) and line[pos] == "{":
        pos += 1
        while True:
            if pos < len(line) and line[pos] == "}":
                pos += 1
                break
            lm = _LABEL_RE.match(line, pos)
            if not lm:
                raise ParseError("bad label name at column %d" % (pos + 1))
            lname = lm.group(0)
            pos = lm.end()
            if line[pos : pos + 2] != '="':
                raise ParseError("label %s: expected =\"" % lname)
            pos += 2
            start = pos
            while pos < len(line) and line[pos] != '"':
                pos += 2 if line[pos] == "\\" else 1
            if pos >= len(line):
                raise ParseError("label %s: unterminated value" % lname)
            value = _unescape(line[start:pos], '\\"n', "label %s" % lname)
            pos += 1
            if lname in labels:
                raise ParseError("label %s given twice" % lname)
            labels[lname] = value
            if pos < len(line) and line[pos] == ",":
                pos += 1
            elif pos < len(line) and line[pos] == "}":
                continue
            else:
                raise ParseError("expected , or } after label %s" % lname)
    rest = line[pos:]
    if not rest or rest[0] not in " \t":
        raise ParseError("expected a space before the value")
    fields = rest.split()
    if len(fields) not in (1, 2):
        raise ParseError("expected a value and at most a timestamp")
    value = parse_float(fields[0])
    timestamp = None
    if len(fields) == 2:
        if not _TIMESTAMP_RE.match(fields[1]):
            raise ParseError("timestamp '%s' is not an integer" % fields[1])
        timestamp = int(fields[1])
    return name, labels, value, timestamp


class _Family:
    def __init__(self, name):
        self.name = name
        self.type = None
        self.help = False
        self.has_samples = False
        # histogram: series key (labels without le) -> data
        self.hist = {}


def _series_key(labels, drop=()):
    return tuple(sorted((k, v) for k, v in labels.items() if k not in drop))


def check(text):
    """Returns a list of (line number, message); empty when valid."""
    errors = []
    families = {}
    order_closed = set()  # families we have moved on from
    current = None
    seen_series = set()

    def family_for_sample(name):
        if name in families and families[name].type is not None:
            return families[name], ""
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix):
                base = name[: -len(suffix)]
                f = families.get(base)
                if f and f.type == "histogram":
                    return f, suffix
                if f and f.type == "summary" and suffix != "_bucket":
                    return f, suffix
        return families.setdefault(name, _Family(name)), ""

    def enter(fam, lineno):
        nonlocal current
        if current is fam:
            return
        if fam.name in order_closed:
            errors.append((lineno, "family %s is interleaved with another" % fam.name))
        if current is not None:
            order_closed.add(current.name)
        current = fam

    if text and not text.endswith("\n"):
        errors.append((text.count("\n") + 1, "the last line does not end with a newline"))
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for lineno, line in enumerate(lines, 1):
        if line.strip() == "":
            continue
        if line.startswith("#"):
            if line.startswith("# HELP ") or line == "# HELP":
                m = _HELP_RE.match(line)
                if not m:
                    errors.append((lineno, "malformed HELP line"))
                    continue
                fam = families.setdefault(m.group(1), _Family(m.group(1)))
                enter(fam, lineno)
                if fam.help:
                    errors.append((lineno, "second HELP for %s" % fam.name))
                fam.help = True
                try:
                    _unescape(m.group(2) or "", "\\n", "HELP text")
                except ParseError as e:
                    errors.append((lineno, str(e)))
            elif line.startswith("# TYPE ") or line == "# TYPE":
                m = _TYPE_RE.match(line)
                if not m:
                    errors.append((lineno, "malformed TYPE line"))
                    continue
                if m.group(2) not in TYPES:
                    errors.append((lineno, "unknown type '%s'" % m.group(2)))
                    continue
                fam = families.setdefault(m.group(1), _Family(m.group(1)))
                enter(fam, lineno)
                if fam.type is not None:
                    errors.append((lineno, "second TYPE for %s" % fam.name))
                if fam.has_samples:
                    errors.append((lineno, "TYPE for %s after its samples" % fam.name))
                fam.type = m.group(2)
            continue  # other comments are allowed
        try:
            name, labels, value, _ = parse_sample(line)
        except ParseError as e:
            errors.append((lineno, str(e)))
            continue
        fam, suffix = family_for_sample(name)
        enter(fam, lineno)
        fam.has_samples = True
        key = (name, _series_key(labels))
        if key in seen_series:
            errors.append((lineno, "duplicate series %s%s" % (name, dict(key[1]))))
        seen_series.add(key)
        if fam.type != "histogram":
            continue
        if suffix == "":
            errors.append((lineno, "histogram %s has a sample without a suffix" % fam.name))
            continue
        h = fam.hist.setdefault(
            _series_key(labels, ("le",)),
            {"buckets": [], "sum": None, "count": None, "line": lineno},
        )
        if suffix == "_bucket":
            if "le" not in labels:
                errors.append((lineno, "bucket without an le label"))
                continue
            try:
                le = parse_float(labels["le"])
            except ParseError:
                errors.append((lineno, "le=\"%s\" is not a float" % labels["le"]))
                continue
            if math.isnan(le):
                errors.append((lineno, "le is NaN"))
                continue
            h["buckets"].append((le, value, lineno))
        elif "le" in labels:
            errors.append((lineno, "%s carries an le label" % name))
        elif suffix == "_sum":
            h["sum"] = value
        else:
            h["count"] = value

    for fam in families.values():
        for labels, h in fam.hist.items():
            where = "%s%s" % (fam.name, dict(labels) if labels else "")
            buckets = sorted(h["buckets"], key=lambda b: b[0])
            if [b[2] for b in buckets] != [b[2] for b in h["buckets"]]:
                errors.append((h["line"], "%s: buckets not in increasing le order" % where))
            for prev, cur in zip(buckets, buckets[1:]):
                if cur[1] < prev[1]:
                    errors.append((cur[2], "%s: bucket counts decrease (not cumulative)" % where))
            inf = [b for b in buckets if math.isinf(b[0]) and b[0] > 0]
            if not inf:
                errors.append((h["line"], "%s: no le=\"+Inf\" bucket" % where))
            if h["sum"] is None:
                errors.append((h["line"], "%s: no _sum" % where))
            if h["count"] is None:
                errors.append((h["line"], "%s: no _count" % where))
            elif inf and inf[0][1] != h["count"]:
                errors.append((inf[0][2], "%s: +Inf bucket differs from _count" % where))
    errors.sort(key=lambda e: e[0])
    return errors


def main(argv):
    if len(argv) > 2:
        sys.stderr.write("usage: promcheck.py [FILE]\n")
        return 2
    if len(argv) == 2 and argv[1] != "-":
        with open(argv[1], encoding="utf-8") as f:
            text = f.read()
    else:
        text = sys.stdin.read()
    errors = check(text)
    for lineno, msg in errors:
        sys.stderr.write("promcheck: line %d: %s\n" % (lineno, msg))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
