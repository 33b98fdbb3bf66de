"""ROI arithmetic: measured before/after figures x a cost model -> savings, payback, 12-month ROI.

Monthly cost of running the service, per request volume V (requests/month):

- CPU:     cpu_ms_per_request / 1000 * V / 3600 * headroom * price per vCPU-hour
- memory:  peak_rss_mb / 1024 * replicas * hours_per_month * price per GB-hour
- support: error_rate * V * cost per failed request
- revenue: monthly_revenue * loss_per_100ms * median latency (ms) / 100   (only when enabled)

Savings = cost(before) - cost(after). Investment (guide): one-off = initial hours + training hours
x team members, at the engineer rate; recurring = monitoring hours/week x 52/12 + review hours/3 at
the rate, plus tools. Payback = one-off / (savings - recurring); 12-month ROI = (12 x savings -
total 12-month cost) / total 12-month cost.

Three cases: **point** (measured change, mid investment), **low** (the end of the confidence
interval least favourable to the change, the high end of every investment range) and **high**
(the most favourable end, the low end of the investment ranges).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from harness.compare.compare import CompareResult, MetricComparison
from harness.roi.model import CostModel

Case = Literal["low", "point", "high"]
CASES: tuple[Case, ...] = ("low", "point", "high")
WEEKS_PER_MONTH = 52.0 / 12.0


@dataclass(frozen=True)
class Measured:
    """One side of the comparison, in the units the cost model needs."""

    cpu_ms_per_request: float | None
    peak_rss_mb: float | None
    error_rate: float | None
    p50_ms: float | None


@dataclass
class CaseResult:
    case: Case
    after: Measured
    monthly_cost_before: dict[str, float]
    monthly_cost_after: dict[str, float]
    monthly_savings: float
    savings_per_request: float  # the part of the savings that scales with volume, per request
    one_off_investment: float
    recurring_monthly: float
    net_monthly: float
    payback_months: float | None  # None: never pays back
    roi_12_months: float
    requests_per_month_for_6_month_payback: float | None


@dataclass
class RoiResult:
    kind: str
    schema_version: int
    currency: str
    before: Measured
    after: Measured
    requests_per_month: float
    cases: dict[str, CaseResult]
    assumptions: list[dict[str, Any]]
    claims: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- costs


def monthly_costs(m: Measured, model: CostModel, requests: float) -> dict[str, float]:
    """Monthly cost by component; a figure that was not measured costs nothing (and is noted)."""
    infra = model.infrastructure
    cpu = mem = support = revenue = 0.0
    if m.cpu_ms_per_request is not None:
        vcpu_hours = m.cpu_ms_per_request / 1000.0 * requests / 3600.0 * infra["headroom"].mid
        cpu = vcpu_hours * infra["vcpu_hour"].mid
    if m.peak_rss_mb is not None:
        gb_hours = m.peak_rss_mb / 1024.0 * infra["replicas"].mid * infra["hours_per_month"].mid
        mem = gb_hours * infra["gb_hour"].mid
    if m.error_rate is not None:
        support = m.error_rate * requests * model.support["cost_per_failed_request"].mid
    if model.revenue_enabled and m.p50_ms is not None:
        revenue_figure = model.figure("revenue", "monthly_revenue").mid
        revenue = revenue_figure * model.figure("revenue", "loss_per_100ms").mid * m.p50_ms / 100.0
    return {"cpu": cpu, "memory": mem, "support": support, "revenue_loss": revenue}


def investment(model: CostModel, case: Case) -> tuple[float, float]:
    """(one-off, recurring per month) for a case: low = pessimistic = the high end of each range."""
    inv, rate = model.investment, model.people["engineer_hourly_rate"].mid

    def pick(name: str) -> float:
        fig = inv[name]
        return {"low": fig.hi, "point": fig.mid, "high": fig.lo}[case]

    members = model.people["team_members_trained"].mid
    one_off = (pick("initial_hours") + pick("training_hours_per_member") * members) * rate
    hours_per_month = (
        pick("monitoring_hours_per_week") * WEEKS_PER_MONTH + pick("quarterly_review_hours") / 3.0
    )
    return one_off, hours_per_month * rate + pick("tool_cost_per_month")


def evaluate_case(before: Measured, after: Measured, model: CostModel, case: Case) -> CaseResult:
    requests = model.traffic["requests_per_month"].mid
    cost_before, cost_after = monthly_costs(before, model, requests), monthly_costs(after, model, requests)
    savings = sum(cost_before.values()) - sum(cost_after.values())
    # Split savings into the part proportional to volume (CPU, support) and the fixed part.
    variable = (cost_before["cpu"] + cost_before["support"]) - (cost_after["cpu"] + cost_after["support"])
    per_request = variable / requests if requests > 0 else 0.0
    fixed = savings - variable
    one_off, recurring = investment(model, case)
    net = savings - recurring
    total_12 = one_off + 12.0 * recurring
    needed = (one_off / 6.0 + recurring - fixed) / per_request if per_request > 0 else None
    return CaseResult(
        case=case,
        after=after,
        monthly_cost_before=cost_before,
        monthly_cost_after=cost_after,
        monthly_savings=savings,
        savings_per_request=per_request,
        one_off_investment=one_off,
        recurring_monthly=recurring,
        net_monthly=net,
        payback_months=one_off / net if net > 0 else None,
        roi_12_months=(12.0 * savings - total_12) / total_12 if total_12 > 0 else math.inf,
        requests_per_month_for_6_month_payback=needed if needed is None or needed > 0 else 0.0,
    )


# ---------------------------------------------------------------- from measurements


def _metric(result: CompareResult, name: str) -> MetricComparison | None:
    return next((m for m in result.metrics if m.metric == name and m.operation == "overall"), None)


def _after_value(m: MetricComparison | None, case: Case) -> float | None:
    """The 'after' value for a case, moved to the favourable/unfavourable end of the interval."""
    if m is None or m.new is None:
        return None
    if case == "point" or m.ci_low is None or m.ci_high is None or m.base is None:
        return m.new
    # For cost metrics lower is better: the pessimistic case takes the upper end of the change.
    change = m.ci_high if case == "low" else m.ci_low
    if m.change_kind == "absolute":
        return max(0.0, m.base + change)
    return max(0.0, m.base * (1.0 + change))


def measured_sides(result: CompareResult) -> tuple[Measured, dict[Case, Measured]]:
    cpu, rss = _metric(result, "cpu_per_request"), _metric(result, "peak_rss")
    err, p50 = _metric(result, "error_rate"), _metric(result, "p50")
    before = Measured(
        cpu_ms_per_request=cpu.base if cpu else None,
        peak_rss_mb=rss.base if rss else None,
        error_rate=err.base if err else None,
        p50_ms=p50.base if p50 else None,
    )
    after = {
        case: Measured(
            cpu_ms_per_request=_after_value(cpu, case),
            peak_rss_mb=_after_value(rss, case),
            error_rate=_after_value(err, case),
            p50_ms=_after_value(p50, case),
        )
        for case in CASES
    }
    return before, after


def compute_roi(before: Measured, after_by_case: dict[Case, Measured], model: CostModel) -> RoiResult:
    cases: dict[str, CaseResult] = {c: evaluate_case(before, after_by_case[c], model, c) for c in CASES}
    notes = [f"{name} not measured: counted as no change" for name, v in asdict(before).items() if v is None]
    claims = {name: fig.model_dump(exclude_none=True) for name, fig in model.claims.items()}
    return RoiResult(
        kind="motherbox-perf/roi",
        schema_version=1,
        currency=model.currency,
        before=before,
        after=after_by_case["point"],
        requests_per_month=model.traffic["requests_per_month"].mid,
        cases=cases,
        assumptions=model.sources(),
        claims=claims,
        notes=notes,
    )


def roi_from_compare(result: CompareResult, model: CostModel) -> RoiResult:
    before, after = measured_sides(result)
    return compute_roi(before, after, model)


# ---------------------------------------------------------------- the guide's overall benefits


@dataclass
class BenefitRow:
    benefit: str
    claimed: str
    measured: float | None
    measured_text: str
    interval: str
    meets_claim: bool | None
    how: str


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:+.1f}%"


def overall_benefits(result: CompareResult) -> list[BenefitRow]:
    """The guide's quantifiable benefits, measured as base (before) -> new (after)."""
    p50, rate = _metric(result, "p50"), _metric(result, "rate")
    cpu, err = _metric(result, "cpu_per_request"), _metric(result, "error_rate")
    rows = []

    def rel_row(name: str, claimed: str, m: MetricComparison | None, target: float, how: str) -> BenefitRow:
        change = None if m is None else m.change
        interval = "–" if m is None or m.ci_low is None else f"[{_pct(m.ci_low)}, {_pct(m.ci_high)}]"
        meets = None if change is None else change <= target
        return BenefitRow(name, claimed, change, _pct(change), interval, meets, how)

    rows.append(rel_row("response time", "-50%", p50, -0.5, "median latency, all operations"))
    rows.append(rel_row("resource usage", "-40%", cpu, -0.4, "target CPU time per request"))
    ratio = None if rate is None or not rate.base or rate.new is None else rate.new / rate.base
    rows.append(
        BenefitRow(
            "throughput",
            "3x",
            ratio,
            "–" if ratio is None else f"{ratio:.2f}x",
            "–",
            None if ratio is None else ratio >= 3.0,
            "achieved req/s (only meaningful when the scenario pushes to saturation: stress/closed model)",
        )
    )
    err_rel = None
    if err is not None and err.base and err.new is not None:
        err_rel = err.new / err.base - 1.0
    rows.append(
        BenefitRow(
            "error rate",
            "-90%",
            err_rel,
            _pct(err_rel) if err_rel is not None else ("no errors before" if err is not None else "–"),
            "–",
            None if err_rel is None else err_rel <= -0.9,
            "failed / completed requests",
        )
    )
    avail = None if err is None or err.new is None else 1.0 - err.new
    rows.append(
        BenefitRow(
            "availability",
            "99.9%",
            avail,
            "–" if avail is None else f"{avail * 100:.3f}%",
            "–",
            None if avail is None else avail >= 0.999,
            "share of requests answered without error during the after run",
        )
    )
    return rows
