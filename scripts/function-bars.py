#!/usr/bin/env python3
"""The shape bars of src/controller (issue #24): no function over 80 lines,
none with more than 5 parameters (`self` not counted). Prints the longest
function and the largest parameter count, and every function over a bar;
exits 1 if any is. Test modules (`#[cfg(test)]`) are measured too.

Usage: scripts/function-bars.py [dir ...]   (default: src/controller)
"""

import pathlib
import re
import sys

MAX_LINES = 80
MAX_PARAMS = 5
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+([A-Za-z_][A-Za-z0-9_]*)")


def strip(line):
    """The line without string literals and // comments (enough for braces)."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return line.split("//", 1)[0]


def functions(path):
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        # The signature: up to the body's opening brace (or a `;`).
        sig, j = "", i
        while j < len(lines):
            sig += strip(lines[j]) + "\n"
            if "{" in strip(lines[j]) or strip(lines[j]).rstrip().endswith(";"):
                break
            j += 1
        if "{" not in sig:
            continue
        params = parameters(sig)
        depth, end = 0, j
        for k in range(j, len(lines)):
            code = strip(lines[k])
            depth += code.count("{") - code.count("}")
            if depth <= 0 and "{" in "".join(strip(x) for x in lines[j : k + 1]):
                end = k
                break
        yield m.group(6), path, i + 1, end - i + 1, params


def parameters(sig):
    """Parameters between the signature's outermost parentheses, without `self`."""
    start = sig.index("(")
    depth, inner = 0, ""
    for c in sig[start:]:
        if c in "(<[":
            depth += 1
        elif c in ")>]":
            depth -= 1
        if depth == 0:
            break
        inner += c
    inner = inner[1:]
    parts, depth, cur = [], 0, ""
    for c in inner:
        if c in "(<[":
            depth += 1
        elif c in ")>]":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    parts = [p.strip() for p in parts if p.strip()]
    return len([p for p in parts if not re.fullmatch(r"(&\s*('\w+\s+)?)?(mut\s+)?self(\s*:.*)?", p)])


def main():
    dirs = [pathlib.Path(d) for d in (sys.argv[1:] or ["src/controller"])]
    found = [f for d in dirs for p in sorted(d.rglob("*.rs")) for f in functions(p)]
    if not found:
        print("no functions found", file=sys.stderr)
        return 1
    longest = max(found, key=lambda f: f[3])
    widest = max(found, key=lambda f: f[4])
    print(f"functions: {len(found)}")
    print(f"longest: {longest[0]} ({longest[1]}:{longest[2]}), {longest[3]} lines (bar {MAX_LINES})")
    print(f"most parameters: {widest[0]} ({widest[1]}:{widest[2]}), {widest[4]} (bar {MAX_PARAMS})")
    over = [f for f in found if f[3] > MAX_LINES or f[4] > MAX_PARAMS]
    for name, path, line, length, params in over:
        print(f"over a bar: {name} ({path}:{line}): {length} lines, {params} parameters")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
