"""`python -m driftline.reporting [ROOT]`: rebuild ROOT/reports/index.html."""

from driftline.reporting.index import main

main()
