"""Public LTV datasets with their fixed benchmark protocols.

``cdnow`` ships inside the package (the demo needs no download). ``online_retail`` and ``olist``
are read from a data home: the ``data_home`` argument, else the ``LTVKIT_DATA_HOME`` environment
variable, else ``~/.ltvkit/data``. Missing files are fetched from a mirror (``LTVKIT_DATA_MIRROR``
or the ``mirror`` argument, any URL urllib reads, ``file://`` included) and checked against the
SHA-256 pinned here, so a corrupted or changed file is never used silently.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import shutil
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ltvkit.data.log import TransactionLog
from ltvkit.data.mapping import CleaningRules, ColumnMapping
from ltvkit.data.read import read_transactions
from ltvkit.data.sources import new_connection
from ltvkit.data.task import LTVTask
from ltvkit.errors import DataValidationError
from ltvkit.files import sha256_of

__all__ = ["DATASETS", "PublicDataset", "SplitProtocol", "data_home", "fetch_file",
           "get_dataset"]


@dataclass(frozen=True)
class SplitProtocol:
    """How the benchmark splits a dataset: by customer (seeded) or by cutoff time."""

    kind: str = "customers"  # "customers" or "time"
    test_frac: float = 0.2
    valid_frac: float = 0.1
    train_until: str | None = None
    valid_until: str | None = None

    def split(self, dataset, seed: int):
        if self.kind == "time":
            return dataset.split_by_time(self.train_until, self.valid_until)
        return dataset.split_customers(seed=seed, test_frac=self.test_frac,
                                       valid_frac=self.valid_frac)


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the dataset's folder in the data home
    sha256: str
    size_bytes: int
    origin: str  # where the file comes from originally (for people, not fetched)


@dataclass
class PublicDataset:
    name: str
    description: str
    rows: int
    customers: int
    licence: str
    files: tuple[DataFile, ...]
    task: LTVTask
    split: SplitProtocol
    protocol: str
    loader: Callable[[PublicDataset, Path | None], TransactionLog] = field(repr=False)
    attributes: Callable[[PublicDataset, Path | None, Any], Any] | None = field(
        default=None, repr=False)
    attribute_customer_col: str = "customer_id"
    bundled: bool = False
    # Events beyond purchases (an EventLog), read after the log; None: the dataset has none.
    events: Callable[[PublicDataset, Path | None, Any], Any] | None = field(
        default=None, repr=False)

    def load_log(self, data_home_dir: str | Path | None = None, *,
                 mirror: str | None = None) -> TransactionLog:
        """Read and clean the transaction log (fetching missing files when a mirror is set)."""
        folder = None if self.bundled else self.ensure_files(data_home_dir, mirror=mirror)
        return self.loader(self, folder)

    def load_attributes(self, log: TransactionLog, data_home_dir: str | Path | None = None):
        if self.attributes is None:
            return None
        folder = None if self.bundled else self.ensure_files(data_home_dir)
        return self.attributes(self, folder, log)

    def load_events(self, log: TransactionLog, data_home_dir: str | Path | None = None):
        """The dataset's events table as an :class:`~ltvkit.data.events.EventLog`, or None."""
        if self.events is None:
            return None
        folder = None if self.bundled else self.ensure_files(data_home_dir)
        return self.events(self, folder, log)

    def ensure_files(self, data_home_dir: str | Path | None = None, *,
                     mirror: str | None = None) -> Path:
        folder = data_home(data_home_dir) / self.name
        for f in self.files:
            target = folder / f.path
            if not target.exists():
                fetch_file(self.name, f, target, mirror=mirror)
        return folder

    def size_text(self) -> str:
        mb = sum(f.size_bytes for f in self.files) / 1e6
        return f"{self.rows:,} rows, {self.customers:,} customers, {mb:.1f} MB"


