"""Command-line interface: ``ccc validate | crd | catalog | plan | simulate | run``."""
