"""`python -m harlit.report`: the command line of harlit.report.cli."""

import sys

from harlit.report.cli import main

if __name__ == "__main__":
    main(sys.argv[1:])
