import sys

from wa_monitor.cli import main

sys.exit(main())
