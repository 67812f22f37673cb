"""Python client of the CRM customer timeline service.

* ``crm_timeline_client.builders``: one function per CloudEvent type the service takes in
  (``contact_logged``, ``order_placed``, ...), validated before it travels with the
  service's own rules and reasons (``InvalidEvent``); ``validate`` checks a wire-form dict.
* ``CrmTimeline``: the HTTP API (publish, the 360, the timeline, the queue, alerts,
  segments); every failure is a ``CrmTimelineError``.
"""

from crm_timeline_client import builders
from crm_timeline_client.building import build_event, validate
from crm_timeline_client.client import CrmTimeline
from crm_timeline_client.errors import CrmTimelineError
from crm_timeline_client.events import EVENT_TYPES, CloudEvent
from crm_timeline_client.reasons import InvalidEvent

__all__ = ["EVENT_TYPES", "CloudEvent", "CrmTimeline", "CrmTimelineError", "InvalidEvent",
           "build_event", "builders", "validate"]
