"""The dataset contract in one namespace: record schema, taxonomies, folder layout and index format.

``from s1mmalign.core import contract`` then ``contract.make_key``, ``contract.MODALITIES``,
``contract.PARQUET_DIR``, ... The definitions live in :mod:`~s1mmalign.core.schema`,
:mod:`~s1mmalign.core.taxonomy` and :mod:`~s1mmalign.core.layout`; this module only names them
together, as ``s1mmalign_dataset`` does for users.
"""

from s1mmalign.core.layout import *  # noqa: F401,F403
from s1mmalign.core.schema import *  # noqa: F401,F403
from s1mmalign.core.taxonomy import *  # noqa: F401,F403
