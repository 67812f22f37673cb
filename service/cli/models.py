"""``models``: fit the prediction models from the store's history, and list their versions."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from service.settings import Settings


def _fit(settings: Settings, args: argparse.Namespace) -> None:
    """Fit a model on the history as of a moment and keep it as a new version."""
    from tqdm import tqdm

    from predictions.churn import NotEnoughHistory
    from predictions.fitting import fit_churn
    from predictions.model_book import ModelBook
    from service import bootstrap

    history = bootstrap.build_history(settings)
    book = ModelBook(bootstrap.build_views(settings, history))
    with tqdm(desc="reading the orders", unit="position", dynamic_ncols=True) as bar:
        def progress(position: int, last: int) -> None:
            bar.total = last
            bar.update(position - bar.n)
        try:
            fitted = fit_churn(history, book, args.as_of, on_progress=progress)
        except NotEnoughHistory as error:
            raise SystemExit(f"crm-timeline models fit churn: not enough history: {error}") from None
    model, fit = fitted.fit.model, fitted.fit
    print(f"churn model v{fitted.version} (BG/NBD) fitted on the purchases of {fit.customers:,} "
          f"customers as of {fitted.as_of.isoformat()} ({fit.repeat_customers:,} ordered on "
          "more than one day)\n"
          f"  purchase rates ~ gamma(r={model.r:.4g}, alpha={model.alpha:.4g} days)\n"
          f"  dropout after a purchase ~ beta(a={model.a:.4g}, b={model.b:.4g}): "
          f"{model.a / (model.a + model.b):.1%} on average\n"
          "The 360 uses it for views as of that moment and later.")


def _list(settings: Settings, args: argparse.Namespace) -> None:
    from predictions.model_book import ModelBook
    from service import bootstrap

    history = bootstrap.build_history(settings)
    book = ModelBook(bootstrap.build_views(settings, history))
    versions = book.versions(args.kind)
    if not versions:
        print(f"no {args.kind} model yet (crm-timeline models fit {args.kind})")
    for model in versions:
        parameters = ", ".join(f"{k}={v:.4g}" for k, v in model.parameters.items())
        print(f"{model.kind} v{model.version}  fitted {model.fitted_at}  facts as of "
              f"{model.as_of}  {model.summary.get('customers', '?')} customers  {parameters}")


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (e.g. 2026-06-30T00:00Z)")
    return moment


def register(commands: Any) -> None:
    models = commands.add_parser("models", help="fit prediction models and list their versions")
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    fit = actions.add_parser("fit", help="fit a model on the store's history")
    fit.add_argument("kind", choices=["churn"])
    fit.add_argument("--as-of", type=_moment, default=None,
                     help="cut the history at this moment (RFC 3339 with offset; default now): "
                     "only facts that happened and were recorded by then are seen")
    fit.set_defaults(run=_fit)
    listing = actions.add_parser("list", help="every version of a model")
    listing.add_argument("kind", choices=["churn"])
    listing.set_defaults(run=_list)
