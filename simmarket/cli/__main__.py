import sys

from simmarket.cli import main

sys.exit(main())
