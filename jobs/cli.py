"""`crm`: one command for every step. Errors a user can fix print one line and exit non-zero."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import date, timedelta

from jobs.config import ConfigError, Settings, load_settings
from jobs.errors import CrmError
from jobs.java import JavaNotFound
from jobs.logs import setup_logging

log = logging.getLogger("crm")
TRAINED = ("recommender", "clv", "churn", "fraud", "aml")  # crm train --model
SCORED = ("recommender", "lifecycle", "fraud", "aml")  # crm score --model


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _common(p: argparse.ArgumentParser, suppress: bool) -> None:
    d = argparse.SUPPRESS
    p.add_argument("--env", default=d if suppress else "local",
                   help="local (default), cluster, or a folder of YAML overrides")
    p.add_argument("--set", dest="overrides", action="append", default=d if suppress else [],
                   metavar="KEY=VALUE", help="override one setting, e.g. --set spark.shuffle_partitions=4")
    p.add_argument("--debug", action="store_true", default=d if suppress else False,
                   help="debug logging (per-phase timings) and Python tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm", description="crm-lakehouse: the bank's customer-relationship lakehouse")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        _common(p, suppress=True)
        return p

    g = add("generate", "write a synthetic bank's landing extracts (and its ground truth)")
    g.add_argument("--customers", type=int, help="number of customers (default: generator.customers)")
    g.add_argument("--days", type=int, help="days of history (default: generator.days)")
    g.add_argument("--seed", type=int, help="random seed (default: generator.seed)")
    g.add_argument("--out", help="folder to write landing/ and truth/ under (default: lake.landing, lake.truth)")
    g.add_argument("--faults", default="", help="also write a damaged copy (landing_faulty/) with these faults, "
                   "comma-separated: duplicates,null_key,bad_type,unknown_code,future_date,truncated_file,"
                   "renamed_column, or all")

    i = add("ingest", "load landing extracts into bronze and silver")
    i.add_argument("--date", type=_date, help="business date: take pending extracts up to this date (default: all)")
    i.add_argument("--source", action="append", help="only this source (repeatable); parents are not implied")
    i.add_argument("--path", help="read extracts from this folder (holding <source>/ folders) instead of the "
                   "landing folder")

    f = add("features", "bring gold up to date: fold silver changes into customer_daily, build customer_profile")
    f.add_argument("--date", type=_date, help="as-of date of the profile (default: the latest business date loaded)")
    f.add_argument("--from", dest="start", type=_date, help="backfill: first as-of date (with --to)")
    f.add_argument("--to", dest="end", type=_date, help="backfill: last as-of date; the dates in between follow "
                   "features.snapshot_cadence")
    t = add("train", "train a model family on what is ingested, track it in MLflow, register it (champion if better)")
    t.add_argument("--model", required=True, choices=TRAINED, help="model family")
    t.add_argument("--cutoff", type=_date, help="recommender: fit on what was known on this date, evaluate on "
                   "what followed (default: the latest business date minus models.<family>.holdout_days)")
    t.add_argument("--tune", action="store_true", help="also try the parameter sets in models.<family>.tune, "
                   "each logged as a nested MLflow run")
    t.add_argument("--calibration-end", type=_date, help="clv: fit on the purchases known by this date, evaluate "
                   "on what followed (default: the latest business date minus models.clv.holdout_days)")
    t.add_argument("--time-unit", choices=("day", "week", "month"), help="clv: unit of frequency, recency and T "
                   "(default: models.clv.time_unit)")
    sc = add("score", "score a business date with the family's champion model and write its serving table")
    sc.add_argument("--model", required=True, choices=SCORED, help="model family")
    sc.add_argument("--date", type=_date, help="business date (default: the latest loaded)")
    tk = add("tasks", "plan every account manager's relationship-maintenance tasks for a date "
                      "(serving.maintenance_tasks)")
    tk.add_argument("--date", type=_date, help="business date (default: the latest loaded)")
    w = add("worklist", "show an account manager's worklist (written by `crm tasks`), or export every worklist")
    w.add_argument("--manager", help="account manager id (AM0001) or branch pool (BRANCH-B001); without it, "
                   "the worklists of the date are listed")
    w.add_argument("--date", type=_date, help="run date (default: the latest planned)")
    w.add_argument("--csv", help="also write the manager's worklist to this CSV file")
    w.add_argument("--html", help="also write the manager's worklist to this HTML page")
    w.add_argument("--export-all", metavar="DIR", help="write every manager's worklist of the date to DIR as "
                   "worklist_<manager>_<date>.csv and .html")
    add("tables", "list the lake's tables: layer, location, Delta version, rows, last update")
    m = add("maintain", "compact the lake's tables (Delta OPTIMIZE: small files merged, rows marked by deletion "
                        "vectors dropped); run it outside the nightly loads")
    m.add_argument("--table", action="append", help="only this table, e.g. silver.transactions (repeatable)")
    add("docs", "regenerate docs/ from the code (source contracts)")
    d = add("demo", "generate a small bank and run every step end to end")
    d.add_argument("--customers", type=int, default=None)
    d.add_argument("--days", type=int, default=None)
    return parser


def _listed(values: list[str] | None) -> list[str]:
    """A repeatable option's values, each of which may itself be a comma-separated list."""
    return [v for item in values or [] for v in item.split(",") if v]


