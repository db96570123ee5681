"""README.md and docs/ checked against the code, where a machine can check them.

A doc that names a setting, a command or option, a file, a module, a model field, an endpoint,
an error code or an MCP tool must name one that exists; every environment variable that
settings.py reads must be documented somewhere. Prose (what a worker does, why a design was
chosen) is checked by reading; these tests catch what drifts silently when code moves.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

from django.apps import apps
from django.core.management import get_commands, load_command_class
from django.urls import Resolver404, resolve
from rest_framework import exceptions as drf_exceptions

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SETTINGS = ROOT / "trcker_site" / "settings.py"
PACKAGES = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").exists())
# Project source, without tests and migrations: where code reads the environment and names
# its error codes.
SOURCE_DIRS = [name for name in PACKAGES if name != "tests"]


def doc_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def all_docs_text() -> str:
    return "\n".join(doc_text(path) for path in DOCS)


def backticked(text: str) -> Iterator[str]:
    yield from re.findall(r"`([^`\n]+)`", text)


def source_files(*dirs: str) -> Iterator[Path]:
    for name in dirs:
        for path in (ROOT / name).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


# os.environ["X"], os.environ.get("X", …), env_bool("X"), env_list("X", …), and
# dj_database_url's env="X": the ways settings.py (and the test/bench harness) read a variable.
ENV_READ = re.compile(
    r"""(?:os\.environ(?:\.get)?\s*[\[(]|env_bool\(|env_list\(|\benv=)\s*["']([A-Z][A-Z0-9_]*)["']"""
)


def environment_names(paths: list[Path]) -> set[str]:
    return {name for path in paths for name in ENV_READ.findall(path.read_text())}


# --- settings -------------------------------------------------------------------------------


def test_every_trcker_setting_the_docs_name_is_read_by_the_code():
    # What settings.py reads from the environment or defines, plus the variables the test
    # harness and benchmarks read themselves (TRCKER_LOAD_SECONDS, …). A `$NAME` is a shell
    # variable in an example, not a setting.
    harness = [*source_files("tests", "bench"), ROOT / "Makefile", ROOT / "scripts/run-local.sh"]
    known = environment_names([SETTINGS, *harness]) | set(
        re.findall(r"^(TRCKER_[A-Z0-9_]+)\s*=", SETTINGS.read_text(), re.MULTILINE)
    )
    unknown = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in DOCS
        for name in re.findall(r"(?<![$\w])(TRCKER_[A-Z0-9_]+)", doc_text(path))
        if name not in known
    }
    assert sorted(unknown) == []


def test_every_environment_variable_settings_reads_is_documented():
    # Constants such as TRCKER_PAGE_SIZE are not configuration: only what the environment sets.
    text = all_docs_text()
    undocumented = [
        name
        for name in sorted(environment_names([SETTINGS]))
        if not re.search(rf"(?<![A-Z0-9_]){name}(?![A-Z0-9_])", text)
    ]
    assert undocumented == []


# --- commands -------------------------------------------------------------------------------


def _command_options(name: str) -> set[str]:
    parser = load_command_class(get_commands()[name], name).create_parser("manage.py", name)
    return {option for action in parser._actions for option in action.option_strings}


def test_every_manage_py_command_and_option_in_the_docs_exists():
    commands = get_commands()
    problems = []
    for path in DOCS:
        for line in doc_text(path).splitlines():
            # `manage.py NAME --option …` up to a comment, a closing backtick or the line's end.
            for name, rest in re.findall(r"manage\.py\s+([a-z_]+)([^`#\n]*)", line):
                where = f"{path.relative_to(ROOT)}: manage.py {name}"
                if name not in commands:
                    problems.append(f"{where}: no such command")
                    continue
                options = _command_options(name)
                problems += [
                    f"{where}: no option {option}"
                    for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest)
                    if option not in options
                ]
    assert problems == []


# --- files, modules, links ------------------------------------------------------------------

# Paths that exist only at run time, are generated, or belong to an MCP client's machine.
NOT_IN_THE_REPOSITORY = ("var/", "bench/results/", ".venv/", "artifacts/", ".vscode/")
SOURCE_SUFFIXES = (".py", ".md", ".sh", ".toml", ".mjs", ".html", ".txt", ".js")
MCP_METHOD = r"(tools|prompts|resources|server|notifications)/[a-zA-Z]+"


def _looks_like_repo_path(token: str) -> bool:
    if token.startswith(("/", "~", "http", *NOT_IN_THE_REPOSITORY)) or "/" not in token:
        return False  # an absolute or URL path, a generated one, or a bare (ambiguous) name
    if any(char in token for char in " <>{}*…$:?=") or re.fullmatch(MCP_METHOD, token):
        return False  # a pattern, a placeholder, or a JSON-RPC method such as tools/list
    if token.endswith(SOURCE_SUFFIXES):
        return True
    # A directory. One under a Python package (`conversions/pending/`) is more often an API
    # route written without its leading slash, so only the other top-level folders count.
    first = token.split("/", 1)[0]
    return (ROOT / first).is_dir() and first not in SOURCE_DIRS


def test_every_repository_path_in_the_docs_exists():
    missing = [
        f"{path.relative_to(ROOT)}: {token}"
        for path in DOCS
        for token in backticked(doc_text(path))
        if _looks_like_repo_path(token)
        and not (ROOT / token).exists()
        and not (path.parent / token).exists()
    ]
    assert missing == []


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    if len(parts) == 2 and re.fullmatch(r"\d{4}", parts[1]):  # a migration, e.g. offers.0003
        return any((ROOT / parts[0] / "migrations").glob(f"{parts[1]}_*.py"))
    if len(parts) == 2 and parts[1][:1].isupper():  # a model label, e.g. mcp_gateway.Spent…
        try:
            apps.get_model(dotted)
        except LookupError:
            pass
        else:
            return True
    for split in range(len(parts), 0, -1):
        module_name = ".".join(parts[:split])
        try:
            found = importlib.util.find_spec(module_name)
        except ModuleNotFoundError:  # a name inside a module, not a module
            found = None
        if found is None:
            continue
        target: object = importlib.import_module(module_name)
        for attribute in parts[split:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def test_every_module_and_object_the_docs_name_exists():
    # `core.client_ip`, `conversions.fraud.apply_velocity`, `offers.0003`: dotted names that
    # start with one of the project's packages. Check ids (audit.W001) are names of checks.
    missing = [
        f"{path.relative_to(ROOT)}: {token}"
        for path in DOCS
        for token in backticked(doc_text(path))
        if re.fullmatch(r"[a-z_]+(\.\w+)+", token)
        and not token.endswith(SOURCE_SUFFIXES)
        and token.split(".", 1)[0] in PACKAGES
        and not re.search(r"\.[WE]\d{3}$", token)
        and not _resolves(token)
    ]
    assert missing == []


def _heading_anchors(path: Path) -> set[str]:
    # GitHub's anchors: lower case, punctuation dropped, spaces to hyphens.
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", doc_text(path), re.MULTILINE):
        plain = heading.replace("`", "").strip().lower()
        anchors.add(re.sub(r"[^\w\- ]", "", plain).replace(" ", "-"))
    return anchors


def test_every_link_between_the_docs_reaches_a_file_and_heading():
    broken = []
    for path in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc_text(path)):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part) if file_part else path
            if not linked.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target} (no file)")
            elif anchor and linked.suffix == ".md" and anchor not in _heading_anchors(linked):
                broken.append(f"{path.relative_to(ROOT)}: {target} (no heading)")
    assert broken == []


