import sys

from simmarket.cli.main import main

sys.exit(main())
