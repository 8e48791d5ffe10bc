"""What tests share that is not a fixture: the project they run, small models of every task, tables and
summaries shaped as driftline writes them."""