# --- the data model -------------------------------------------------------------------------

# Names the APIs give a column, written beside it in data-model.md ("`slug` (= `offer_id`)").
API_ALIASES = {"offer_id", "partner_id"}


def _data_model_rows() -> dict[tuple[str, str], str]:
    rows, section = {}, None
    for line in doc_text(ROOT / "docs" / "data-model.md").splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        match = re.match(r"\| `(\w+)` \| (.*?) \| .* \|$", line)
        if match and section:
            rows[(section, match.group(1))] = match.group(2)
    return rows


def test_data_model_has_a_row_for_every_model_and_names_only_real_fields():
    rows = _data_model_rows()
    project_models = [
        model
        for model in apps.get_models()
        if model._meta.app_label in SOURCE_DIRS and not model._meta.proxy
    ]
    missing_rows = [
        model._meta.label
        for model in project_models
        if (model._meta.app_label, model.__name__) not in rows
    ]
    assert missing_rows == []
    unknown_fields = []
    for (app_label, model_name), fields in rows.items():
        model = apps.get_model(app_label, model_name)
        names = {f.name for f in model._meta.get_fields()} | {
            f.attname for f in model._meta.concrete_fields
        }
        unknown_fields += [
            f"{model_name}.{name}"
            for name in re.findall(r"`([a-z][a-z0-9_]*)`", fields)
            if name not in names and name not in API_ALIASES
        ]
    assert unknown_fields == []


