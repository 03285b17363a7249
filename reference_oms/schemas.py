"""Request bodies of both services, parsed once at the edge into typed models."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request

__all__ = [
    "BadRequest",
    "Channel",
    "Line",
    "OrderRequest",
    "ReservationRequest",
    "order_id_for",
    "parse_body",
]

ModelT = TypeVar("ModelT", bound=BaseModel)


class Channel(StrEnum):
    """Sales channels; marketplace reads a lagging copy of the stock view."""

    WEB = "web"
    APP = "app"
    STORE = "store"
    MARKETPLACE = "marketplace"


class Line(BaseModel):
    """One order line."""

    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1)
    qty: int = Field(ge=1)


class ReservationRequest(BaseModel):
    """Body of inventory `POST /reservations`."""

    order_id: str = Field(min_length=1)
    location: str = Field(min_length=1)
    lines: list[Line] = Field(min_length=1)
    atomic: bool = True


class OrderRequest(BaseModel):
    """Body of orders `POST /orders`."""

    idempotency_key: str = Field(min_length=1, max_length=200)
    channel: Channel
    location: str | None = None
    lines: list[Line] = Field(min_length=1)


class BadRequest(Exception):
    """A body that does not parse; carries the JSON to send back with a 422."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["error"])
        self.body = body


def order_id_for(idempotency_key: str) -> str:
    """Derive the order id from the idempotency key, so every retry names the same order."""
    return "ord-" + hashlib.sha1(idempotency_key.encode()).hexdigest()[:16]


def _error_list(err: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
        for e in err.errors(include_url=False, include_input=False)
    ]


async def parse_body(request: Request, model: type[ModelT]) -> ModelT:
    """Parse the JSON body into `model` or raise `BadRequest` with a 422 explaining why."""
    try:
        raw = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadRequest({"status": "invalid", "error": f"body is not valid json: {err}"}) from err
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise BadRequest(
            {"status": "invalid", "error": "invalid request body", "detail": _error_list(err)}
        ) from err
