"""``GET /healthz``: the process is alive and answers (readiness checks come later)."""

from fastapi import APIRouter

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
