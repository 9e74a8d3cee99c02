"""Hosts: the Ollama hosts the router sends model calls to, their state and load; add, test, remove.

Everything shown comes from the router's in-memory state (``views()``, ``stats()``: no I/O), so a
refresh is cheap; it runs every few seconds only while the panel is on screen, and on the bus's
host-state events. Test and F5 probe hosts over the network, in the background.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from html import escape
from typing import TYPE_CHECKING, Any

import httpx
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop import background, dialogs
from agentic_desktop.background import async_slot
from agentic_desktop.panels.host_dialogs import AddHostDialog
from agentic_desktop.panels.hosts_table import (
    BREAKER_TEXT,
    HOST_ROLE,
    REASON,
    STATE_COLOURS,
    HostsTableModel,
    latency_text,
    weight_text,
)
from agentic_desktop.panels.models_table import human_size
from agentic_desktop.panels.security_table import short_when
from agentic_desktop.remote_metrics import get_metrics, refusal
from agentic_desktop.widgets.card import Card
from agentic_desktop.widgets.header import PanelHeader
from agentic_desktop.widgets.list_table import row_table
from server.services.errors import AgenticError, NotFound

if TYPE_CHECKING:
    import asyncio

    from PySide6.QtGui import QHideEvent, QShowEvent

    from agentic_desktop.bridge import BusBridge
    from server.backend import Backend
    from server.events import HostStateChanged, RoutingDecision
    from server.services.host_directory import HostView

REFRESH_MS = 2000  # while on screen: in-flight counts and latencies move with every call
DECISIONS_KEPT = 20  # per host, for the details area
BOX_EVERY_S = 5.0  # how often the selected host's agentic-server is asked for its CPU/GPU figures
BOX_TIMEOUT_S = 4.0


class HostsPanel(QWidget):
    """Table of hosts with a load-balancer summary above and the selected host's details below."""

    def __init__(self, backend: Backend, bridge: BusBridge) -> None:
        super().__init__()
        self._backend = backend
        self._decisions: dict[str, deque[RoutingDecision]] = defaultdict(lambda: deque(maxlen=DECISIONS_KEPT))
        self._probing: asyncio.Task[None] | None = None
        self._dialog: AddHostDialog | None = None
        self._busy = False
        self._details_html = ""
        self._box: dict[str, str] = {}  # host id -> its agentic-server's figures (or why there are none)
        self._box_at: dict[str, float] = {}
        self._box_task: asyncio.Task[None] | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 16)
        layout.setSpacing(10)
        layout.addWidget(
            PanelHeader(
                "Hosts",
                "The Ollama hosts every model call is routed to: a loaded model first, then the "
                "least busy host, then the fastest. A host that fails is skipped until it recovers.",
            )
        )
        layout.addLayout(self._build_cards())
        layout.addLayout(self._build_toolbar())
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_table())
        self.details = QTextBrowser()
        self.details.setObjectName("hostDetails")
        self.details.setOpenLinks(False)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([200, 240])
        layout.addWidget(splitter, 1)
        self.message = QLabel()
        self.message.setObjectName("hostsMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        layout.addWidget(self.message)

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)

        QShortcut(
            QKeySequence.StandardKey.New,
            self,
            self.on_add_clicked,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        QShortcut(
            QKeySequence(Qt.Key.Key_F5),
            self,
            self.on_probe_all_clicked,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        QShortcut(
            QKeySequence(QKeySequence.StandardKey.Delete),
            self.table,
            self.on_remove_clicked,
            context=Qt.ShortcutContext.WidgetShortcut,
        )
        bridge.host_state_changed.connect(self.on_host_state_changed)
        bridge.routing_decision.connect(self.on_routing_decision)
        self.refresh()

    # -- building --

    def _build_cards(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(10)
        self.hosts_card = Card("Hosts")
        self.requests_card = Card("Requests routed")
        self.failovers_card = Card("Failovers")
        self.queue_card = Card("Waiting")
        self.failures_card = Card("Failed")
        for card in (
            self.hosts_card,
            self.requests_card,
            self.failovers_card,
            self.queue_card,
            self.failures_card,
        ):
            row.addWidget(card, 1)
        return row

    def _build_toolbar(self) -> QHBoxLayout:
        self.add_button = QPushButton("Add host…")
        self.add_button.setObjectName("primary")
        self.add_button.setToolTip("Register another Ollama host (Ctrl+N)")
        self.add_button.clicked.connect(self.on_add_clicked)
        self.test_button = QPushButton("Test")
        self.test_button.setToolTip("Probe the selected host now: version, installed and loaded models")
        self.test_button.clicked.connect(self.on_test_clicked)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setToolTip("Stop routing to the selected host (Del)")
        self.remove_button.clicked.connect(self.on_remove_clicked)
        self.probe_button = QPushButton("Probe all")
        self.probe_button.setToolTip("Probe every host now (F5)")
        self.probe_button.clicked.connect(self.on_probe_all_clicked)
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(self.add_button)
        row.addStretch(1)
        row.addWidget(self.test_button)
        row.addWidget(self.probe_button)
        row.addWidget(self.remove_button)
        return row

    def _build_table(self) -> QTableView:
        self.model = HostsTableModel()
        # wrap: a down host's reason is long, its row grows rather than hide it
        self.table = row_table(self.model, "hostsTable", wrap=True)
        self.table.setShowGrid(False)
        self.table.setCornerButtonEnabled(False)
        self.table.setMinimumHeight(110)
        self.table.verticalHeader().setMinimumSectionSize(32)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(REASON, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self.on_selection_changed)
        self.model.modelReset.connect(self._update_buttons)
        return self.table

    # -- what tests and the window use --

    def selected_host(self) -> HostView | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(HOST_ROLE) if rows else None

    def select_host(self, host_id: str) -> bool:
        row = self.model.row_of(host_id)
        if row is None:
            return False
        self.table.selectRow(row)
        return True

    def view_of(self, host_id: str) -> HostView | None:
        row = self.model.row_of(host_id)
        return None if row is None else self.model.host_at(row)

    async def confirm(self, title: str, text: str) -> bool:
        """Ask before removing (tests answer for the operator)."""
        return await dialogs.confirm(self, title, text, yes_text="Remove")

    # -- showing --

    @Slot()
    def refresh(self) -> None:
        """Show the router's state now (in memory: no I/O, no await)."""
        router = self._backend.router
        selected = self.selected_host()
        views = router.views()
        self.model.show_hosts(views)
        if selected is not None:
            self.select_host(selected.id)
        if self.model.rowCount() and self.selected_host() is None:
            self.table.selectRow(0)
        self._show_stats(router.stats(), views)
        self._show_details()
        self._maybe_fetch_box()

    def _show_stats(self, stats: dict[str, Any], views: list[HostView]) -> None:
        total, healthy = int(stats["total_backends"]), int(stats["healthy_backends"])
        down = sum(1 for view in views if view.state == "down")
        state = "ok" if healthy == total else ("bad" if down == total else None)
        self.hosts_card.set_value(f"{healthy} of {total}", state)
        self.hosts_card.set_detail(f"healthy · {down} down" if down else "healthy")
        requests = int(stats["total_requests"])
        self.requests_card.set_value(f"{requests:,}")
        self.requests_card.set_detail(f"{int(stats['successful_requests']):,} succeeded")
        failovers = int(stats["failovers"])
        self.failovers_card.set_value(f"{failovers:,}")
        self.failovers_card.set_detail("calls moved on")
        self.failovers_card.setToolTip("Calls a host failed before the first token, retried on another host")
        queue = stats["queue"]
        waited, refused = int(stats["queued_requests"]), int(stats["rejected_requests"])
        self.queue_card.set_value(f"{queue['length']}")
        self.queue_card.set_detail(f"{refused:,} refused")
        self.queue_card.setToolTip(
            f"Calls waiting for a free host now (the queue holds {queue['limit']}); {waited:,} have waited "
            f"so far, {refused:,} were refused with 429 (queue full, or waited too long)"
        )
        failed = int(stats["failed_requests"])
        self.failures_card.set_value(f"{failed:,}", "bad" if failed else None)
        latency = stats["decision_latency"]
        self.failures_card.set_detail(f"routing p99 {latency['p99_us']:g} µs" if latency["samples"] else "")

    def _show_details(self) -> None:
        view = self.selected_host()
        if view is None:
            self._details_html = ""
            self.details.setHtml("<p style='color:#5b6478'>Select a host to see its details.</p>")
            return
        colour = STATE_COLOURS.get(view.state, "#8a93a6")
        lines = [
            f"<p><b style='font-size:12pt'>{escape(view.id)}</b> &nbsp;<span style='color:#5b6478'>"
            f"{escape(view.url)} · Ollama {escape(view.version or 'version unknown')}</span></p>",
            f"<p><b style='color:{colour}'>{escape(view.state.capitalize())}</b>: {escape(view.reason)}</p>",
        ]
        breaker = BREAKER_TEXT.get(view.breaker, view.breaker).lower()
        if view.breaker == "open":
            breaker_text = (
                f"{breaker}: calls go elsewhere; after the cool-down a probe or call tries it again"
            )
        elif view.breaker == "half_open":
            breaker_text = f"{breaker}: one trial call is checking whether it is back"
        else:
            breaker_text = f"{breaker} (calls pass)"
        types = ", ".join(view.supported_request_types) or "every kind of call"
        lines.append(
            f"<p>Circuit breaker: {escape(breaker_text)}.<br>"
            f"In flight {view.in_flight} of {view.max_concurrent} · weight {weight_text(view.weight)} · "
            f"latency {latency_text(view.latency_ms)} · takes {escape(types)}</p>"
        )
        if view.state == "down":
            lines.append(
                "<p style='color:#5b6478'>What it had when it last answered: "
                + (", ".join(escape(name) for name in view.loaded) or "nothing")
                + " loaded.</p>"
            )
        elif view.loaded:
            lines.append(
                f"<p><b>Loaded</b> ({human_size(view.vram_used) if view.vram_used else 'no'} VRAM): "
                + ", ".join(escape(name) for name in view.loaded)
                + "</p>"
            )
        else:
            lines.append("<p><b>Loaded</b>: none (the first call on a model loads it)</p>")
        agentic = self._agentic_url(view.id)
        if agentic is not None:
            figures = self._box.get(view.id, "asking…")
            lines.append(f"<p><b>Box</b> (agentic-server at {escape(agentic)}): {figures}</p>")
        installed = ", ".join(escape(name) for name in view.models) or "none listed"
        lines.append(f"<p><b>Installed</b> ({len(view.models)}): {installed}</p>")
        decisions = self._decisions.get(view.id)
        if decisions:
            items = "".join(_decision_item(event) for event in reversed(decisions))
            lines.append(f"<p><b>Recent routing decisions</b></p><ul style='margin-left:-20px'>{items}</ul>")
        else:
            lines.append(
                "<p style='color:#5b6478'>No routing decision for this host seen yet "
                "(retries, switches and every tenth call are reported).</p>"
            )
        html = "".join(lines)
        if html == self._details_html:
            return  # the 2 s refresh must not reset a selection in the text or cost a relayout
        self._details_html = html
        scroll = self.details.verticalScrollBar().value()
        self.details.setHtml(html)
        self.details.verticalScrollBar().setValue(scroll)

    # -- the box's CPU/GPU figures, from an agentic-server on it --

    def _agentic_url(self, host_id: str) -> str | None:
        spec = next((spec for spec in self._backend.router.specs() if spec.id == host_id), None)
        return spec.agentic_url if spec is not None else None

    def _maybe_fetch_box(self) -> None:
        """Ask the selected host's agentic-server for its figures, at most every few seconds."""
        view = self.selected_host()
        if view is None or self._agentic_url(view.id) is None or not self.isVisible():
            return
        if self._box_task is not None and not self._box_task.done():
            return
        if time.monotonic() - self._box_at.get(view.id, -BOX_EVERY_S) < BOX_EVERY_S:
            return
        self._box_at[view.id] = time.monotonic()
        self._box_task = background.start(self.fetch_box(view.id), name="hosts-box-metrics")

    async def fetch_box(self, host_id: str) -> None:
        """``GET /api/v1/system/metrics`` of the host's agentic-server (async httpx: the loop runs on)."""
        try:
            found = await self._backend.router.agentic_server(host_id)
        except AgenticError as exc:
            self._box[host_id] = escape(str(exc))
            return
        if found is None:
            return
        url, token = found
        try:
            reply = await get_metrics(url, token, timeout_s=BOX_TIMEOUT_S)
        except httpx.HTTPError as exc:
            text = (
                f"<span style='color:#d64545'>not reachable: {escape(str(exc) or type(exc).__name__)}</span>"
            )
        else:
            text = _box_figures(reply)
        self._box[host_id] = text
        selected = self.selected_host()
        if selected is not None and selected.id == host_id:
            self._show_details()

    def _say(self, text: str, state: str | None = None) -> None:
        self.message.setText(text)
        self.message.setProperty("state", state or "")
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.setVisible(bool(text))

    @Slot()
    def _update_buttons(self) -> None:
        view = self.selected_host()
        self.test_button.setEnabled(view is not None and not self._busy)
        removable = view is not None and view.id != self._default_id()
        self.remove_button.setEnabled(removable and not self._busy)
        self.remove_button.setToolTip(
            "Stop routing to the selected host (Del)"
            if view is None or removable
            else "The host from the settings (OLLAMA_HOST) stays: change it in Settings instead"
        )

    def _default_id(self) -> str:
        specs = self._backend.router.specs()
        return next((spec.id for spec in specs if spec.builtin), "default")

    # -- live updates --

    def showEvent(self, event: QShowEvent) -> None:
        """Catch up and follow the router while on screen."""
        super().showEvent(event)
        self.refresh()
        self.timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        """Hidden: no periodic work (the idle window stays cheap)."""
        super().hideEvent(event)
        self.timer.stop()

    @Slot(object)
    def on_host_state_changed(self, _event: HostStateChanged) -> None:
        """A host came, went, or changed state: show it now if on screen (``showEvent`` catches up)."""
        if self.isVisible():
            self.refresh()

    @Slot(object)
    def on_routing_decision(self, event: RoutingDecision) -> None:
        """Keep the host's recent decisions for the details area."""
        if event.host_id is None:
            return
        self._decisions[event.host_id].append(event)
        selected = self.selected_host()
        if self.isVisible() and selected is not None and selected.id == event.host_id:
            self._show_details()

    @Slot()
    def on_selection_changed(self) -> None:
        self._update_buttons()
        self._show_details()

    # -- actions --

    @Slot()
    def on_add_clicked(self) -> None:
        """Open the Add host dialog (Ctrl+N)."""
        if self._dialog is not None and self._dialog.isVisible():
            self._dialog.raise_()
            return
        dialog = AddHostDialog(self._backend.router, self)
        dialog.added.connect(self._on_added)
        dialog.finished.connect(dialog.deleteLater)
        self._dialog = dialog
        dialog.open()

    @Slot(object)
    def _on_added(self, view: HostView) -> None:
        self.refresh()
        self.select_host(view.id)
        models = len(view.models)
        state = "ok" if view.state == "healthy" else "bad"
        self._say(
            f"Added {view.id} ({view.url}): {view.state}, {models} model{'s' if models != 1 else ''}"
            f" — {view.reason}",
            state,
        )

    @async_slot()
    async def on_test_clicked(self) -> None:
        """Probe the selected host now and say what it answered."""
        view = self.selected_host()
        if view is None or self._busy:
            return
        self._set_busy(True)
        self._say(f"Probing {view.id} at {view.url}…")
        try:
            found = await self._backend.router.test_host(view.id)
        except NotFound:
            self._say(f"{view.id} is no longer registered.", "bad")
        except AgenticError as exc:
            self._say(f"Could not probe {view.id}: {exc}", "bad")
        else:
            if found.state == "down":
                self._say(f"{found.id} is down: {found.reason}", "bad")
            else:
                version = f"Ollama {found.version}" if found.version else "Ollama"
                self._say(
                    f"{found.id} answered ({version}): {found.state}, {len(found.models)} installed, "
                    f"{len(found.loaded)} loaded — {found.reason}",
                    "ok" if found.state == "healthy" else None,
                )
        finally:
            self._set_busy(False)
            self.refresh()

    @Slot()
    def on_probe_all_clicked(self) -> None:
        """Probe every host now (F5)."""
        self._probing = background.restart(self._probing, self._probe_all(), name="hosts-probe")

    async def _probe_all(self) -> None:
        self.probe_button.setEnabled(False)
        try:
            await self._backend.router.probe()
        except AgenticError as exc:
            self._say(f"Could not probe the hosts: {exc}", "bad")
        finally:
            self.probe_button.setEnabled(True)
            self.refresh()

    @async_slot()
    async def on_remove_clicked(self) -> None:
        """Ask, then stop routing to the selected host (Remove…, or Delete in the table)."""
        view = self.selected_host()
        if view is None or self._busy or view.id == self._default_id():
            return
        running = (
            f"The {view.in_flight} call{'s' if view.in_flight != 1 else ''} running on it now finish there; "
            if view.in_flight
            else "No call is running on it now; "
        )
        question = (
            f"Remove the host {view.id} ({view.url})?\n\n"
            f"{running}new calls go to the other hosts. Its models stay installed on that box, "
            "and you can add it again later."
        )
        if not await self.confirm("Remove host", question):
            return
        self._set_busy(True)
        try:
            await self._backend.router.remove_host(view.id)
        except NotFound:
            self._say(f"{view.id} was already removed.")
        except AgenticError as exc:
            self._say(f"Could not remove {view.id}: {exc}", "bad")
        else:
            self._decisions.pop(view.id, None)
            self._say(f"Removed {view.id}; new calls go to the other hosts.", "ok")
        finally:
            self._set_busy(False)
            self.refresh()

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._update_buttons()


def _decision_item(event: RoutingDecision) -> str:
    """One routing decision as a list item: when, which model, what for, and the router's reason."""
    extra = [escape(event.purpose)]
    if event.attempt > 1:
        extra.append(f"retry {event.attempt}")
    if event.queued_s:
        extra.append(f"waited {event.queued_s:.2f} s")
    return (
        f"<li>{short_when(event.at)} · {escape(event.model or 'any model')} "
        f"({', '.join(extra)}): {escape(event.reason)}</li>"
    )


def _box_figures(reply: httpx.Response) -> str:
    """CPU, memory and each GPU from an agentic-server's metrics, or what its answer said instead."""
    why = refusal(reply)
    if why is not None:
        return f"<span style='color:#d64545'>{why}</span>"
    try:
        sample = reply.json()
        parts = [
            f"CPU {sample['cpu']['usage_percent']:.0f}%",
            f"memory {sample['memory']['used_gb']:.1f} of {sample['memory']['total_gb']:.1f} GB",
        ]
        for gpu in sample.get("gpu") or []:
            busy = gpu["utilization"].get("gpu_percent")
            used, total = gpu["memory"].get("used_mb"), gpu["memory"].get("total_mb")
            memory = f", {used / 1024:.1f} of {total / 1024:.1f} GB" if used is not None and total else ""
            load = f" {busy:.0f}%" if busy is not None else ""
            parts.append(f"GPU {gpu['index']} {escape(gpu['name'])}{load}{memory}")
        if not sample.get("gpu"):
            parts.append("no NVIDIA GPU reported")
    except (ValueError, KeyError, TypeError):
        return "<span style='color:#d64545'>its answer is not agentic-server metrics</span>"
    return " · ".join(parts)
