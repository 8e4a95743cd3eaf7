#!/usr/bin/env python3
# ivykis-rs benchmarks, LGPL-2.1-only
"""Summarise a callgrind output file by function and by object.

callgrind_annotate loses the object name of code inlined from another source
file, so the per-library sums that run.sh needs are computed here, straight
from the file format (valgrind's "Callgrind Format Specification").

Usage: callgrind_summary.py CALLGRIND_OUT OBJECT_PATH [TOP_N]

Prints, one per line:
  TOTAL <Ir>                      all collected instructions
  OBJECT_SELF <Ir>                self cost of the functions in OBJECT_PATH
  TOP <Ir> <percent> <function> [<object file name>]   TOP_N (default 15)
                                  functions by self cost, whole program
"""

import os
import re
import sys
from collections import defaultdict

# Which name table a key's compressed "(id) name" refers to.
NAME_TABLE = {
    "ob": "ob", "cob": "ob",
    "fl": "fl", "fi": "fl", "fe": "fl", "cfi": "fl", "cfl": "fl",
    "fn": "fn", "cfn": "fn",
}
COMPRESSED = re.compile(r"^\((\d+)\)(?: (.*))?$")


def summarise(path):
    names = {"ob": {}, "fl": {}, "fn": {}}
    self_cost = defaultdict(int)  # (object, function) -> Ir
    positions = 1
    ir_index = 0
    total = None
    obj = fn = ""
    next_cost_is_call = False

    def resolve(table, value):
        match = COMPRESSED.match(value)
        if not match:
            return value
        ident, name = match.groups()
        if name is not None:
            names[table][ident] = name
        return names[table].get(ident, value)

    with open(path, encoding="utf-8", errors="replace") as lines:
        for raw in lines:
            line = raw.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            first = line[0]
            if first.isdigit() or first in "+-*":
                fields = line.split()
                if next_cost_is_call:
                    # Inclusive cost of a call: not this function's own.
                    next_cost_is_call = False
                    continue
                events = fields[positions:]
                if ir_index < len(events):
                    self_cost[(obj, fn)] += int(events[ir_index])
                continue
            key, sep, value = line.partition("=")
            if sep and key in NAME_TABLE:
                resolved = resolve(NAME_TABLE[key], value)
                if key == "ob":
                    obj = resolved
                elif key == "fn":
                    fn = resolved
                continue
            if sep and key == "calls":
                next_cost_is_call = True
                continue
            key, sep, value = line.partition(":")
            if not sep:
                continue
            value = value.strip()
            if key == "positions":
                positions = len(value.split())
            elif key == "events":
                events = value.split()
                ir_index = events.index("Ir") if "Ir" in events else 0
            elif key in ("summary", "totals") and total is None:
                total = int(value.split()[ir_index])

    if total is None:
        total = sum(self_cost.values())
    return total, self_cost


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    path, wanted_object = sys.argv[1], os.path.realpath(sys.argv[2])
    top_n = int(sys.argv[3]) if len(sys.argv) == 4 else 15
    total, self_cost = summarise(path)

    in_object = sum(cost for (obj, _), cost in self_cost.items()
                    if obj and os.path.realpath(obj) == wanted_object)
    print(f"TOTAL {total}")
    print(f"OBJECT_SELF {in_object}")
    ranked = sorted(self_cost.items(), key=lambda item: -item[1])[:top_n]
    for (obj, fn), cost in ranked:
        percent = 100.0 * cost / total if total else 0.0
        print(f"TOP {cost} {percent:.2f} {fn} [{os.path.basename(obj)}]")


if __name__ == "__main__":
    main()
