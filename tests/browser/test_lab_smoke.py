"""The browser harness itself: a notebook runs, renders a widget, and saves its outputs."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .labdriver import LabServer, NotebookPage, output_texts

pytestmark = pytest.mark.browser


def test_run_all_renders_output_and_widget_and_saves(
    lab: LabServer, notebook: NotebookPage
) -> None:
    lab.write_notebook(
        "smoke.ipynb",
        [
            "print(6*7)",
            "import ipywidgets\nipywidgets.IntSlider(value=3, min=0, max=9, description='n')",
        ],
    )
    notebook.open("smoke.ipynb")
    notebook.run_all()

    expect(notebook.outputs(0)).to_contain_text("42")
    slider = notebook.outputs(1).locator(".widget-slider")
    expect(slider).to_be_visible()
    expect(slider.locator(".widget-readout")).to_have_text("3")

    notebook.save()
    saved = notebook.read()
    assert output_texts(saved, 0).strip() == "42"
    views = [
        out["data"]["application/vnd.jupyter.widget-view+json"]
        for out in saved.cells[1]["outputs"]
        if "application/vnd.jupyter.widget-view+json" in out.get("data", {})
    ]
    assert len(views) == 1
    assert views[0]["model_id"]
