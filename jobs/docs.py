"""docs/sources.md and docs/features.md, generated from the source contracts and the feature column definitions
(and tested to be current)."""

from __future__ import annotations

from pathlib import Path

from jobs.config import PROJECT_DIR
from pipelines.contracts import CONTRACTS, SourceContract

SOURCES_DOC = PROJECT_DIR / "docs" / "sources.md"
FEATURES_DOC = PROJECT_DIR / "docs" / "features.md"


def _rules(c) -> str:
    parts = []
    if c.allowed:
        parts.append("one of " + ", ".join(f"`{a}`" for a in c.allowed))
    if c.pattern:
        parts.append(f"matches `{c.pattern}`")
    if c.min is not None:
        parts.append(f"≥ {c.min:g}")
    if c.max is not None:
        parts.append(f"≤ {c.max:g}")
    if c.event_time:
        parts.append("not after the extract date")
    if c.references:
        parts.append(f"must exist in `{c.references}`")
    if c.pii:
        parts.append(f"**PII ({c.pii})**: silver keeps only `{c.silver_name}`, a keyed hash")
    return "; ".join(parts)


def source_section(s: SourceContract) -> str:
    lines = [
        f"## `{s.name}` (v{s.version})",
        "",
        s.description,
        "",
        f"- domain: {s.domain}; default format: {s.format}; delivery: {s.delivery}",
        f"- business key: {', '.join(f'`{k}`' for k in s.key)}; latest version by: "
        f"{'`' + s.version_column + '`, then ' if s.version_column else ''}extract date",
        f"- parents: {', '.join(f'`{p}`' for p in sorted(s.parents)) or 'none'}",
        *([f"- every version kept with the date it became known: `silver.{s.name}_versions`"]
          if s.keeps_versions else []),
        "",
        "| column | type | required | meaning | rules |",
        "|---|---|---|---|---|",
    ]
    for c in s.columns:
        lines.append(f"| `{c.name}` | {c.type} | {'yes' if not c.nullable else ''} | {c.description} | {_rules(c)} |")
    return "\n".join(lines) + "\n"


def sources_markdown() -> str:
    head = (
        "# Landing sources\n\n"
        "Generated from `pipelines/contracts/` by `crm docs`; do not edit by hand.\n\n"
        "Each source arrives as files under `<landing>/<source>/`, one extract per business day (the date in an\n"
        "`extract_date=YYYY-MM-DD` folder or in the file name), in the format below (overridable per source in\n"
        "`conf/*/sources.yaml`). CSV files have a header row; JSON files hold one object per line; dates are\n"
        "`yyyy-MM-dd` and timestamps `yyyy-MM-dd HH:mm:ss` (UTC). A row that breaks a rule goes to\n"
        "`ops.quarantine` with the rule; a missing or renamed column, an empty or truncated file, a collapse in\n"
        "volume or too many unknown parents fails the source's load and leaves silver untouched.\n\n"
        "| source | domain | format | key | columns |\n|---|---|---|---|---|\n"
    )
    index = "".join(f"| [`{s.name}`](#{s.name}-v{s.version.replace('.', '')}) | {s.domain} | {s.format} | "
                    f"{', '.join(s.key)} | {len(s.columns)} |\n" for s in CONTRACTS.values())
    return head + index + "\n" + "\n".join(source_section(s) for s in CONTRACTS.values())


