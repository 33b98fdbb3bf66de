"""Agents: team definitions, live registry, mailboxes and the per-agent worker."""

from .mailbox import Mailbox, MailboxFull
from .registry import AgentState, Registry, Work

__all__ = ["AgentState", "Mailbox", "MailboxFull", "Registry", "Work"]
