"""Adapters that turn node pool decisions into capacity.

Every provider implements :class:`providers.base.Provider`. ``providers.gke`` is the only
package that imports Google Cloud SDKs. Providers never import :mod:`policies` (and vice versa).
"""
