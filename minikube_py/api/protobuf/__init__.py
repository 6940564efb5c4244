"""Reading Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``).

``wire`` tokenizes the protobuf wire format, ``schema`` is the vocabulary of the field tables in
``core`` and ``groups``, and ``decode`` walks a body through those tables into a JSON dict.
"""

from minikube_py.api.protobuf.decode import KINDS, decode_object

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

__all__ = ["CONTENT_TYPE", "KINDS", "decode_object"]
