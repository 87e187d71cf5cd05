"""Pure rollout decisions: router metrics → per-step measurements → gates → the next weights,
step and phase of a Deployment. No I/O; the reconciler feeds it what it observed."""
