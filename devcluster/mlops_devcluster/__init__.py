"""A local Kubernetes control plane for development and tests.

Real etcd, kube-apiserver, kube-controller-manager and kube-scheduler on loopback, a node agent
that runs this project's own pods as local processes, and a MinIO server. Start it with
``mlops devcluster up`` (or ``python -m mlops_devcluster up``).
"""