def _session(settings: Settings):
    from jobs.spark import build_session

    return build_session(settings)


def cmd_generate(args, settings: Settings) -> int:
    from jobs.generate import generate

    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    summary = generate(_session(settings), settings, out=args.out, customers=args.customers, days=args.days,
                       seed=args.seed, faults=faults)
    _print_generate(summary)
    return 0


def _print_generate(summary: dict) -> None:
    print(f"generated {summary.get('customers')} customers over {summary.get('days')} days "
          f"in {summary.get('seconds', 0):.1f}s into {summary.get('landing')}")
    for source, n in sorted(summary.get("rows", {}).items()):
        print(f"  {source:<20} {n:>12,} rows")


def cmd_ingest(args, settings: Settings) -> int:
    from jobs.ingest import ingest

    sources = _listed(args.source)
    results = ingest(_session(settings), settings, as_of=args.date, sources=sources or None, path=args.path)
    for r in results:
        print(r.line())
    return 0


def cmd_features(args, settings: Settings) -> int:
    from jobs.features import run_features

    folds, build = run_features(_session(settings), settings, as_of=args.date, start=args.start, end=args.end)
    for fold in folds:
        print(fold.line())
    if build:
        print(build.line())
    return 0


def cmd_train(args, settings: Settings) -> int:
    from jobs.aml import train_aml
    from jobs.churn import train_churn
    from jobs.fraud import train_fraud
    from jobs.lifecycle import train_clv
    from jobs.recommend import train_recommender

    family_only = {"recommender": ("cutoff", "tune"), "clv": ("calibration_end", "time_unit")}
    for family, options in family_only.items():
        for option in options:
            if args.model != family and getattr(args, option):
                raise CrmError(f"--{option.replace('_', '-')} applies to --model {family} only")
    if args.model == "churn":
        result = train_churn(_session(settings), settings)
    elif args.model == "fraud":
        result = train_fraud(_session(settings), settings)
    elif args.model == "aml":
        result = train_aml(_session(settings), settings)
    elif args.model == "clv":
        result = train_clv(_session(settings), settings, calibration_end=args.calibration_end,
                           time_unit=args.time_unit)
    else:
        result = train_recommender(_session(settings), settings, cutoff=args.cutoff, tune=args.tune)
    for line in result.lines():
        print(line)
    return 0


def cmd_score(args, settings: Settings) -> int:
    from jobs.aml import score_aml
    from jobs.fraud import score_fraud
    from jobs.lifecycle import score_lifecycle
    from jobs.recommend import score_recommender

    score = {"lifecycle": score_lifecycle, "fraud": score_fraud, "aml": score_aml}.get(args.model, score_recommender)
    print(score(_session(settings), settings, as_of=args.date).line())
    return 0


def cmd_tasks(args, settings: Settings) -> int:
    from jobs.tasks import build_tasks

    print(build_tasks(_session(settings), settings, as_of=args.date).line())
    return 0


