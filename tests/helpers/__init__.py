"""What tests share that is not a fixture: the project they run and its servers (project), small models of every
task (tiny_models, task_models), tables and summaries shaped as driftline writes them (tables, declared_types,
summaries), the service in-process (service) and Prefect's event stream (events)."""
