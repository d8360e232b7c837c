"""``python -m pikfix_bench.cli`` runs the command line."""

from pikfix_bench.cli import main

main()