def cmd_worklist(args, settings: Settings) -> int:
    from pathlib import Path

    from jobs.tables import build_catalog
    from jobs.worklist import export_all, worklists

    lists = worklists(_session(settings), build_catalog(settings), args.date, args.manager)
    if args.export_all:
        paths = export_all(lists, Path(args.export_all))
        print(f"wrote {len(paths)} files for {len(lists)} worklists to {args.export_all}")
    if args.manager:
        w = lists[0]
        print(w.text())
        if args.csv:
            print(f"wrote {w.write_csv(Path(args.csv))}")
        if args.html:
            print(f"wrote {w.write_html(Path(args.html))}")
    elif not args.export_all:
        if args.csv or args.html:
            raise CrmError("--csv and --html export one manager's worklist: add --manager (or use --export-all)")
        print(f"worklists for {lists[0].run_date if lists else '-'} (crm worklist --manager M shows one):")
        for w in lists:
            print(f"  {w.manager_id:<14} {len(w.tasks):>3} planned, {w.deferred:>4} rolled over, "
                  f"{w.suppressed:>4} suppressed")
    return 0


def cmd_tables(args, settings: Settings) -> int:
    from jobs.tables import build_catalog

    spark = _session(settings)
    catalog = build_catalog(settings)
    rows = [catalog.describe(spark, n) for n in catalog.names]
    rows = [r for r in rows if r["version"] is not None]
    if not rows:
        print(f"no tables yet under {settings.lake_root}; run `crm ingest` (or `crm demo`)")
        return 0
    print(f"{'table':<32} {'layer':<7} {'version':>7} {'rows':>12}  {'last update':<19}  location")
    for r in rows:
        print(f"{r['table']:<32} {r['layer']:<7} {r['version']:>7} {r['rows']:>12,}  "
              f"{r['updated']:%Y-%m-%d %H:%M:%S}  {r['location']}")
    return 0


def cmd_maintain(args, settings: Settings) -> int:
    from jobs.maintain import maintain

    done = maintain(_session(settings), settings, _listed(args.table) or None)
    for c in done:
        print(c.line())
    if not done:
        print(f"no tables yet under {settings.lake_root}; nothing to maintain")
    return 0


def cmd_docs(args, settings: Settings) -> int:
    from jobs.docs import write_docs

    for p in write_docs():
        print(f"wrote {p}")
    return 0


def cmd_demo(args, settings: Settings) -> int:
    from jobs.aml import score_aml, train_aml
    from jobs.features import run_features
    from jobs.generate import generate
    from jobs.ingest import ingest
    from jobs.churn import train_churn
    from jobs.fraud import score_fraud, train_fraud
    from jobs.lifecycle import score_lifecycle, train_clv
    from jobs.recommend import score_recommender, train_recommender
    from jobs.tables import build_catalog
    from jobs.tasks import build_tasks
    from jobs.worklist import worklists

    started = time.time()
    spark = _session(settings)
    log.info("demo 1/10: generating a bank")
    summary = generate(spark, settings, customers=args.customers, days=args.days)
    _print_generate(summary)
    log.info("demo 2/10: ingesting landing -> bronze -> silver")
    for r in ingest(spark, settings):
        print(r.line())
    log.info("demo 3/10: gold features (customer_daily, customer_profile month-ends and the last day)")
    # with the initial-load policy the bulk extract's history is known as it happened, so snapshots start early
    start = (settings.generator.start_date if settings.features.initial_load_known_at_event_time
             else date.fromisoformat(summary["bulk_date"]))
    end = date.fromisoformat(summary["end_date"])
    folds, build = run_features(spark, settings, start=start, end=end)
    for fold in folds:
        print(fold.line())
    print(build.line())
    log.info("demo 4/10: training the cross-sell recommender (MLflow)")
    for line in train_recommender(spark, settings).lines():
        print(line)
    log.info("demo 5/10: scoring next_best_offer")
    print(score_recommender(spark, settings).line())
    log.info("demo 6/10: lifetime value and churn (MLflow), lifecycle_scores")
    for line in train_clv(spark, settings).lines():
        print(line)
    for line in train_churn(spark, _demo_churn_settings(args, settings, summary["days"])).lines():
        print(line)
    print(score_lifecycle(spark, settings).line())
    log.info("demo 7/10: card fraud: transaction features, models (MLflow), fraud_scores")
    for line in train_fraud(spark, settings).lines():
        print(line)
    print(score_fraud(spark, settings).line())
    log.info("demo 8/10: anti-money laundering: typology features, model (MLflow), aml_alerts")
    aml_settings = _demo_aml_settings(args, settings)
    for line in train_aml(spark, aml_settings).lines():
        print(line)
    print(score_aml(spark, aml_settings).line())
    log.info("demo 9/10: relationship-maintenance tasks and a worklist")
    print(build_tasks(spark, _demo_task_settings(args, settings, end)).line())
    lists = worklists(spark, build_catalog(settings))
    busiest = max((w for w in lists if not w.manager_id.startswith("BRANCH-")), default=None,
                  key=lambda w: (len(w.tasks), w.manager_id))
    if busiest is not None:
        print(busiest.text())
    log.info("demo 10/10: tables")
    cmd_tables(args, settings)
    print(f"demo finished in {time.time() - started:.0f}s; lake at {settings.lake_root}")
    return 0


