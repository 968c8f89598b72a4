import sys

from twinbed.cli import main

sys.exit(main())
