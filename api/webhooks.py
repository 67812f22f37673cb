"""Webhooks: admins register HTTPS endpoints for alerts and segment changes, read each
endpoint's delivery log and re-send an event (``webhooks/``). The secret that signs an
endpoint's requests is answered once, when it is registered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from api.access import Admin, requires
from api.params import OneLine
from schemas.published import CLOUDEVENTS_JSON, PublishedEvent
from webhooks.book import WebhookBook
from webhooks.targets import TargetPolicy, TargetRefused, check_events

router = APIRouter(tags=["webhooks"], dependencies=[Depends(requires("admin"))])

WebhookId = Annotated[str, Path(pattern=r"^wh_[0-9a-f]{16}$", description="The endpoint's id.")]
_AUTH = {401: {"description": "No API key, or not a valid one."},
         403: {"description": "The key is not an admin key."}}
_MISSING = {404: {"description": "No such endpoint (or delivery)."}}


class WebhookRegistration(BaseModel):
    # Scheme, user info and whether the host is public are judged per request, so that
    # 400 says which rule a URL breaks (a pattern could only answer "does not match").
    url: Annotated[OneLine, Field(min_length=8, max_length=2000,
                                  description="Where to POST: https:// to a public host.")]
    events: Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]],
                      Field(min_length=1, max_length=50, description=(
                          "'alerts', 'segments', CloudEvent types such as 'crm.sla.breached' "
                          "or prefixes such as 'crm.anomaly.*'."))]
    description: OneLine = Field("", max_length=500)


class WebhookEndpoint(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str
    created_at: str = Field(description="Events queued from this moment on are delivered.")
    created_by: str


class RegisteredWebhook(WebhookEndpoint):
    secret: str = Field(description="`whsec_...`: verifies the `webhook-signature` header "
                                    "(Standard Webhooks). Shown only now.")


class WebhookList(BaseModel):
    webhooks: list[WebhookEndpoint]


class RemovedWebhook(BaseModel):
    id: str
    removed_deliveries: int


class DeliveryTry(BaseModel):
    attempt: int
    at: str
    status_code: int | None = Field(description="The receiver's answer; null: no answer.")
    error: str | None = Field(description="Why the try failed; null: delivered.")
    next_attempt_at: str | None


class Delivery(BaseModel):
    event_id: str = Field(description="The CloudEvent id, sent as `webhook-id`.")
    event_type: str
    customer_id: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    queued_at: str
    last_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: str | None = Field(description="When a pending delivery is tried next.")
    delivered_at: str | None
    tries: list[DeliveryTry]


class DeliveryLog(BaseModel):
    webhook_id: str
    deliveries: list[Delivery]


def _book(request: Request) -> WebhookBook:
    return request.app.state.webhooks


@router.post("/webhooks", operation_id="registerWebhook", status_code=201, response_model=RegisteredWebhook,
             responses={**_AUTH, 400: {"description": "The URL or an event pattern is refused."}})
def register_webhook(body: WebhookRegistration, caller: Admin,
                     request: Request) -> dict[str, object]:
    """Register an endpoint; the answer holds its signing secret, shown this once."""
    targets: TargetPolicy = request.app.state.webhook_targets
    try:
        url = targets.check_url(body.url)
        events = check_events(body.events)
    except TargetRefused as refused:
        raise HTTPException(400, f"the webhook cannot be registered: {refused}") from None
    return _book(request).register(url, events, body.description, caller.name, datetime.now(UTC))


@router.get("/webhooks", operation_id="listWebhooks", response_model=WebhookList, responses=_AUTH)
def list_webhooks(request: Request) -> dict[str, object]:
    """Every endpoint, oldest first (without secrets)."""
    return {"webhooks": _book(request).listing()}


@router.delete("/webhooks/{webhook_id}", operation_id="removeWebhook", response_model=RemovedWebhook,
               responses={**_AUTH, **_MISSING})
def remove_webhook(webhook_id: WebhookId, request: Request) -> dict[str, object]:
    """Stop delivering to the endpoint; its deliveries and their log go with it."""
    removed = _book(request).remove(webhook_id)
    if removed is None:
        raise HTTPException(404, f"no webhook {webhook_id!r}")
    return {"id": webhook_id, "removed_deliveries": removed}


@router.get("/webhooks/{webhook_id}/deliveries", operation_id="listWebhookDeliveries", response_model=DeliveryLog,
            responses={**_AUTH, **_MISSING})
def webhook_deliveries(
    webhook_id: WebhookId,
    request: Request,
    status: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, object]:
    """The endpoint's deliveries, newest first, each with every try: answer code or
    error, when, and when the next try is due."""
    book = _book(request)
    if book.get(webhook_id) is None:
        raise HTTPException(404, f"no webhook {webhook_id!r}")
    return {"webhook_id": webhook_id, "deliveries": book.log(webhook_id, status=status,
                                                             limit=limit)}


# :path: an alert id holds the complaint id, which may hold "/" (sent as %2F).
@router.post("/webhooks/{webhook_id}/deliveries/{event_id:path}/resend", operation_id="resendWebhookDelivery",
             response_model=Delivery, responses={**_AUTH, **_MISSING})
def resend_delivery(webhook_id: WebhookId,
                    event_id: Annotated[str, Path(min_length=1, max_length=300)],
                    request: Request) -> dict[str, object]:
    """Send the event again, now, with the same body and `webhook-id`; a given-up
    delivery gets its tries anew."""
    delivery = _book(request).resend(webhook_id, event_id, datetime.now(UTC))
    if delivery is None:
        raise HTTPException(404, f"webhook {webhook_id!r} has no delivery of event {event_id!r}")
    return delivery


#: What this service sends to a registered endpoint, for the OpenAPI document's
#: ``webhooks`` section (OpenAPI 3.1): ``api.webhooks.include_router(outgoing)``.
outgoing = APIRouter(tags=["webhooks"])


@outgoing.post("crm-timeline-event", status_code=204, operation_id="crm_timeline_event",
               summary="An alert or segment change, delivered",
               responses={204: {"description": "Any 2xx: delivered. Anything else, or no "
                                               "answer in time: tried again later."}})
def delivered_event(
    event: Annotated[PublishedEvent, Body(media_type=CLOUDEVENTS_JSON)],
    webhook_id: Annotated[str, Header(alias="webhook-id",
                                      description="The CloudEvent id: drop repeats by it.")],
    webhook_timestamp: Annotated[str, Header(alias="webhook-timestamp",
                                             description="Unix seconds of this try.")],
    webhook_signature: Annotated[str, Header(alias="webhook-signature", description=(
        "`v1,` + base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` keyed by "
        "the base64-decoded part of the endpoint's `whsec_` secret."))],
) -> None:
    """An alert or segment change, as a structured-mode CloudEvent
    (`content-type: application/cloudevents+json`), POSTed to each endpoint that asked
    for its type; signed by the Standard Webhooks scheme."""
