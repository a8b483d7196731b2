"""`python -m relulint` runs the command line."""

from relulint.cli import main

main()
