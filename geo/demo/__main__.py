"""``python -m geo.demo``: build the demo town into a database (see geo.demo.generator.main)."""
from geo.demo.generator import main

raise SystemExit(main())
