"""Built-in chat templates: general assistants and specialised agent-creation wizards.

A session names one in ``config.template``; the template's config is the starting point and the
session's own config wins key by key. Wizard templates add ``guidance`` (what this kind of agent
usually needs) to the wizard's instructions, and ``custom_parameters`` describe the operator's
choices (e.g. the email provider).
"""

from __future__ import annotations

from typing import Any

from server.services.chat_models import ChatTemplate
from server.services.errors import FieldError

TEMPLATES: tuple[ChatTemplate, ...] = (
    ChatTemplate(
        id="general_assistant",
        name="General assistant",
        description="A helpful assistant for questions, writing and explanations.",
        session_type="general",
        config={
            "system_prompt": "You are a helpful, concise assistant. Use Markdown where it helps.",
            "temperature": 0.7,
        },
    ),
    ChatTemplate(
        id="code_helper",
        name="Code helper",
        description="Writes, reviews and explains code; answers with fenced code blocks.",
        session_type="general",
        config={
            "system_prompt": (
                "You are an expert programmer. Answer with working code in fenced Markdown code "
                "blocks that name their language, then explain briefly."
            ),
            "temperature": 0.2,
        },
    ),
    ChatTemplate(
        id="agent_creation",
        name="Agent creation wizard",
        description="Describe an agent in your own words; the wizard asks what it needs and drafts it.",
        session_type="agent_creation",
        config={"temperature": 0.4},
    ),
    ChatTemplate(
        id="email_processor_template",
        name="Email processor wizard",
        description="Builds an agent that reads a mailbox, sorts and summarises mail and extracts facts.",
        session_type="agent_creation",
        config={
            "temperature": 0.4,
            "guidance": (
                "The operator wants an email processing agent. Find out: which provider and protocol "
                "(Gmail API, IMAP, Microsoft Graph), which folders, how to judge importance, which "
                "categories, what to extract from each mail (sender, subject, urgency, action items), "
                "and where results go. Such agents usually need a data model for processed emails, "
                "a pipeline of fetch → classify → extract → store steps, an email reader tool "
                "(type email_api) and an LLM tool (type llm), and a secret for the mailbox credential."
            ),
            "custom_parameters": {"email_provider": "gmail", "analysis_depth": "standard"},
        },
    ),
    ChatTemplate(
        id="document_summarizer_template",
        name="Document summarizer wizard",
        description="Builds an agent that summarises documents and keeps the summaries.",
        session_type="agent_creation",
        config={
            "temperature": 0.4,
            "guidance": (
                "The operator wants a document summarizer. Find out: which document types and where "
                "they come from, summary length and style, whether key points or entities should be "
                "extracted, and where summaries are stored. Such agents usually have a data model "
                "for documents and summaries, a pipeline of load → chunk → summarize → store, and an "
                "LLM tool (type llm)."
            ),
        },
    ),
)

BY_ID = {template.id: template for template in TEMPLATES}


def resolve(session_type: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` on top of the template it names (unknown names are a 422 naming the known ones)."""
    name = config.get("template")
    if name is None:
        return dict(config)
    template = BY_ID.get(str(name))
    if template is None:
        known = ", ".join(sorted(BY_ID))
        raise FieldError(("config", "template"), f"Unknown template '{name}'. Known templates: {known}")
    if template.session_type != session_type:
        raise FieldError(
            ("config", "template"),
            f"Template '{name}' is for {template.session_type} sessions, not {session_type}",
        )
    return {**template.config, **config}
