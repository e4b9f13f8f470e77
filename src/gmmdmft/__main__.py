"""``python -m gmmdmft`` runs the command line."""

from .cli import main

main()
