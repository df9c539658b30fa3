"""The data path: raw log -> TransactionLog -> LTVDataset."""

from ltvkit.data.dataset import LTVDataset
from ltvkit.data.engine import LogEngine, get_engine
from ltvkit.data.log import TransactionLog
from ltvkit.data.mapping import CleaningRules, ColumnMapping
from ltvkit.data.quality import DataQualityReport
from ltvkit.data.read import read_domains, read_transactions
from ltvkit.data.task import LTVTask
from ltvkit.data.windows import build_dataset

__all__ = ["CleaningRules", "ColumnMapping", "DataQualityReport", "LTVDataset", "LTVTask",
           "LogEngine", "TransactionLog", "build_dataset", "get_engine", "read_domains",
           "read_transactions"]
