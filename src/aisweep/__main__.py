"""`python -m aisweep` runs the command-line interface."""

from aisweep.cli import main

main()
