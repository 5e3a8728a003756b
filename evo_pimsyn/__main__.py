import sys

from evo_pimsyn.cli import main

sys.exit(main())