def data_home(path: str | Path | None = None) -> Path:
    """The folder public datasets are read from: argument, ``LTVKIT_DATA_HOME``, ``~/.ltvkit/data``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("LTVKIT_DATA_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".ltvkit" / "data"


def fetch_file(dataset: str, spec: DataFile, target: Path, *, mirror: str | None = None) -> Path:
    """Download ``spec`` from the mirror into ``target``, verifying its SHA-256."""
    base = mirror or os.environ.get("LTVKIT_DATA_MIRROR")
    if not base:
        raise DataValidationError(
            f"dataset '{dataset}': {target} is missing. Put {spec.path} there (origin: "
            f"{spec.origin}), point LTVKIT_DATA_HOME at a folder that has {dataset}/{spec.path}, "
            "or set LTVKIT_DATA_MIRROR to a URL that serves <dataset>/<file>",
            rule="dataset file present")
    url = f"{base.rstrip('/')}/{dataset}/{spec.path}"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(partial, "wb") as out:
            shutil.copyfileobj(resp, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DataValidationError(f"dataset '{dataset}': could not download {url}: {exc}",
                                  rule="download") from None
    digest = sha256_of(partial)
    if digest != spec.sha256:
        partial.unlink(missing_ok=True)
        raise DataValidationError(
            f"dataset '{dataset}': {url} has SHA-256 {digest}, expected {spec.sha256}; "
            "the file was not saved", rule="checksum")
    partial.replace(target)
    return target


# ---------------------------------------------------------------------------------- CDNOW
def _cdnow_loader(ds: PublicDataset, folder: Path | None) -> TransactionLog:
    import pandas as pd

    if folder is None:
        source = resources.files("ltvkit.datasets") / "data" / "CDNOW_master.txt.gz"
        with resources.as_file(source) as path, gzip.open(path, "rt") as fh:
            # Whitespace-separated with a ragged leading space: pandas reads it, DuckDB's CSV
            # sniffer does not. 70k rows, so the copy is harmless.
            frame = pd.read_csv(fh, sep=r"\s+", header=None, skiprows=1,
                                names=["customer_id", "date", "number_of_cds", "dollar_value"],
                                dtype={"customer_id": str, "date": str})
    else:
        frame = pd.read_csv(folder / "CDNOW_master.txt", sep=r"\s+", header=None, skiprows=1,
                            names=["customer_id", "date", "number_of_cds", "dollar_value"],
                            dtype={"customer_id": str, "date": str})
    mapping = ColumnMapping(customer="customer_id", time="date", amount="dollar_value",
                            quantity="number_of_cds", time_format="%Y%m%d")
    # Published CDNOW analyses count every row as a transaction (duplicates and $0 rows too),
    # and the protocol scores all 23,570 customers.
    cleaning = CleaningRules(drop_duplicates=False, zero_amounts="keep")
    return read_transactions(frame, mapping, cleaning)


# ---------------------------------------------------------------------------- Online Retail
def _online_retail_loader(ds: PublicDataset, folder: Path | None) -> TransactionLog:
    mapping = ColumnMapping(customer="CustomerID", time="InvoiceDate",
                            amount="Quantity*UnitPrice", order="InvoiceNo", quantity="Quantity",
                            category="StockCode")
    return read_transactions(folder / "online_retail.csv.gz", mapping, CleaningRules())


def _online_retail_attributes(ds: PublicDataset, folder: Path | None, log: TransactionLog):
    """Country of each customer (the only customer attribute the log has): the country of the
    customer's most frequent invoice rows."""
    con = new_connection()
    return con.sql(f"""
        SELECT CAST(CAST(CustomerID AS BIGINT) AS VARCHAR) AS customer_id,
               mode(Country) AS country
        FROM read_csv('{folder / "online_retail.csv.gz"}', header=true)
        WHERE CustomerID IS NOT NULL GROUP BY 1
    """).to_arrow_table()


# ---------------------------------------------------------------------------------- Olist
def _olist_loader(ds: PublicDataset, folder: Path | None) -> TransactionLog:
    con = new_connection()
    items = folder / "order_items.parquet"
    # Two domains for the same sellers: marketplace sales (price) and logistics (freight).
    rel = con.sql(f"""
        SELECT seller_id, shipping_limit_date AS ts, price AS amount, order_id, 1 AS quantity,
               product_id, 'sales' AS domain FROM read_parquet('{items}')
        UNION ALL
        SELECT seller_id, shipping_limit_date, freight_value, order_id, 1, product_id,
               'logistics' FROM read_parquet('{items}')
    """)
    mapping = ColumnMapping(customer="seller_id", time="ts", amount="amount", order="order_id",
                            quantity="quantity", category="product_id", domain="domain")
    # A handful of shipping deadlines lie in 2020, long after the last order: counted, dropped.
    cleaning = CleaningRules(drop_duplicates=False, zero_amounts="keep", data_end="2018-09-30")
    return read_transactions(rel, mapping, cleaning, con=con)


