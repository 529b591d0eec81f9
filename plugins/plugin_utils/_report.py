# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet audit reports on report.json documents: build one, render it as JSON, JUnit XML or HTML.

Internal to arcguard.azcmagent: not a public API, may change without notice.

The verdicts live in ``_report_model`` (dataclasses) and the drawing in ``_report_render``; this module keeps
the document-level entry points: ``build`` returns report.json as a dict, and each ``to_*`` takes such a
dict (or a ``Report``).
"""

from __future__ import annotations

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _report_model as model
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _report_render as render
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._report_model import (  # noqa: F401 pylint: disable=unused-import
    FINDING_DISAGREE, FINDING_NOT_IN_AZURE, FINDING_NOT_IN_INVENTORY, FINDING_UNREACHABLE, lifecycle_findings)
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._report_render import safe, safe_text  # noqa: F401 pylint: disable=unused-import


def build(hosts, profile=None, generated=None, azure=None):
    """report.json as a dict: {"summary", "hosts", ["not_in_inventory"]} for {name: (profile, info, check)}
    (see ``_report_model.build``)."""
    return model.build(hosts, profile=profile, generated=generated, azure=azure).as_dict()


def _model(report):
    return report if isinstance(report, model.Report) else model.from_dict(report)


def to_json(report):
    return render.render(_model(report), ["json"])[0]["json"]


def to_junit(report):
    return render.render(_model(report), ["xml"])[0]["xml"]


def to_html(report):
    return render.render(_model(report), ["html"])[0]["html"]
