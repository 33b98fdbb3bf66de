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
from pathlib import Path

from harness.compare.compare import CompareResult, MetricComparison, compare_paths
from harness.roi.claims import BenefitClaim, GuideClaims, load_claims
from harness.roi.model import CostModel
from harness.roi.outputs import BenefitRow, Case, CaseResult, Measured, RoiResult, RoiRuns

CASES: tuple[Case, ...] = ("low", "point", "high")
WEEKS_PER_MONTH = 52.0 / 12.0


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


def compute_roi(
    before: Measured,
    after_by_case: dict[Case, Measured],
    model: CostModel,
    claims: GuideClaims | None = None,
) -> RoiResult:
    claims = claims or load_claims()
    cases: dict[str, CaseResult] = {c: evaluate_case(before, after_by_case[c], model, c) for c in CASES}
    unmeasured = [name for name, value in before.model_dump().items() if value is None]
    notes = [f"{name} not measured: counted as no change" for name in unmeasured]
    payback = {name: fig.model_dump(exclude_none=True) for name, fig in claims.payback.items()}
    claim_rows = [fig.source_row(f"claims.{name}") for name, fig in claims.payback.items()]
    return RoiResult(
        currency=model.currency,
        before=before,
        after=after_by_case["point"],
        requests_per_month=model.traffic["requests_per_month"].mid,
        cases=cases,
        assumptions=model.sources() + claim_rows,
        claims=payback,
        notes=notes,
    )


def roi_between(
    before: str | Path, after: str | Path, model: CostModel, *, reports_dir: Path = Path("reports")
) -> RoiResult:
    """ROI of moving from the ``before`` run (or repeat group) to the ``after`` one."""
    return roi_from_compare(compare_paths([before], [after], reports_dir=reports_dir), model)


def roi_from_compare(result: CompareResult, model: CostModel, claims: GuideClaims | None = None) -> RoiResult:
    """ROI of ``result``'s base -> new, with the guide's benefits and the runs it was measured on."""
    claims = claims or load_claims()
    before, after = measured_sides(result)
    roi = compute_roi(before, after, model, claims)
    roi.benefits = overall_benefits(result, claims)
    roi.compare = RoiRuns(base=result.base, new=result.new)
    return roi


# ---------------------------------------------------------------- the guide's overall benefits


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:+.1f}%"


def overall_benefits(result: CompareResult, claims: GuideClaims | None = None) -> list[BenefitRow]:
    """The guide's quantifiable benefits (claims.yaml), measured as base (before) -> new (after)."""
    claimed = (claims or load_claims()).benefits
    err = _metric(result, "error_rate")
    return [
        _relative_row(claimed.response_time, _metric(result, "p50"), "median latency, all operations"),
        _relative_row(
            claimed.resource_usage, _metric(result, "cpu_per_request"), "target CPU time per request"
        ),
        _throughput_row(claimed.throughput, _metric(result, "rate")),
        _error_rate_row(claimed.error_rate, err),
        _availability_row(claimed.availability, err),
    ]


def _relative_row(claim: BenefitClaim, m: MetricComparison | None, how: str) -> BenefitRow:
    change = None if m is None else m.change
    interval = "–" if m is None or m.ci_low is None else f"[{_pct(m.ci_low)}, {_pct(m.ci_high)}]"
    return BenefitRow(
        benefit=claim.label,
        claimed=claim.claimed_text,
        measured=change,
        measured_text=_pct(change),
        interval=interval,
        meets_claim=None if change is None else change <= claim.target,
        how=how,
    )


def _throughput_row(claim: BenefitClaim, rate: MetricComparison | None) -> BenefitRow:
    ratio = None if rate is None or not rate.base or rate.new is None else rate.new / rate.base
    return BenefitRow(
        benefit=claim.label,
        claimed=claim.claimed_text,
        measured=ratio,
        measured_text="–" if ratio is None else f"{ratio:.2f}x",
        interval="–",
        meets_claim=None if ratio is None else ratio >= claim.target,
        how="achieved req/s (only meaningful when the scenario pushes to saturation: stress/closed model)",
    )


def _error_rate_row(claim: BenefitClaim, err: MetricComparison | None) -> BenefitRow:
    relative = None
    if err is not None and err.base and err.new is not None:
        relative = err.new / err.base - 1.0
    shown = _pct(relative) if relative is not None else ("no errors before" if err is not None else "–")
    return BenefitRow(
        benefit=claim.label,
        claimed=claim.claimed_text,
        measured=relative,
        measured_text=shown,
        interval="–",
        meets_claim=None if relative is None else relative <= claim.target,
        how="failed / completed requests",
    )


def _availability_row(claim: BenefitClaim, err: MetricComparison | None) -> BenefitRow:
    available = None if err is None or err.new is None else 1.0 - err.new
    return BenefitRow(
        benefit=claim.label,
        claimed=claim.claimed_text,
        measured=available,
        measured_text="–" if available is None else f"{available * 100:.3f}%",
        interval="–",
        meets_claim=None if available is None else available >= claim.target,
        how="share of requests answered without error during the after run",
    )