def _olist_target_loader(ds: PublicDataset, folder: Path | None) -> TransactionLog:
    """Olist's target domain alone (logistics spend = freight), as a single-domain log."""
    con = new_connection()
    rel = con.sql(f"""
        SELECT seller_id, shipping_limit_date AS ts, freight_value AS amount, order_id,
               1 AS quantity, product_id FROM read_parquet('{folder / "order_items.parquet"}')
    """)
    mapping = ColumnMapping(customer="seller_id", time="ts", amount="amount", order="order_id",
                            quantity="quantity", category="product_id")
    cleaning = CleaningRules(drop_duplicates=False, zero_amounts="keep", data_end="2018-09-30")
    return read_transactions(rel, mapping, cleaning, con=con)


def _olist_attributes(ds: PublicDataset, folder: Path | None, log: TransactionLog):
    """Seller portrait: location, marketing-funnel deal data where present, and the weight and
    size statistics of the products the seller lists."""
    con = new_connection()
    return con.sql(f"""
        WITH prod AS (
            SELECT i.seller_id,
                   avg(p.product_weight_g) AS product_weight_mean,
                   avg(p.product_length_cm * p.product_height_cm * p.product_width_cm)
                       AS product_volume_mean,
                   count(DISTINCT p.product_id) AS n_products,
                   count(DISTINCT p.product_category_name) AS n_product_categories
            FROM read_parquet('{folder / 'order_items.parquet'}') i
            JOIN read_parquet('{folder / 'products.parquet'}') p USING (product_id)
            GROUP BY 1
        ), deals AS (
            SELECT seller_id, any_value(business_segment) AS business_segment,
                   any_value(lead_type) AS lead_type, any_value(business_type) AS business_type,
                   any_value(declared_monthly_revenue) AS declared_monthly_revenue
            FROM read_csv('{folder / 'olist_closed_deals_dataset.csv'}', header=true)
            GROUP BY 1
        )
        SELECT s.seller_id AS customer_id, s.seller_state, s.seller_city,
               CAST(s.seller_zip_code_prefix // 1000 AS VARCHAR) AS zip_region,
               prod.* EXCLUDE (seller_id), deals.* EXCLUDE (seller_id)
        FROM read_parquet('{folder / 'sellers.parquet'}') s
        LEFT JOIN prod USING (seller_id) LEFT JOIN deals USING (seller_id)
    """).to_arrow_table()


def _olist_payment_events(ds: PublicDataset, folder: Path | None, log: TransactionLog):
    """Olist's ``order_payments`` as events of each seller: one event per payment of an order
    the seller shipped items of (an order split between sellers is an event of each), typed
    by the payment type (credit_card, boleto, voucher, debit_card, ...) with the number of
    installments as its value, at the seller's shipping limit date of that order (the log's
    event time; the orders table with purchase times is not part of the data)."""
    from ltvkit.data.events import EventCleaning, EventMapping, read_events

    con = new_connection()
    rel = con.sql(f"""
        WITH seller_orders AS (
            SELECT order_id, seller_id, min(shipping_limit_date) AS ts
            FROM read_parquet('{folder / 'order_items.parquet'}') GROUP BY 1, 2)
        SELECT o.seller_id, o.ts, p.payment_type, p.payment_installments, p.order_id,
               p.payment_sequential
        FROM read_parquet('{folder / 'order_payments.parquet'}') p
        JOIN seller_orders o USING (order_id)
    """)
    mapping = EventMapping(customer="seller_id", time="ts", event_type="payment_type",
                           value="payment_installments")
    # Like the log: shipping deadlines after 2018-09-30 are dropped (counted). Two payments of
    # one order differ in their sequence number, so they are not exact duplicates.
    return read_events(rel, mapping, EventCleaning(data_end="2018-09-30"), con=con)


_CDNOW_FILES = (
    DataFile("CDNOW_master.txt", "eff6889ed364c5199d6eacbbeb7a6d559971df4406ac876f322c373f00a072ef",
             1950500, "Fader & Hardie, brucehardie.com/datasets (bundled in ltvkit)"),
)
_ONLINE_RETAIL_FILES = (
    DataFile("online_retail.csv.gz",
             "139acf6f555f526985b60c0881545ceb95b279a1253487f54d711d88bf76ca63", 7611836,
             "UCI Machine Learning Repository, dataset 352 (Online Retail), as CSV"),
)
_OLIST_FILES = (
    DataFile("order_items.parquet",
             "3f580f1bc8e7d18e5392d73135d32a7412b97a59926546032f6b626f563132c5", 4104383,
             "Kaggle: olistbr/brazilian-ecommerce"),
    DataFile("sellers.parquet",
             "5ecf6cf4e9914a0e6823ca89a723acd1f96d7d29241e1dd1454720058e4637bc", 79861,
             "Kaggle: olistbr/brazilian-ecommerce"),
    DataFile("products.parquet",
             "b2576c09f763abc764361464cfc7684e9d7187fe32c456ca932ffd4be9bd2f82", 874619,
             "Kaggle: olistbr/brazilian-ecommerce"),
    DataFile("olist_closed_deals_dataset.csv",
             "1433f402d8fff00ca167579de641d9525f6e846368958c166f699ef1b0c31f3d", 171352,
             "Kaggle: olistbr/marketing-funnel-olist"),
)

