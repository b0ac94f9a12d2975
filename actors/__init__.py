"""An actor platform for research computing (Abaco-compatible).

Kept free of imports so that the actor SDK (actors.sdk) can be copied into
actor images without the platform's dependencies.
"""

__version__ = "0.1.0"
