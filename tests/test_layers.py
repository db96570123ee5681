"""The layer contracts (pyproject.toml [tool.importlinter], importlinter-frameworks.toml) hold on
the tree, and each kind of wrong import breaks them: the check runs lint-imports on a copy of
the project's packages with one import planted, so a loosened contract shows up here."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ("pyproject.toml", "importlinter-frameworks.toml")
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def lint_imports(cwd: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    # lint-imports puts its working directory first on sys.path, so a copy is analysed as is.
    only = [f"--contract={contract}" for contract in contracts]
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        [LINT_IMPORTS, "--no-cache", "--no-logo", *only, *CONFIGS],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_project(dest: Path) -> None:
    packages = set()
    for name in CONFIGS:
        options = tomllib.loads((ROOT / name).read_text())["tool"]["importlinter"]
        packages.update(options["root_packages"])
    for package in packages:
        if (ROOT / package).is_dir():  # django and rest_framework come from the venv
            shutil.copytree(
                ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__")
            )
    for name in CONFIGS:
        shutil.copy(ROOT / name, dest / name)


def test_the_tree_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("path", "planted", "contract", "reported"),
    [
        pytest.param(
            "conversions/services.py",
            "import mcp_gateway.protocol",
            "domain-no-interfaces",
            "conversions.services -> mcp_gateway.protocol",
            id="domain-service-imports-mcp-gateway",
        ),
        pytest.param(
            "conversions/rollups.py",
            "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import rest_api.base",
            "domain-no-interfaces",
            "conversions.rollups -> rest_api.base",
            id="type-only-import-counts",
        ),
        pytest.param(
            "core/errors.py",
            "import offers.models",
            "core-leaf",
            "core.errors -> offers.models",
            id="core-imports-an-app",
        ),
        pytest.param(
            "audit/services.py",
            "import brands.models",
            "audit-leaf",
            "audit.services -> brands.models",
            id="audit-imports-an-app",
        ),
        pytest.param(
            "brands/services.py",
            "import offers.models",
            "layers",
            "brands.services -> offers.models",
            id="domain-imports-upward",
        ),
        pytest.param(
            "mailer/services.py",
            "import partners.models",
            "layers",
            "mailer.services -> partners.models",
            id="mailer-imports-a-domain-app",
        ),
        pytest.param(
            "operations/declaration.py",
            "import rest_api.base",
            "layers",
            "operations.declaration -> rest_api.base",
            id="operations-imports-an-interface",
        ),
        pytest.param(
            "conversions/portal.py",
            "import partner_portal.access",
            "domain-no-interfaces",
            "conversions.portal -> partner_portal.access",
            id="domain-imports-the-partner-portal",
        ),
        pytest.param(
            "offers/services.py",
            "import offers.admin",
            "app-interfaces",
            "offers.services -> offers.admin",
            id="service-imports-its-admin",
        ),
        pytest.param(
            "conversions/stats.py",
            "from rest_framework.views import APIView",
            "domain-no-framework-interfaces",
            "conversions.stats -> rest_framework.views",
            id="domain-imports-drf-views",
        ),
        pytest.param(
            "partners/selectors.py",
            "from django.contrib import admin",
            "domain-no-framework-interfaces",
            "partners.selectors -> django.contrib.admin",
            id="domain-imports-django-admin",
        ),
        pytest.param(
            "mcp_gateway/jsonrpc.py",
            "from django.http import JsonResponse",
            "mcp-protocol-framework-free",
            "mcp_gateway.jsonrpc -> django.http",
            id="mcp-protocol-imports-django",
        ),
    ],
)
def test_a_wrong_import_breaks_its_contract(tmp_path, path, planted, contract, reported):
    copy_project(tmp_path)
    assert lint_imports(tmp_path, contract).returncode == 0  # the copy keeps it before
    target = tmp_path / path
    target.write_text(target.read_text() + "\n" + planted + "  # planted\n")

    result = lint_imports(tmp_path, contract)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout, result.stdout
    assert reported in result.stdout, result.stdout
