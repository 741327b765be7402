#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Licence check of every Rust package the workspace resolves (cargo metadata --locked).

1. Every package's SPDX expression must be satisfiable with the licences in ALLOWED (an OR
   needs one allowed branch, an AND needs all; `X WITH exception` counts as X).
2. GPL is allowed only for the packages in GPL_PACKAGES (the espeak-ng binding and the TTS
   plugin, which link libespeak-ng), and nothing outside the TTS plugin may depend on them:
   the core and the face plugin stay permissively licensed.

Exits non-zero, listing every offender.
"""

import json
import re
import subprocess
import sys

ALLOWED = {
    "MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Zlib", "0BSD", "Unlicense",
    "Unicode-3.0", "Unicode-DFS-2016", "MPL-2.0", "CC0-1.0", "BSL-1.0",
}
GPL = {"GPL-3.0-or-later"}
GPL_PACKAGES = {"espeak-ng", "gst-plugin-neuraltts"}
# Packages that may depend on the GPL ones (normal dependencies).
GPL_USERS = {"gst-plugin-neuraltts"}


def tokens(expr):
    return re.findall(r"\(|\)|[^\s()]+", expr.replace("/", " OR "))


def satisfiable(expr, allowed):
    """Evaluates an SPDX expression: True when it can be satisfied with `allowed` licences."""
    toks = tokens(expr)
    pos = 0

    def parse_or():
        nonlocal pos
        value = parse_and()
        while pos < len(toks) and toks[pos] == "OR":
            pos += 1
            value = parse_and() or value
        return value

    def parse_and():
        nonlocal pos
        value = parse_atom()
        while pos < len(toks) and toks[pos] == "AND":
            pos += 1
            value = parse_atom() and value
        return value

    def parse_atom():
        nonlocal pos
        tok = toks[pos]
        pos += 1
        if tok == "(":
            value = parse_or()
            pos += 1  # ")"
        else:
            value = tok in allowed
        if pos < len(toks) and toks[pos] == "WITH":
            pos += 2  # the exception keeps the licence's status
        return value

    result = parse_or()
    return result and pos == len(toks)


def main():
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        check=True, capture_output=True, text=True).stdout)
    packages = {p["id"]: p for p in meta["packages"]}
    problems = []
    for p in packages.values():
        licence = p.get("license")
        allowed = ALLOWED | (GPL if p["name"] in GPL_PACKAGES else set())
        if not licence:
            problems.append(f"{p['name']} {p['version']}: no SPDX licence expression")
        elif not satisfiable(licence, allowed):
            problems.append(f"{p['name']} {p['version']}: {licence!r} is not allowed")

    # Who reaches a GPL package through normal (non-dev, non-build) dependencies?
    normal = {}
    for node in meta["resolve"]["nodes"]:
        normal[node["id"]] = [d["pkg"] for d in node["deps"]
                              if any(k.get("kind") is None for k in d["dep_kinds"])]
    gpl_ids = {i for i, p in packages.items() if p["name"] in GPL_PACKAGES}
    for member in meta["workspace_members"]:
        name = packages[member]["name"]
        if name in GPL_PACKAGES or name in GPL_USERS:
            continue
        seen, stack = set(), [member]
        while stack:
            current = stack.pop()
            for dep in normal.get(current, []):
                if dep in gpl_ids:
                    problems.append(f"{name} depends on GPL package {packages[dep]['name']}")
                if dep not in seen:
                    seen.add(dep)
                    stack.append(dep)

    if problems:
        print("licence check failed:", *problems, sep="\n  ")
        sys.exit(1)
    print(f"licence check: {len(packages)} packages, all allowed; "
          f"GPL confined to {', '.join(sorted(GPL_PACKAGES))}")


if __name__ == "__main__":
    main()
