"""The data path: raw log -> TransactionLog -> LTVDataset."""

from ltvkit.data.dataset import LTVDataset
from ltvkit.data.quality import DataQualityReport
from ltvkit.data.schema import (
    CleaningRules,
    ColumnMapping,
    TransactionLog,
    read_domains,
    read_transactions,
)
from ltvkit.data.task import LTVTask
from ltvkit.data.windows import build_dataset

__all__ = ["CleaningRules", "ColumnMapping", "DataQualityReport", "LTVDataset", "LTVTask",
           "TransactionLog", "build_dataset", "read_domains", "read_transactions"]
