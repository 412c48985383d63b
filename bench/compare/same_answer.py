# SPDX-License-Identifier: MIT
"""same_answer.py A.csv B.csv - exits 0 when two group-by answers agree:
the same number of rows, and cell by cell (header skipped, columns in
order) equal strings, or numbers within a relative 1e-9 (means and
double sums are rounded differently by each engine). Otherwise prints
the first difference and exits 1."""
import csv
import math
import sys


def num(s):
    try:
        return float(s)
    except ValueError:
        return None


def main():
    with open(sys.argv[1], newline="") as fa, open(sys.argv[2], newline="") as fb:
        ra, rb = list(csv.reader(fa))[1:], list(csv.reader(fb))[1:]
    if len(ra) != len(rb):
        print(f"{len(ra)} rows against {len(rb)}")
        return 1
    for i, (a, b) in enumerate(zip(ra, rb)):
        if len(a) != len(b):
            print(f"row {i + 1}: {len(a)} columns against {len(b)}")
            return 1
        for c, (x, y) in enumerate(zip(a, b)):
            nx, ny = num(x), num(y)
            same = x == y if nx is None or ny is None else \
                math.isclose(nx, ny, rel_tol=1e-9, abs_tol=1e-9)
            if not same:
                print(f"row {i + 1} column {c + 1}: {x!r} against {y!r}")
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
