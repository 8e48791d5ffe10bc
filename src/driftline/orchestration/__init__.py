"""What runs the layers below: the use cases that the CLI and the flows share (monitor, release), the DAG runner,
the Prefect flows' logic, and the hyperparameter search."""
