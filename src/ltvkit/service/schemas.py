"""The request and response bodies of the service (pydantic; the OpenAPI page is built from
them). Unknown fields are refused, amounts must be finite and timestamps must parse."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from typing_extensions import NotRequired, TypedDict

Id = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Amount = Annotated[float, Field(allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Transaction(TypedDict):
    """One purchase (or refund). A typed dict, not a model: a request carries hundreds of
    them, and pydantic validates dicts in two thirds of a model's time."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    timestamp: Annotated[dt.datetime, Field(description="ISO 8601 date or date-time; a time "
                                                        "zone is converted to UTC.")]
    amount: Annotated[Amount, Field(description="Spend; negative = refund.")]
    order_id: NotRequired[Annotated[Id | None, Field(
        description="Order id; orders are counted by it.")]]
    quantity: NotRequired[Annotated[Amount | None, Field(
        description="Items bought, for models trained with a quantity column (missing: "
                    "unknown).")]]
    category: NotRequired[Annotated[Id | None, Field(
        description="Product category, for models trained with a category column.")]]
    domain: NotRequired[Annotated[Id | None, Field(
        description="Domain (business line) of the transaction, required by cross-domain "
                    "models.")]]


class Customer(_Strict):
    customer_id: Id
    transactions: list[Transaction] = Field(max_length=1_000_000)
    attributes: dict[str, str | float | int | bool | None] | None = Field(
        None, description="Customer attributes the model was trained with (by name).")


class ScoreRequest(_Strict):
    cutoff: dt.date | None = Field(None, description="Last day of history (included); "
                                                     "default: today (UTC).")
    customers: list[Customer] = Field(min_length=1)


class HorizonScore(BaseModel):
    horizon: str
    value: float = Field(description="Expected spend over the horizon after the cutoff.")
    p_active: float | None = Field(None, description="Probability of any purchase.")
    quantiles: dict[str, float] | None = Field(None, description="e.g. q10, q50, q90.")
    segment: int | None = Field(None, description="Most probable value bucket, when the "
                                                  "model predicts buckets.")


class CustomerScore(BaseModel):
    customer_id: str
    status: Literal["scored", "no_history"] = Field(
        description="no_history: no purchase on or before the cutoff, so nothing to score.")
    scores: list[HorizonScore] = Field(default_factory=list)


class ModelRef(BaseModel):
    name: str
    version: str


class ScoreResponse(BaseModel):
    model: ModelRef
    cutoff: dt.date
    customers: list[CustomerScore]


class Event(_Strict):
    event_id: Id = Field(description="Client-chosen id; the same id twice is stored once.")
    customer_id: Id
    timestamp: dt.datetime
    amount: Amount
    order_id: Id | None = None


class EventsRequest(_Strict):
    events: list[Event] = Field(min_length=1)


class EventsResponse(BaseModel):
    stored: int = Field(description="Events written by this request.")
    duplicates: int = Field(description="Events whose id was already stored (not written "
                                        "again).")
    durable: bool = Field(description="True: the write is committed to the store.")


class CustomerResponse(BaseModel):
    customer_id: str
    n_events: int
    cutoff: dt.date
    model: ModelRef
    score: CustomerScore


class ModelInfo(BaseModel):
    name: str
    version: str = Field(description="Hash of the saved model's files.")
    horizons: list[str]
    feature_names: list[str]
    categorical_names: list[str]
    sequence_shape: list[int]
    task: dict | None = Field(None, description="The training dataset's task.")
    cleaning: dict | None = None
    validation_metrics: dict | None = None
    saved_at: str | None = None
    loaded_at: str
    ltvkit_version: str | None = None
    worker: int | None = Field(None, description="Process id of the worker that answered.")


class ReloadResponse(BaseModel):
    previous: ModelRef
    current: ModelRef


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    ready: bool
    model: bool
    store: bool | None


class ErrorItem(BaseModel):
    field: str
    rule: str


class ErrorBody(BaseModel):
    detail: str | list[ErrorItem]
