#!/bin/sh
# SPDX-License-Identifier: MIT
# cli_args.sh - arguments are never ignored quietly: a rower argument the
# rower does not take is refused with the list of those it takes, one
# given twice is refused, and so is any option given twice unless it is
# repeatable (--arg, --plugin).
set -u

NAME=cli_args
. "$(dirname "$0")/lib/cli.sh"

printf 'x,y\n1,a\n2,b\n3,c\n' >"$T/in.csv"
expect 0 E load "$T/in.csv" --as k

expect 1 E run sum --input k --arg colums=x
err_has "rower 'sum' has no argument 'colums' (its arguments: columns, column)"
expect 1 E run filter --input k --arg wher="x > 1"
err_has "its arguments: where"
expect 1 E run join --input k --arg with=k --arg on=x --arg hwo=left
err_has "its arguments: with, on, how"
expect 1 E run groupby --input k --arg by=y --arg agg=count --arg bye=x
err_has "rower 'groupby' has no argument 'bye' (its arguments: by, agg)"
expect 1 E run mandelbrot --arg width=4 --arg hieght=4
err_has "no argument 'hieght'"
expect 1 E run count --input k --arg column=x --arg column=y
err_has "argument 'column' given twice"
# repeatable: several --arg, fine
expect 0 E run join --input k --arg with=k --arg on=x --arg how=left
expect 0 E run count --input k --arg column=x
[ "$(sed -n 2p "$T/out")" = 3 ] || fail "count column=x"

expect 1 E load "$T/in.csv" --as a --as b
err_has "option '--as' given twice"
expect 1 E head k -n 1 -n 2
err_has "option '-n' given twice"
expect 1 E run count --input k --input k
err_has "given twice"
expect 1 "$BIN" --store "$S" --store "$T/other" ls
err_has "'--store' given twice"
E ls | grep -q '^a ' && fail "a refused load made key a"
exit 0
