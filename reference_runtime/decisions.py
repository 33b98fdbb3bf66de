"""Decision engine: which agent (or workflow path) handles a command.

Three ways to answer, matching the guide's "Decision Optimization":

* ``evaluate()`` – the slow path, real work: normalize and tokenize the command (with a tiny
  stemmer), apply *gate* rules (hard constraints that narrow the valid targets) and then every
  *scoring* rule (keyword sets, required/forbidden keywords, a compiled regex over the text,
  parameter predicates) and accumulate a score per target. Confidence is the softmax share of
  the top target over the valid targets' scores.
* Precomputed (``precomputed=True``): a dict from a request *fingerprint* (normalized text +
  params) to the decision, built by running the full evaluation once over the rule set's common
  commands; rebuilt on rule change (``set_rules``) and on a schedule (``run_refresh``). A lookup
  is O(1) in the number of rules; a miss falls back to ``evaluate``. Because evaluation is a pure
  function of the fingerprint, table answers equal full evaluations exactly.
* Early termination (``early_termination=True``) stops evaluating when
  (1) a cached result for the same fingerprint exists (small LRU of recent decisions),
  (2) a single valid path remains (params ``agent``/``requires`` and gate rules), or
  (3) confidence > 0.95 is *guaranteed*: scoring rules run in descending weight and the engine
  tracks, per target, the weight still unexamined; it stops when the top target's confidence
  stays above 0.95 even if every other target gained all its remaining weight. So early
  termination never changes the chosen target, only the work (and the reported confidence,
  which is the value at the exit point).

Counters (evaluations, rules examined, exits by reason, table hits/misses) let tests and the
benchmark show the work saved.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from cachetools import LRUCache

CONFIDENCE_EXIT = 0.95
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s")


@dataclass(frozen=True)
class Rule:
    """A routing rule. ``kind="gate"`` restricts valid targets to ``allow`` when it fires."""

    id: str
    target: str
    weight: float
    any_keywords: frozenset[str] = frozenset()
    all_keywords: frozenset[str] = frozenset()
    none_keywords: frozenset[str] = frozenset()
    pattern: str | None = None
    param_equals: tuple[tuple[str, str], ...] = ()
    kind: str = "score"
    allow: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DecisionRequest:
    command: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    target: str
    confidence: float
    source: str  # evaluated | precomputed | cached
    exit_reason: str  # full | confidence | single_path | cached | precomputed
    rules_examined: int
    scores: tuple[tuple[str, float], ...] = ()


@dataclass
class DecisionCounters:
    decisions: int = 0
    evaluations: int = 0
    rules_examined: int = 0
    precomputed_hits: int = 0
    precomputed_misses: int = 0
    table_builds: int = 0
    exits: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.__dict__.items() if k != "exits"}, "exits": dict(self.exits)}


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    stems_any: frozenset[str]
    stems_all: frozenset[str]
    stems_none: frozenset[str]
    regex: re.Pattern[str] | None


def stem(token: str) -> str:
    """Very small suffix stripper so "deploying", "deployed" and "deploys" meet "deploy"."""
    for suffix in _SUFFIXES:
        if len(token) > len(suffix) + 2 and token.endswith(suffix):
            return token[: -len(suffix)]
    return token


def normalize(command: str) -> str:
    return " ".join(command.lower().split())


def fingerprint(request: DecisionRequest) -> str:
    """Key of the precomputed table and of the result cache: normalized text + sorted params."""
    text = " ".join(request.command.lower().split())
    if not request.params:
        return text  # the common case: no serialization needed
    params = orjson.dumps(dict(request.params), option=orjson.OPT_SORT_KEYS, default=str)
    return text + "\x00" + params.decode()


def _compile(rule: Rule) -> _Compiled:
    def stems(words: Iterable[str]) -> frozenset[str]:
        return frozenset(stem(w) for w in words)

    return _Compiled(
        rule,
        stems(rule.any_keywords),
        stems(rule.all_keywords),
        stems(rule.none_keywords),
        re.compile(rule.pattern) if rule.pattern else None,
    )


def _rule_quality(c: _Compiled, stems: frozenset[str], text: str, params: Mapping[str, Any]) -> float:
    """How well a rule matches, 0..1 (0 = does not apply)."""
    if c.stems_all and not c.stems_all <= stems:
        return 0.0
    if c.stems_none and c.stems_none & stems:
        return 0.0
    for key, value in c.rule.param_equals:
        if str(params.get(key, "")).lower() != value:
            return 0.0
    hits = len(c.stems_any & stems) if c.stems_any else 0
    matched = c.regex is not None and c.regex.search(text) is not None
    if hits == 0 and not matched:
        return 0.0
    quality = (0.5 + 0.5 * hits / len(c.stems_any)) if hits else 0.0
    if matched:
        quality += 0.5
    return min(quality, 1.0)


def _gap(top: str, scores: Mapping[str, float], remaining: Mapping[str, float], margin: float) -> float:
    """lead - max over rivals of (score + unexamined weight) - margin; > 0 means a clear winner.

    Sound: with n valid targets, the top's final softmax share is at least
    1 / (1 + (n-1) * exp(max_rival_potential - lead)), which exceeds the threshold c when the
    gap (with margin ln(c/(1-c) (n-1))) is > 0.
    """
    lead = scores[top]
    rival = max((scores[t] + remaining[t] for t in scores if t != top), default=-math.inf)
    return lead - rival - margin


def _softmax_share(top: str, scores: Mapping[str, float]) -> float:
    best = scores[top]
    return 1.0 / sum(math.exp(s - best) for s in scores.values())


class DecisionEngine:
    """Routes requests to targets; see the module docstring for the three paths."""

    def __init__(
        self,
        rules: Sequence[Rule],
        targets: Mapping[str, Iterable[str]],
        *,
        common_commands: Sequence[DecisionRequest] = (),
        precomputed: bool = True,
        early_termination: bool = True,
        default_target: str | None = None,
        cache_size: int = 4096,
        confidence_threshold: float = CONFIDENCE_EXIT,
    ) -> None:
        self.targets = {name: frozenset(caps) for name, caps in targets.items()}
        self.default_target = default_target or next(iter(self.targets))
        self.precomputed = precomputed
        self.early_termination = early_termination
        if not 0.5 < confidence_threshold < 1.0:
            raise ValueError("confidence_threshold must be in (0.5, 1)")
        self.confidence_threshold = confidence_threshold
        self.counters = DecisionCounters()
        self._cache: LRUCache[str, Decision] = LRUCache(maxsize=cache_size)
        self._table: dict[str, Decision] = {}
        self._common: list[DecisionRequest] = list(common_commands)
        self._gates: list[_Compiled] = []
        self._scoring: list[_Compiled] = []
        self._target_weight: dict[str, float] = {}
        self.set_rules(rules)

    # -- rules and the precomputed table -----------------------------------------------------

    def set_rules(
        self, rules: Sequence[Rule], common_commands: Sequence[DecisionRequest] | None = None
    ) -> None:
        """Replace the rule set; clears the result cache and rebuilds the table (rule change)."""
        unknown = {r.target for r in rules if r.kind == "score"} - set(self.targets)
        if unknown:
            raise ValueError(f"rules route to unknown targets: {sorted(unknown)}")
        compiled = [_compile(r) for r in rules]
        by_weight = sorted(compiled, key=lambda c: -c.rule.weight)
        self._gates = [c for c in by_weight if c.rule.kind == "gate"]
        self._scoring = [c for c in by_weight if c.rule.kind == "score"]
        totals: dict[str, float] = dict.fromkeys(self.targets, 0.0)
        for c in self._scoring:
            totals[c.rule.target] += c.rule.weight
        self._target_weight = totals
        if common_commands is not None:
            self._common = list(common_commands)
        self._cache.clear()
        self.refresh()

    def refresh(self) -> int:
        """Rebuild the lookup table from the common commands (full evaluation, not counted)."""
        table: dict[str, Decision] = {}
        for request in self._common:
            full = self._evaluate(request, early=False, count=False)
            table[fingerprint(request)] = replace(full, source="precomputed", exit_reason="precomputed")
        self._table = table
        self.counters.table_builds += 1
        return len(table)

    async def run_refresh(self, interval_s: float) -> None:
        """Background task: rebuild the table every ``interval_s`` (the guide says daily)."""
        while True:
            await asyncio.sleep(interval_s)
            self.refresh()

    @property
    def table_size(self) -> int:
        return len(self._table)

    @property
    def rule_count(self) -> int:
        return len(self._gates) + len(self._scoring)

    # -- entry points ------------------------------------------------------------------------

    def decide(self, request: DecisionRequest) -> Decision:
        """Hot-path entry: table lookup when precomputed, else (or on a miss) evaluation."""
        self.counters.decisions += 1
        if self.precomputed:
            hit = self._table.get(fingerprint(request))
            if hit is not None:
                self.counters.precomputed_hits += 1
                self.counters.exits["precomputed"] += 1
                return hit
            self.counters.precomputed_misses += 1
        return self.evaluate(request)

    def evaluate(self, request: DecisionRequest, *, early_termination: bool | None = None) -> Decision:
        """The slow path (ignores the table); ``early_termination`` defaults to the switch."""
        early = self.early_termination if early_termination is None else early_termination
        return self._evaluate(request, early=early, count=True)

    # -- evaluation --------------------------------------------------------------------------

    def _evaluate(self, request: DecisionRequest, *, early: bool, count: bool) -> Decision:
        key = fingerprint(request) if early else ""
        if early:
            cached = self._cache.get(key)
            if cached is not None:
                return self._finish(cached, count)
        decision = self._run_rules(request, early)
        if early:
            self._cache[key] = replace(decision, source="cached", exit_reason="cached", rules_examined=0)
        return self._finish(decision, count)

    def _finish(self, decision: Decision, count: bool) -> Decision:
        if count:
            self.counters.evaluations += 1
            self.counters.rules_examined += decision.rules_examined
            self.counters.exits[decision.exit_reason] += 1
        return decision

    def _run_rules(self, request: DecisionRequest, early: bool) -> Decision:
        text = normalize(request.command)
        stems = frozenset(stem(t) for t in _TOKEN_RE.findall(text))
        params = request.params
        valid = self._valid_from_params(params)
        examined = 0
        for gate in self._gates:
            if early and len(valid) == 1:
                return self._single(valid, examined)
            examined += 1
            if _rule_quality(gate, stems, text, params) > 0:
                narrowed = valid & gate.rule.allow
                valid = narrowed or valid  # a gate never empties the valid set
        if early and len(valid) == 1:
            return self._single(valid, examined)
        return self._score(valid, stems, text, params, examined, early)

    def _valid_from_params(self, params: Mapping[str, Any]) -> frozenset[str]:
        everyone = frozenset(self.targets)
        agent = params.get("agent")
        if isinstance(agent, str) and agent in self.targets:
            return frozenset({agent})
        required = params.get("requires")
        if isinstance(required, list | tuple) and required:
            need = {str(x) for x in required}
            capable = frozenset(t for t, caps in self.targets.items() if need <= caps)
            return capable or everyone
        return everyone

    def _single(self, valid: frozenset[str], examined: int) -> Decision:
        (only,) = valid
        return Decision(only, 1.0, "evaluated", "single_path", examined, ((only, 0.0),))

    def _score(
        self,
        valid: frozenset[str],
        stems: frozenset[str],
        text: str,
        params: Mapping[str, Any],
        examined: int,
        early: bool,
    ) -> Decision:
        scores = dict.fromkeys(sorted(valid), 0.0)
        remaining = {t: self._target_weight[t] for t in scores}
        # Exit when lead - max(rival score + rival's unexamined weight) > ln(c/(1-c) (n-1)):
        # then the top keeps > c softmax share whatever the rest of the rules say (see _gap).
        conf = self.confidence_threshold
        margin = math.log(conf / (1 - conf) * max(len(scores) - 1, 1))
        top = self._pick(scores)
        deficit, budget = 0.0, 0.0
        for c in self._scoring:
            target = c.rule.target
            if target not in scores:
                continue
            examined += 1
            weight = c.rule.weight
            remaining[target] -= weight
            quality = _rule_quality(c, stems, text, params)
            if quality > 0:
                scores[target] += weight * quality
                if scores[target] > scores[top]:
                    top, budget = target, math.inf  # new leader: recheck now
            if not early:
                continue
            # Passing a rule of weight w raises the gap by at most w, so only recompute the
            # gap once the weight passed since the last check could have closed the deficit.
            budget += weight
            if budget >= deficit:
                gap = _gap(top, scores, remaining, margin)
                if gap > 0:
                    return self._decision(top, scores, "confidence", examined)
                deficit, budget = -gap, 0.0
        return self._decision(self._pick(scores), scores, "full", examined)

    def _pick(self, scores: Mapping[str, float]) -> str:
        best = max(scores.values())
        if self.default_target in scores and scores[self.default_target] == best:
            return self.default_target  # ties (e.g. nothing matched) go to the default target
        return next(t for t, s in scores.items() if s == best)

    def _decision(self, top: str, scores: Mapping[str, float], reason: str, examined: int) -> Decision:
        ranked = tuple(sorted(((t, round(s, 6)) for t, s in scores.items()), key=lambda x: -x[1]))
        return Decision(top, _softmax_share(top, scores), "evaluated", reason, examined, ranked)


# -- the default Mother Box rule set --------------------------------------------------------------

DEFAULT_TARGETS: dict[str, frozenset[str]] = {
    "orchestrator": frozenset({"plan", "coordinate"}),
    "researcher": frozenset({"search", "read"}),
    "designer": frozenset({"design"}),
    "integrator": frozenset({"api", "write_external"}),
    "compliance": frozenset({"audit", "read"}),
    "analyst": frozenset({"data", "read"}),
    "writer": frozenset({"docs"}),
    "qa": frozenset({"test"}),
    "ops": frozenset({"deploy", "monitor"}),
    "support": frozenset({"ticket", "read"}),
}

VOCABULARY: dict[str, tuple[str, ...]] = {
    "orchestrator": ("plan", "coordinate", "schedule", "workflow", "team", "assign", "delegate", "milestone"),
    "researcher": ("research", "investigate", "find", "source", "literature", "market", "competitor", "poll"),
    "designer": ("design", "persona", "mockup", "layout", "prototype", "wireframe", "brand", "journey"),
    "integrator": ("integrate", "api", "webhook", "connector", "sync", "endpoint", "oauth", "schema"),
    "compliance": ("compliance", "regulation", "gdpr", "hipaa", "audit", "policy", "consent", "retention"),
    "analyst": ("analyze", "metric", "dashboard", "trend", "forecast", "kpi", "cohort", "churn"),
    "writer": ("write", "draft", "document", "summary", "blog", "copy", "email", "proposal"),
    "qa": ("test", "bug", "regression", "verify", "validate", "coverage", "failure", "flaky"),
    "ops": ("deploy", "release", "rollback", "monitor", "incident", "alert", "scale", "outage"),
    "support": ("ticket", "customer", "complaint", "refund", "help", "escalate", "account", "password"),
}

_PATTERNS: dict[str, str] = {
    "orchestrator": r"\b\d{4}-\d{2}-\d{2}\b",
    "researcher": r"https?://\S+",
    "designer": r"\b(figma|sketch)\b",
    "integrator": r"\b(get|post|put|delete) /\S+",
    "compliance": r"\barticle \d+\b",
    "analyst": r"\bq[1-4]\b",
    "writer": r"\b\d+ words?\b",
    "qa": r"\b[a-z]+-\d+\b",
    "ops": r"\bv\d+\.\d+(\.\d+)?\b",
    "support": r"\bticket #?\d+\b",
}

_GATES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("deploy", "release", "rollback", "outage"), ("ops", "integrator", "qa")),
    (("gdpr", "hipaa", "regulation", "consent"), ("compliance", "writer")),
    (("refund", "complaint", "password"), ("support",)),
    (("wireframe", "mockup", "persona"), ("designer", "writer")),
    (("kpi", "churn", "cohort", "forecast"), ("analyst",)),
    (("webhook", "oauth", "endpoint"), ("integrator", "ops")),
    (("flaky", "regression", "coverage"), ("qa", "ops")),
    (("literature", "competitor", "poll"), ("researcher", "analyst")),
)


def default_rules(rules_per_target: int = 30, seed: int = 7) -> list[Rule]:
    """A realistic rule set: a few strong rules and many weak ones per target, plus gates."""
    rng = random.Random(seed)
    rules: list[Rule] = []
    names = list(VOCABULARY)
    for target, words in VOCABULARY.items():
        for i in range(rules_per_target):
            rules.append(_make_rule(rng, target, words, names, i))
    for i, (keywords, allow) in enumerate(_GATES):
        gate = Rule(f"gate-{i}", "*", 10.0 - i, frozenset(keywords), kind="gate", allow=frozenset(allow))
        rules.append(gate)
    return rules


def _make_rule(rng: random.Random, target: str, words: tuple[str, ...], names: list[str], i: int) -> Rule:
    strong = i < 3
    weight = rng.uniform(4.0, 8.0) if strong else round(rng.lognormvariate(-1.2, 0.6), 4)
    any_kw = frozenset(rng.sample(words, k=rng.randint(1, 3)))
    all_kw: frozenset[str] = frozenset()
    none_kw: frozenset[str] = frozenset()
    other = VOCABULARY[rng.choice([n for n in names if n != target])]
    if not strong and rng.random() < 0.3:
        all_kw = frozenset({rng.choice(words)})
    if rng.random() < 0.2:
        none_kw = frozenset({rng.choice(other)})
    pattern = _PATTERNS[target] if (strong and i == 0) or rng.random() < 0.15 else None
    params: tuple[tuple[str, str], ...] = ()
    if not strong and rng.random() < 0.1:
        params = (("priority", rng.choice(["p1", "p2", "p3", "p4"])),)
    return Rule(f"{target}-{i}", target, weight, any_kw, all_kw, none_kw, pattern, params)


_FILLER = ("please", "the", "for", "our", "new", "project", "today", "and", "with", "team", "quickly", "next")


def sample_commands(n: int, seed: int = 11, *, mixed: float = 0.3) -> list[DecisionRequest]:
    """Commands like users send: 2-4 words from one target's vocabulary, filler, sometimes a
    word from another target (``mixed`` share), sometimes params."""
    rng = random.Random(seed)
    names = list(VOCABULARY)
    out: list[DecisionRequest] = []
    for _ in range(n):
        target = rng.choice(names)
        words = rng.sample(VOCABULARY[target], k=rng.randint(2, 4))
        if rng.random() < mixed:
            words.append(rng.choice(VOCABULARY[rng.choice(names)]))
        words += rng.sample(_FILLER, k=rng.randint(2, 5))
        rng.shuffle(words)
        params: dict[str, Any] = {}
        if rng.random() < 0.2:
            params["priority"] = rng.choice(["p1", "p2", "p3", "p4"])
        if rng.random() < 0.05:
            params["requires"] = sorted(DEFAULT_TARGETS[target])
        out.append(DecisionRequest(" ".join(words), params))
    return out


def default_engine(**kwargs: Any) -> DecisionEngine:
    """The runtime's engine: default rules, targets and 500 common commands in the table."""
    return DecisionEngine(
        default_rules(),
        DEFAULT_TARGETS,
        common_commands=sample_commands(500),
        default_target="orchestrator",
        **kwargs,
    )
