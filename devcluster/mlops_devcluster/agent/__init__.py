"""The devcluster node agent: registers a CPU node and a simulated GPU node and runs the pods
bound to them as local processes (one loopback IP per pod)."""
