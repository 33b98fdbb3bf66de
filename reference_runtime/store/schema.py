"""Tables (SQLAlchemy Core). Times are epoch seconds (REAL); JSON columns hold orjson text."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text

metadata = MetaData()

projects = Table(
    "projects",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("domain", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("phase", String(40), nullable=False),
    Column("requirements", Text, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

agents = Table(
    "agents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(36), nullable=False),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("personality", Text, nullable=False),
    Column("capabilities", Text, nullable=False),
    Column("commands", Text, nullable=False),
    Column("quality_score", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_active", Float, nullable=True),
)

executions = Table(
    "executions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("type", String(10), nullable=False),
    Column("project_id", String(36), nullable=False),
    Column("agent_id", String(64), nullable=True),
    Column("workflow_id", String(64), nullable=True),
    Column("command", Text, nullable=True),
    Column("payload", Text, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("status", String(12), nullable=False),
    Column("progress", Integer, nullable=False),
    Column("result", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("owner", String(40), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("start_time", Float, nullable=True),
    Column("end_time", Float, nullable=True),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("agent_id", String(64), nullable=False),
    Column("message_type", String(20), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("timestamp", Float, nullable=False),
    Column("execution_id", String(40), nullable=True),
    Column("body", Text, nullable=False),
)

workflows = Table(
    "workflows",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(36), nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("trigger", Text, nullable=True),
    Column("steps", Text, nullable=False),
    Column("parallel", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_executed", Float, nullable=True),
    Column("execution_count", Integer, nullable=False),
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("project_id", String(36), nullable=False),
    Column("item_id", Text, nullable=False),
    Column("from_agent", String(64), nullable=False),
    Column("to_agent", String(64), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("context", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False),
    Column("event", String(40), nullable=False),
    Column("entity", String(20), nullable=False),
    Column("entity_id", Text, nullable=False),
    Column("data", Text, nullable=False),
)


def _tier_copy(source: Table, name: str) -> Table:
    """Same columns, no autoincrement: archived rows keep their original ids."""
    cols = [
        Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable, autoincrement=False)
        for c in source.columns
    ]
    return Table(name, metadata, *cols)


#: Warm tier (7-30 days): rows moved out of the hot tables by the archival job.
messages_warm = _tier_copy(messages, "messages_warm")
executions_warm = _tier_copy(executions, "executions_warm")

#: The guide's required indexes, plus supporting ones for the read paths; created only when the
#: ``indexes`` switch is on (off = no secondary indexes, dropped if an earlier run made them).
#: Kept as DDL specs rather than ``Index`` objects so ``create_all`` does not make them implicitly.
GUIDE_INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ix_messages_agent_ts", "messages", ("agent_id", "timestamp")),
    ("ix_executions_workflow_status", "executions", ("workflow_id", "status")),
    ("ix_messages_type_priority", "messages", ("message_type", "priority")),
    ("ix_agents_project", "agents", ("project_id",)),
    ("ix_executions_status", "executions", ("status",)),
    ("ix_workflows_project", "workflows", ("project_id",)),
    ("ix_handoffs_item", "handoffs", ("project_id", "item_id")),
)

# -- webhooks (reference_runtime/webhooks/) ------------------------------------------------------
#: Subscriptions made through ``POST /v1/admin/webhooks`` (the config file's are not stored).
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("events", Text, nullable=False),  # JSON array of event names
    Column("created_at", Float, nullable=False),
)

#: The outbox: one row per (subscription, event), inserted in the transaction of the status change
#: that caused it; deleted once delivered, kept as ``dead`` after the last failed attempt.
webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # delivery order per project
    Column("event_id", String(36), nullable=False),
    Column("subscription_id", String(40), nullable=False),
    Column("project_id", String(36), nullable=False),
    Column("event", String(40), nullable=False),
    Column("body", Text, nullable=False),  # the exact JSON bytes that are signed and sent
    Column("status", String(10), nullable=False),  # pending | dead
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