# --- REST endpoints and error codes ---------------------------------------------------------


def _documented_endpoints() -> Iterator[tuple[str, str, set[str]]]:
    """(row, path, methods) for each path of docs/api.md's endpoint table. A row may list
    several paths with ``·``; a one-segment one (`/resume/`) replaces the last segment of the
    path before it."""
    table = doc_text(ROOT / "docs" / "api.md").split("## Endpoints", 1)[1]
    for row in re.findall(r"^\| ([A-Z, ]+) \| (.+?) \| .* \|$", table, re.MULTILINE):
        methods = {method.strip() for method in row[0].split(",")}
        previous = None
        for path in re.findall(r"`(/[^`]*)`", row[1]):
            path = path.split("?", 1)[0]
            if previous and path.count("/") == 2:
                path = previous.rsplit("/", 2)[0] + path
            previous = path
            yield row[1], re.sub(r"\{\w+\}", "1", path), methods


def test_every_documented_endpoint_is_routed_and_takes_its_methods(client):
    problems = []
    for row, path, methods in _documented_endpoints():
        url = "/api/v1" + path
        try:
            resolve(url)
        except Resolver404:
            problems.append(f"{url}: not routed ({row})")
            continue
        # DRF lists a view's methods in Allow, on the 401 an anonymous OPTIONS gets too.
        allowed = {m.strip() for m in client.options(url).get("Allow", "").split(",")}
        if not methods <= allowed:
            problems.append(f"{url}: documented {sorted(methods)}, allows {sorted(allowed)}")
    assert problems == []


def _code_literals() -> set[str]:
    literals = set()
    for path in source_files(*SOURCE_DIRS):
        literals |= set(re.findall(r"""["']([a-z][a-z0-9_]+)["']""", path.read_text()))
    # The codes DRF's own exceptions carry, which the REST renderer passes through.
    for name in dir(drf_exceptions):
        default_code = getattr(getattr(drf_exceptions, name), "default_code", None)
        if isinstance(default_code, str):
            literals.add(default_code)
    return literals


def _table_codes(doc: str, heading: str) -> set[str]:
    section = re.split(r"^#+ ", doc_text(ROOT / "docs" / doc).split(heading, 1)[1], flags=re.M)[0]
    codes = set()
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) > 3 and re.fullmatch(r"\s*\d{3}\s*", cells[1]):
            codes |= set(re.findall(r"`([a-z][a-z0-9_]+)`", cells[2]))
    return codes


def test_every_documented_error_code_is_one_the_code_can_answer():
    codes = _table_codes("api.md", "## Errors") | _table_codes("tracking.md", "### Answers")
    assert len(codes) > 20, "the error tables of api.md or tracking.md were not found"
    assert sorted(codes - _code_literals()) == []


# --- the MCP tool reference -----------------------------------------------------------------


def test_the_mcp_tool_reference_is_what_the_registry_renders():
    # docs/mcp.md's "## Tools" is generated: run scripts/render_mcp_tool_docs.py after changing
    # a tool's name, title, description, arguments, scope or hints.
    spec = importlib.util.spec_from_file_location(
        "render_mcp_tool_docs", ROOT / "scripts" / "render_mcp_tool_docs.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    written = doc_text(ROOT / "docs" / "mcp.md").split(script.MARKER, 1)[1]
    reference = "### " + written.split("\n### ", 1)[1]
    stale = "docs/mcp.md's tool reference is stale: run scripts/render_mcp_tool_docs.py"
    assert reference.rstrip() == script.render().rstrip(), stale
