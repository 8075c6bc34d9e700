"""API layer: pydantic models of the CRDs and the shared value types.

Nothing here performs I/O except loading the built-in catalog data file shipped with the
package. Every other layer may import this one; it imports none of them.
"""
