"""mlops_trainer: ``python -m mlops_trainer`` turns a dataset into a verified model artifact.

Layers, top to bottom: ``cli`` (arguments, exit status, termination message) → ``run`` (one run
end to end) → ``training_loop`` (epochs, early stopping, checkpoints, DDP) → ``dataset`` /
``preparation`` (splits to tensors) and the reporters (``reporting``, ``kube_reporter``,
``mlflow_tracking``). The model zoo, preprocessing and artifact I/O live in ``mlops_core``.
"""