DATASETS: dict[str, PublicDataset] = {
    "cdnow": PublicDataset(
        name="cdnow", description="CDNOW music store, customers who first bought in Q1 1997",
        rows=69_659, customers=23_570, licence="research use (Fader & Hardie)",
        files=_CDNOW_FILES, bundled=True, loader=_cdnow_loader,
        task=LTVTask(cutoff="1997-09-30", horizons=("273D",), period="M", n_periods=9,
                     cohort="known"),
        split=SplitProtocol("customers"),
        protocol="calibration 1997-01-01..1997-09-30, label = spend 1997-10-01..1998-06-30 "
                 "(39 weeks); all customers; 80/20 customer split (10% of train validates)"),
    "online_retail": PublicDataset(
        name="online_retail", description="UCI Online Retail, UK gift retailer 2010-12..2011-12",
        rows=541_909, customers=4_372, licence="CC BY 4.0", files=_ONLINE_RETAIL_FILES,
        loader=_online_retail_loader, attributes=_online_retail_attributes,
        task=LTVTask(cutoff="2011-09-09", horizons=("90D",), period="M", n_periods=10,
                     cohort="known"),
        split=SplitProtocol("customers"),
        protocol="rows without CustomerID dropped (counted); amount = Quantity x UnitPrice; "
                 "cancellations kept as refunds; cutoff 2011-09-09, label = net spend in the next "
                 "90 days clipped at 0; customers with a purchase before the cutoff; 80/20 "
                 "customer split"),
    "olist": PublicDataset(
        name="olist", description="Olist marketplace sellers: sales (source) and freight "
                                  "(target) domains",
        rows=112_650, customers=3_095, licence="CC BY-NC-SA 4.0", files=_OLIST_FILES,
        loader=_olist_loader, attributes=_olist_attributes,
        task=LTVTask(cutoff_start="2017-07-01", cutoff_end="2018-07-31", cutoff_step="30D",
                     lookback="180D", horizons=("30D",), period="30D", n_periods=6,
                     cohort="active", domains=("sales", "logistics"),
                     target_domain="logistics"),
        split=SplitProtocol("time", train_until="2018-02-28", valid_until="2018-04-30"),
        protocol="per seller; event time = shipping_limit_date; cutoffs every 30 days "
                 "2017-07-01..2018-07-31, lookback 180 days; label = freight spend in the next 30 "
                 "days; sellers active in the lookback; cutoffs <= 2018-02-28 train, "
                 "..2018-04-30 validate, later test"),
}
DATASETS["olist_target"] = PublicDataset(
    name="olist", description="Olist sellers' logistics (freight) spend alone: the target "
                              "domain of `olist` as a single-domain dataset",
    rows=112_650, customers=3_095, licence="CC BY-NC-SA 4.0", files=_OLIST_FILES,
    loader=_olist_target_loader, attributes=_olist_attributes,
    task=LTVTask(cutoff_start="2017-07-01", cutoff_end="2018-07-31", cutoff_step="30D",
                 lookback="180D", horizons=("30D",), period="30D", n_periods=6, cohort="active"),
    split=DATASETS["olist"].split,
    protocol="as olist, with the freight rows only (no source domain): single-domain models "
             "on the target domain")


_OLIST_PAYMENTS = DataFile("order_payments.parquet",
                           "4e6887ac845638d44deadae61fe73abcdc0c040bcad1fa33f13e5d950911b8d1",
                           2229657, "Kaggle: olistbr/brazilian-ecommerce")
DATASETS["olist_target_events"] = dataclasses.replace(
    DATASETS["olist_target"], files=_OLIST_FILES + (_OLIST_PAYMENTS,),
    description="`olist_target` plus the sellers' order payments as events (type = payment "
                "type, value = installments)",
    events=_olist_payment_events,
    protocol="as olist_target, plus per-payment-type event features and channels from "
             "order_payments (joined to sellers through order_items, at the shipping limit "
             "date)")


def get_dataset(name: str) -> PublicDataset:
    if name not in DATASETS:
        raise DataValidationError(f"unknown dataset '{name}'; known: {', '.join(DATASETS)}",
                                  rule="known dataset")
    return DATASETS[name]
