"""pykube: a Kubernetes-compatible cluster in one asyncio process."""

__version__ = "0.1.0"
