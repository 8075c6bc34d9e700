"""A local Kubernetes control plane from the project's cached Go-built binaries, and the
``make demo`` walk-through that runs the controller on it (docs/design/024-local-demo.md)."""
