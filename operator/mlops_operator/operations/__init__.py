"""What the ``mlops`` CLI and the MLOps REST API do, once: reads and writes of the custom
resources that return typed results. Printing (the CLI) and HTTP (the REST API) sit above."""
