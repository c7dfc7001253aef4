"""Builds the POST data a browser would send back from an admin add or change page."""

from typing import Any

from django import forms
from django.test.client import Client as TestClient


def changeform_data(response: Any, changes: dict[str, Any]) -> dict[str, Any]:
    """The page's main form and inline formsets with their current values, then ``changes``
    on top. A change of ``None`` leaves the field out, as an unticked checkbox is left out."""
    page_forms: list[forms.BaseForm] = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        page_forms.append(inline.formset.management_form)
        page_forms.extend(inline.formset.forms)
    data: dict[str, Any] = {}
    for form in page_forms:
        for bound_field in form:
            if not bound_field.field.disabled:
                data.update(_field_data(bound_field))
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def _field_data(bound_field: forms.BoundField) -> dict[str, Any]:
    name, value, widget = bound_field.html_name, bound_field.value(), bound_field.field.widget
    if isinstance(widget, forms.MultiWidget):
        parts = value if isinstance(value, list) else widget.decompress(value)
        return {f"{name}_{index}": _text(part) for index, part in enumerate(parts)}
    if isinstance(widget, forms.CheckboxInput):
        return {name: "on" if value else None}
    if isinstance(value, list | tuple):
        return {name: [_text(item) for item in value]}
    return {name: _text(value)}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def submit_admin_form(client: TestClient, url: str, changes: dict[str, Any]) -> Any:
    """Opens an admin form page, then submits it with ``changes``."""
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    return client.post(url, changeform_data(page, changes))
