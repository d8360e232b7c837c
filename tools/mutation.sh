#!/bin/sh
# Mutation testing of one module with mutmut 2 (see docs/mutation.md); not part of `make test`.
#
#   tools/mutation.sh MODULE TEST_FILE... [-- PYTEST_ARGS...]
#   tools/mutation.sh pikfix_bench/metrics/psnr.py tests/test_metric_arguments.py -- -k psnr
#
# mutmut 2 rewrites the module in place, so it runs on a copy of the checkout in $MUTATION_DIR
# (default /tmp/pikfix-mutation-<module name>), never on the working tree. In the copy the side folders
# (degradations/, baselines/, leaderboard/) are linked into pikfix_bench/ and PYTHONPATH puts the copy
# ahead of the editable install, so the tests import the mutated file. Results stay in the copy's
# .mutmut-cache: `cd $MUTATION_DIR && mutmut results`, `mutmut show ID`.
set -eu
[ $# -ge 2 ] || { sed -n 2,5p "$0"; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
MODULE=$1
shift
TESTS=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do TESTS="$TESTS $1"; shift; done
[ $# -gt 0 ] && shift
EXTRA=""
for arg in "$@"; do EXTRA="$EXTRA '$arg'"; done
NAME=$(basename "$MODULE" .py)
DIR=${MUTATION_DIR:-/tmp/pikfix-mutation-$NAME}
rm -rf "$DIR"
mkdir -p "$DIR"
(cd "$ROOT" && tar --exclude=./.venv --exclude=./.git --exclude=__pycache__ --exclude='*.egg-info' \
  --exclude=./mutants --exclude=./.mutmut-cache -cf - .) | (cd "$DIR" && tar xf -)
for side in degradations baselines leaderboard; do ln -sfn "../$side" "$DIR/pikfix_bench/$side"; done
# The runner: the mapped tests only, stopping at the first failure (a killed mutant costs one failing test),
# on one thread: two runs side by side (or a run beside other work) on a small machine otherwise
# oversubscribe torch's thread pool, which made each mutant ten times slower on two cores.
# mutmut 2 counts a mutant as killed only when the command exits with status 1: a mutant that breaks the
# import (pytest exits 2 at collection) or exhausts the memory (the kernel kills pytest) would count as
# survived. Any failure of pytest is therefore reported as status 1 (the unmutated baseline must pass).
{
  echo '#!/bin/sh'
  echo "cd '$DIR' && OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH='$DIR' nice -n 19 '$PYTHON' -m pytest -x -q -p no:cacheprovider$TESTS$EXTRA || exit 1"
} > "$DIR/mutation-runner.sh"
chmod +x "$DIR/mutation-runner.sh"
cd "$DIR"
"$PYTHON" -c 'import sys, pikfix_bench.metrics; assert pikfix_bench.metrics.__file__.startswith(sys.argv[1])' "$DIR"
exec nice -n 19 "$(dirname "$PYTHON")/mutmut" run --paths-to-mutate "$MODULE" --tests-dir tests \
  --runner ./mutation-runner.sh --simple-output
