"""``pykube kubectl``: a kubectl-compatible command line in the pykube binary, as ``k3s kubectl`` is.

Users know kubectl by heart, so every verb here prints what kubectl v1.32 prints (columns, widths,
messages, errors, exit codes). One module per verb family; :mod:`.cli` imports a verb's module only
when that verb runs, so a ``get`` pays only for what ``get`` needs.
"""