def features_markdown() -> str:
    from features.aml import AML_FEATURES
    from features.daily import CUSTOMER_DAILY
    from features.profile import CUSTOMER_PROFILE, SOURCE_GROUPS, zero_when_absent
    from features.profile.year_window import ACTIVITY_365D
    from features.tags import CUSTOMER_TAGS
    from features.txn import TXN_FEATURES

    out = ["# Gold feature tables\n",
           "Generated from the feature column definitions in `features/` by `crm docs`; do not edit by hand. "
           "Amounts are in CNY at reference rates (`features/reference.py`). A window `30d` ends on the as-of "
           "date and spans 30 days; on `gold.txn_features` a window ends just before the transaction.\n"]
    for table in (CUSTOMER_DAILY, CUSTOMER_PROFILE, ACTIVITY_365D, CUSTOMER_TAGS, TXN_FEATURES, AML_FEATURES):
        out += [f"## `{table.name}`\n", table.description + "\n", f"Key: {', '.join(f'`{k}`' for k in table.key)}.\n"]
        for g in table.groups:
            out += [f"### {g.name}\n", g.description + "\n", "| column | type | window | meaning |",
                    "|---|---|---|---|"]
            for f in g.features:
                filled = table is CUSTOMER_PROFILE and g in SOURCE_GROUPS and zero_when_absent(f)
                note = " 0 when the customer has none." if filled else ""
                out.append(f"| `{f.name}` | {f.type} | {f.window} | {f.description}{note} |")
            out.append("")
        if table is CUSTOMER_DAILY:
            from jobs.tables import DAILY_LINEAGE

            out += ["### lineage\n", "Which fold of silver changes wrote the row.\n",
                    "| column | type | window | meaning |", "|---|---|---|---|", f"| `source` | string |  | {DAILY_LINEAGE['source']} |",
                    f"| `source_version` | bigint |  | {DAILY_LINEAGE['source_version']} |", ""]
    return "\n".join(out + configured_rules_markdown() + aml_rules_markdown())


def configured_rules_markdown() -> list[str]:
    """The default business rules of conf/base/features.yaml: value rates and tiers, orientation, loyalty, tags."""
    from jobs.config import load_settings

    f = load_settings("local").features
    v = f.value
    out = ["## Default business rules (`conf/base/features.yaml`)\n",
           "The bank changes these in configuration, without code. Rules apply in order: the first whose "
           "condition holds assigns its value, and the profile names the rule.\n",
           "### value\n",
           f"Revenue estimate: fees in full; card interchange {v.card_interchange:.2%} of card spend; yearly "
           f"margins {v.deposit_margin:.2%} on deposits and {v.loan_margin:.2%} on loans; yearly fee "
           f"{v.investment_fee:.2%} on investments at market value.\n",
           "| value_tier | customer_value at least (CNY) |", "|---|---|",
           *[f"| {t.tier} | {t.min_value:,.0f} |" for t in v.tiers], ""]
    for title, rules in (("orientation", f.orientation), ("loyalty", f.loyalty)):
        out += [f"### {title}\n", "| rule | assigns | condition | why |", "|---|---|---|---|",
                *[f"| `{r.rule}` | {r.assigns} | `{r.condition}` | {r.explanation} |" for r in rules], ""]
    out += ["### tags (`gold.customer_tags`)\n", "| tag | condition | owner | meaning |", "|---|---|---|---|",
            *[f"| `{name}` | `{t.condition}` | {t.owner} | {t.description} |" for name, t in f.tags.items()], ""]
    return out


def aml_rules_markdown() -> list[str]:
    """The default AML typology rules and the threshold-rules baseline of conf/base/models.yaml."""
    from jobs.config import load_settings

    a = load_settings("local").models.aml
    return ["## Default AML typology rules (`conf/base/models.yaml`, `models.aml.rules`)\n",
            "Spark SQL over `gold.aml_features`. A hit's severity is 1 - 0.5 / strength (0.5 at the threshold); "
            "the customer's risk score blends the largest severity with the anomaly and supervised parts "
            f"(weights {a.weights.rules} / {a.weights.anomaly} / {a.weights.supervised}).\n",
            "| typology | condition | strength | evidence |", "|---|---|---|---|",
            *[f"| {r.typology} | `{r.condition}` | `{r.strength}` | {r.evidence} |" for r in a.rules], "",
            "Threshold-rules baseline (`models.aml.baseline`, one point each):\n",
            *[f"- `{c}`" for c in a.baseline], ""]


def write_docs() -> list[Path]:
    SOURCES_DOC.parent.mkdir(parents=True, exist_ok=True)
    SOURCES_DOC.write_text(sources_markdown())
    FEATURES_DOC.write_text(features_markdown())
    return [SOURCES_DOC, FEATURES_DOC]
