"""The churn model on a real store: fitted by the command, versioned, shown on the 360."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from generators import loadgen
from history.arrivals import Arrival
from predictions.model_book import ModelBook
from service.cli import main
from tests.integration.conftest import Desk

pytestmark = pytest.mark.integration


def test_the_fitted_model_explains_each_customers_risk_on_the_360(
        desk: Desk, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="not enough history: 0 of 0 customers have ordered"):
        main(["models", "fit", "churn"])  # an empty store: refused, not guessed

    ids, cumulative = loadgen.zipf_customers(400, 1.1, 3)
    draws = random.Random(4).choices(ids, cum_weights=cumulative, k=12_000)
    events = loadgen.events_of(draws, span=timedelta(days=730),
                               generator=loadgen.LoadGenerator(3, churn_mean_days=300))
    desk.history.record([Arrival("test:feed", n, loadgen.as_fact(e))
                         for n, e in enumerate(events)])
    before_any_model = datetime.now(UTC)
    assert main(["models", "fit", "churn"]) == 0
    said = capsys.readouterr().out
    assert said.startswith("churn model v1 (BG/NBD) fitted on the purchases of ")
    assert "purchase rates ~ gamma(" in said and "dropout after a purchase ~ beta(" in said

    (model,) = ModelBook(desk.views).versions("churn")
    assert model.facts_up_to == desk.history.recorder.max_notification_id()
    assert set(model.parameters) == {"r", "alpha", "a", "b"}
    busiest = ids[0]  # the first id has the largest Zipf weight
    churn = desk.client.get(f"/customers/{busiest}").json()["churn"]
    assert churn["model"] == f"BG/NBD v1 (facts as of {model.as_of})"
    assert 0 <= churn["risk"] <= 1 and churn["level"] in ("low", "medium", "high")
    assert churn["risk"] == pytest.approx(1 - churn["p_order_90d"], abs=1e-4)
    assert churn["reasons"][-1].endswith(" days") and "order" in churn["reasons"][0]

    # As of a moment before the model's facts were cut, it is not used.
    past = desk.client.get(f"/customers/{busiest}",
                           params={"as_of": before_any_model.isoformat()}).json()["churn"]
    assert past["risk"] is None
    assert past["reasons"] == ["no churn model fitted on facts recorded by then "
                               "(crm-timeline models fit churn)"]
