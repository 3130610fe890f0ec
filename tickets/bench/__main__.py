"""`python -m tickets.bench`: see tickets.bench.cli."""

from tickets.bench.cli import main

main()
