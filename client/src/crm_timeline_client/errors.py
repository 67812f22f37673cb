"""The one exception the HTTP client raises: what the service answered, or that it did not.

It reads both error bodies the API has: FastAPI's ``{"detail": ...}`` and RFC 9457
``application/problem+json`` (``type``, ``title``, ``status``, ``detail``), which the API
is moving to; callers branch on ``status`` (and ``type`` once it is there), never on text.
"""

from __future__ import annotations

from typing import Any

import httpx


class CrmTimelineError(Exception):
    """An answer other than success (``status`` its HTTP status), or no answer at all
    (``status`` None: the service could not be reached or did not answer in time)."""

    def __init__(self, status: int | None, detail: str, type: str | None = None,
                 title: str | None = None, body: Any = None) -> None:
        super().__init__(f"{status}: {detail}" if status is not None else detail)
        self.status = status
        self.detail = detail
        self.type = type
        self.title = title
        self.body = body

    @classmethod
    def from_response(cls, response: httpx.Response) -> CrmTimelineError:
        try:
            body = response.json()
        except ValueError:
            text = response.text.strip()[:500]
            return cls(response.status_code, text or response.reason_phrase, body=text or None)
        if not isinstance(body, dict):
            return cls(response.status_code, response.reason_phrase, body=body)
        title = body.get("title") if isinstance(body.get("title"), str) else None
        kind = body.get("type") if isinstance(body.get("type"), str) else None
        return cls(response.status_code, _detail(body.get("detail"), title or response.reason_phrase),
                   type=kind, title=title, body=body)


def _detail(detail: Any, fallback: str) -> str:
    """The words of a ``detail``: a string, or FastAPI's list of validation problems."""
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list) and detail:
        problems = []
        for problem in detail:
            if isinstance(problem, dict):
                where = ".".join(str(part) for part in problem.get("loc", ()))
                problems.append(f"{where}: {problem.get('msg', '')}" if where
                                else str(problem.get("msg", "")))
            else:
                problems.append(str(problem))
        return "; ".join(problems)
    return fallback
