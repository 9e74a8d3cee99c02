"""The dialog that registers another Ollama host with the router."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop.background import async_slot
from agentic_desktop.panels.agent_dialogs import _error_label, _show
from server.services.errors import AgenticError, Conflict, FieldError
from server.services.llm.hosts import HOST_ID, normalize_url

if TYPE_CHECKING:
    from server.services.llm import Router

# What the app's model calls say they are for (the router's ``purpose``); none ticked: all of them.
REQUEST_TYPES = (
    ("chat", "Chat"),
    ("task", "Tasks"),
    ("wizard", "Agent wizard"),
    ("openai", "OpenAI-compatible API"),
    ("content", "Content"),
    ("embedding", "Embeddings"),
)


class AddHostDialog(QDialog):
    """Id, URL, limits and request types of a new host; checked as typed, then registered and probed."""

    added = Signal(object)  # the new host's HostView

    def __init__(self, router: Router, parent: QWidget | None) -> None:
        super().__init__(parent)
        self._router = router
        self._taken_ids = {view.id for view in router.views()}
        self._taken_urls = {view.url: view.id for view in router.views()}
        self.setWindowTitle("Add Ollama host")
        self.setMinimumWidth(520)

        self.host_id = QLineEdit()
        self.host_id.setPlaceholderText("e.g. gpu-box-2")
        self.host_id.setMaxLength(64)
        self.id_error = _error_label()
        self.url = QLineEdit()
        self.url.setPlaceholderText("http://gpu-box-2:11434")
        self.url_error = _error_label()
        self.max_concurrent = QSpinBox()
        self.max_concurrent.setRange(1, 1024)
        self.max_concurrent.setValue(4)
        self.max_concurrent.setToolTip(
            "Calls the router sends it at once; more wait in the queue or go to another host. "
            "Match Ollama's OLLAMA_NUM_PARALLEL on that box."
        )
        self.weight = QDoubleSpinBox()
        self.weight.setRange(0.1, 100.0)
        self.weight.setSingleStep(0.5)
        self.weight.setDecimals(1)
        self.weight.setValue(1.0)
        self.weight.setToolTip(
            "Relative share of the load: 2 takes about twice what a host of weight 1 takes"
        )
        for spin in (self.max_concurrent, self.weight):
            spin.setMaximumWidth(120)
        self.request_types: dict[str, QCheckBox] = {}
        types = QGridLayout()
        types.setContentsMargins(0, 0, 0, 0)
        for number, (key, label) in enumerate(REQUEST_TYPES):
            box = QCheckBox(label)
            self.request_types[key] = box
            types.addWidget(box, number // 3, number % 3)
        types_hint = QLabel("None ticked: the host takes every kind of call.")
        types_hint.setObjectName("cardDetail")
        self.agentic_url = QLineEdit()
        self.agentic_url.setPlaceholderText("optional, e.g. http://gpu-box-2:8000")
        self.agentic_url.setToolTip("An agentic-server on the same box: its CPU and GPU figures")
        self.agentic_url_error = _error_label()
        self.agentic_token = QLineEdit()
        self.agentic_token.setEchoMode(QLineEdit.EchoMode.Password)
        self.agentic_token.setPlaceholderText("its API key (stored encrypted, never shown again)")
        self.form_error = _error_label()

        form = QFormLayout()
        form.addRow("Id", self.host_id)
        form.addRow("", self.id_error)
        form.addRow("Ollama URL", self.url)
        form.addRow("", self.url_error)
        form.addRow("Max concurrent", self.max_concurrent)
        form.addRow("Weight", self.weight)
        form.addRow("Request types", types)
        form.addRow("", types_hint)
        form.addRow("agentic-server", self.agentic_url)
        form.addRow("", self.agentic_url_error)
        form.addRow("Its token", self.agentic_token)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = self.buttons.addButton("Add and probe", QDialogButtonBox.ButtonRole.AcceptRole)
        self.add_button.setObjectName("primary")
        self.buttons.accepted.connect(self.on_add_clicked)
        self.buttons.rejected.connect(self.reject)
        self.progress = QLabel()
        self.progress.setObjectName("cardDetail")
        self.progress.hide()

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.form_error)
        layout.addWidget(self.progress)
        layout.addWidget(self.buttons)

        self._touched: set[str] = set()
        for field, edit in (("id", self.host_id), ("url", self.url), ("agentic", self.agentic_url)):
            edit.textEdited.connect(lambda _text, field=field: self._touch(field))
        self.agentic_token.textEdited.connect(lambda _text: self.validate())
        self.validate()
        self.host_id.setFocus()

    def _touch(self, field: str) -> None:
        self._touched.add(field)
        self.validate()

    def request_type_values(self) -> list[str]:
        return [key for key, box in self.request_types.items() if box.isChecked()]

    @Slot()
    def validate(self, *, everything: bool = False) -> bool:
        """Check the fields as the router will; complaints show once a field was typed in."""
        host_id = self.host_id.text().strip()
        if not host_id:
            id_problem = "Give the host an id, e.g. gpu-box-2"
        elif not HOST_ID.match(host_id):
            id_problem = "Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        elif host_id in self._taken_ids:
            id_problem = f"A host with the id '{host_id}' is already registered"
        else:
            id_problem = ""
        url_problem = ""
        url = self.url.text().strip()
        if not url:
            url_problem = "Give the URL where its Ollama answers, e.g. http://gpu-box-2:11434"
        else:
            try:
                normalized = normalize_url(url)
            except FieldError as exc:
                url_problem = str(exc)
            else:
                if normalized in self._taken_urls:
                    url_problem = f"{normalized} is already registered as '{self._taken_urls[normalized]}'"
        agentic_problem = ""
        if self.agentic_url.text().strip():
            try:
                normalize_url(self.agentic_url.text(), "agentic_url")
            except FieldError as exc:
                agentic_problem = str(exc)
        elif self.agentic_token.text():
            agentic_problem = "A token without the agentic-server's URL is of no use: give the URL too"
        shown = self._touched | ({"id", "url", "agentic"} if everything else set())
        _show(self.id_error, id_problem if "id" in shown else "")
        _show(self.url_error, url_problem if "url" in shown else "")
        _show(
            self.agentic_url_error,
            agentic_problem if ("agentic" in shown or self.agentic_token.text()) else "",
        )
        ok = not (id_problem or url_problem or agentic_problem)
        self.add_button.setEnabled(ok)
        return ok

    @async_slot()
    async def on_add_clicked(self) -> None:
        """Register and probe the host; a refusal is shown here and the dialog stays open."""
        if not self.validate(everything=True):
            return
        self.add_button.setEnabled(False)
        _show(self.form_error, "")
        url = self.url.text().strip()
        self.progress.setText(f"Registering and probing {url}…")
        self.progress.show()
        try:
            view = await self._router.add_host(
                self.host_id.text().strip(),
                url,
                supported_request_types=self.request_type_values(),
                max_concurrent_requests=self.max_concurrent.value(),
                weight=self.weight.value(),
                agentic_url=self.agentic_url.text().strip() or None,
                agentic_token=self.agentic_token.text() or None,
            )
        except (FieldError, Conflict) as exc:
            self._refused(str(exc), getattr(exc, "field", ()))
            return
        except AgenticError as exc:
            self._refused(f"Could not add the host: {exc}", ())
            return
        finally:
            self.progress.hide()
        self.added.emit(view)
        self.accept()

    def _refused(self, text: str, field: tuple[str | int, ...]) -> None:
        target = {"id": self.id_error, "url": self.url_error, "agentic_url": self.agentic_url_error}.get(
            str(field[0]) if field else "", self.form_error
        )
        _show(target, text)
        self.add_button.setEnabled(True)