def _demo_churn_settings(args, settings: Settings, days: int) -> Settings:
    """The demo bank's history is short: unless --set says otherwise, churn looks 30 days ahead instead of
    models.churn.horizon_days, so three month-end snapshots have an outcome (two to train on, one to evaluate),
    and a customer is dormant after 30 quiet days (60 cannot show in a snapshot 60 days into the history)."""
    horizon = settings.models.churn.horizon_days
    if any(o.startswith("models.churn.") for o in args.overrides) or 3 * horizon + 31 <= days:
        return settings
    log.info("demo: %d days of history; churn labelled 30 days ahead, dormant after 30 quiet days "
             "(models.churn.horizon_days is %d)", days, horizon)
    return load_settings(args.env, [*args.overrides, "models.churn.horizon_days=30", "models.churn.dormant_days=30"])


def _demo_task_settings(args, settings: Settings, end: date) -> Settings:
    """Client events are the bank's own calendar (tasks.events, empty by default): unless --set gives some, the
    demo holds three around its last business date, so invitations show on generated data."""
    if settings.tasks.events or any(o.startswith("tasks.events") for o in args.overrides):
        return settings
    events = [("EV-SALON", "Investment salon", "investment_salon", 12, 21, "[PLATINUM, GOLD]", "[high_net_worth, fund_investor]", 40),
              ("EV-OUTLOOK", "Market outlook lecture", "market_outlook", 20, 30, "[]", "[]", 60),
              ("EV-ABROAD", "Overseas study and investment talk", "overseas_study", 9, 14, "[]", "[frequent_traveler, young_family]", 30)]
    text = ", ".join(f"{{event_id: {i}, name: {n}, kind: {k}, date: '{end + timedelta(days)}', invite_days: {inv}, "
                     f"tiers: {tiers}, tags: {tags}, capacity: {cap}}}" for i, n, k, days, inv, tiers, tags, cap in events)
    return load_settings(args.env, [*args.overrides, f"tasks.events=[{text}]"])


def _demo_aml_settings(args, settings: Settings) -> Settings:
    """The demo bank is synthetic: unless --set says otherwise, AML is also evaluated against the typologies the
    generator injected (its truth folder), which the pipeline itself never reads, and trains on six weekly
    as-of dates (models.aml.training_days 42) to keep the demo short."""
    extra = []
    if not (settings.models.aml.evaluation_truth or any(o.startswith("models.aml.evaluation_truth")
                                                        for o in args.overrides)):
        extra.append(f"models.aml.evaluation_truth={settings.lake.truth}")
    if not any(o.startswith("models.aml.training_days") for o in args.overrides):
        extra.append("models.aml.training_days=42")   # six weekly training dates keep the demo short
    return load_settings(args.env, [*args.overrides, *extra]) if extra else settings


COMMANDS = {"generate": cmd_generate, "ingest": cmd_ingest, "features": cmd_features, "train": cmd_train,
            "score": cmd_score, "tasks": cmd_tasks, "worklist": cmd_worklist, "tables": cmd_tables,
            "maintain": cmd_maintain,
            "docs": cmd_docs, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    try:
        settings = load_settings(args.env, args.overrides)
        setup_logging(settings, "DEBUG" if debug else None)
        return COMMANDS[args.command](args, settings)
    except (CrmError, ConfigError, JavaNotFound, FileNotFoundError) as e:
        if debug:
            raise
        print(f"crm {args.command}: error: {e}", file=sys.stderr)
        return 1 if isinstance(e, CrmError) else 2
    except KeyboardInterrupt:
        print(f"crm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
