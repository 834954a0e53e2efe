"""s1mmalign.builder: papers and releases in, validated figure records and shards out.

Stages are plain functions over records (dicts in the contract's schema, see
``s1mmalign_dataset``); the writers turn a stream of records into a dataset folder.
"""

from s1mmalign.builder.rejects import Rejects
from s1mmalign.builder.write import write_dataset, finalize_dataset

__all__ = ["Rejects", "write_dataset", "finalize_dataset"]
