# SPDX-License-Identifier: GPL-2.0
# The fault matrix: fault kind x workload x stream, driven by matrix.py
# (which says what each cell checks and how the cells are chosen; the
# checks themselves are faultcell.py's and lib.sh's verify).
. ./lib.sh
set -u
python3 ./matrix.py || fail matrix-driver "matrix.py exited $?"
