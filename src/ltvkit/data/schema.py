"""The names that modules outside the data path's reading code still import from here.

The reading code lives in :mod:`ltvkit.data.read` (entry points), :mod:`~ltvkit.data.engine`,
:mod:`~ltvkit.data.sources`, :mod:`~ltvkit.data.mapping`, :mod:`~ltvkit.data.validation`,
:mod:`~ltvkit.data.cleaning` and :mod:`~ltvkit.data.log`; import from those.
"""

from ltvkit.data.log import TransactionLog
from ltvkit.data.mapping import CleaningRules, ColumnMapping
from ltvkit.data.mapping import customer_expr as _customer_expr
from ltvkit.data.read import read_domains, read_transactions
from ltvkit.data.sources import new_connection
from ltvkit.data.sources import register_source as _register_source

__all__ = ["CleaningRules", "ColumnMapping", "TransactionLog", "_customer_expr",
           "_register_source", "new_connection", "read_domains", "read_transactions"]
