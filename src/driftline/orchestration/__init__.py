"""What runs the stages: the DAG runner, the Prefect flows' logic, and the hyperparameter search."""
