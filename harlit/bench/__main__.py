"""`python -m harlit.bench`: the command line of harlit.bench.cli."""

import sys

from harlit.bench.cli import main

if __name__ == "__main__":
    main(sys.argv[1:])
