"""The partition core: contiguous, balanced parts of a weighted graph (no geometry here).

Units (blocks or pieces of blocks) are nodes with integer weights (households); edges
join units that share a boundary. :func:`partition_graph` labels every node so that each
label is a connected set whose weight is near the target.
"""

from .core import partition_graph
from .refine import polsby_popper, rebalance, recom, recombine
from .tree import Band

__all__ = ["Band", "partition_graph", "polsby_popper", "rebalance", "recom", "recombine"]
