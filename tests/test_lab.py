"""`make lab`: JupyterLab opens a chapter (book/*.md, MyST) as a notebook, by default, on this .venv's kernel,
and saves it back as the same MyST text. The server runs headless on a loopback port with a token, with the
configuration `make lab` installed into .venv (user-level Jupyter configuration and settings kept out), and is
stopped at the end. It needs the lab extra, which `make test` installs (`make lab` too)."""
from __future__ import annotations

import difflib
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from minibook import HEADER  # the chapters' MyST front matter (pytest puts tests/ on sys.path)
from toyinterp.lab import front_matter, keep_header

REPO = Path(__file__).resolve().parents[1]
JUPYTER = Path(sys.executable).parent / "jupyter"
CHAPTERS = sorted(p for p in (REPO / "book").glob("*.md")
                  if "kernelspec" in ((front_matter(p.read_text()) or ("", None))[1] or {}))


# ---- the pre-save hook, on texts ---------------------------------------------------------------------------

def test_the_header_text_is_kept_when_only_its_key_order_changed():
    body = "\n# A page\n\n```{code-cell} ipython3\nx = 1\n```\n"
    reordered = HEADER.replace("  display_name: Python 3\n  language: python\n  name: python3\n",
                               "  name: python3\n  display_name: Python 3\n  language: python\n")
    assert reordered != HEADER
    assert keep_header(reordered + body + "y\n", HEADER + body) == HEADER + body + "y\n"


def test_a_changed_header_is_saved_as_it_is():
    changed = HEADER.replace("display_name: Python 3", "display_name: Python 3 (ipykernel)")
    assert keep_header(changed + "x\n", HEADER + "x\n") == changed + "x\n"
    assert keep_header("no header\n", HEADER + "x\n") == "no header\n"
    assert keep_header(HEADER + "x\n", "no header\n") == HEADER + "x\n"


def test_the_chapters_are_never_paired_with_notebooks():
    """A `formats` option would write an .ipynb beside each chapter, and Sphinx would read every chapter twice."""
    config = tomllib.loads((REPO / "jupytext.toml").read_text())
    assert not {"formats", "default_jupytext_formats"} & set(config), config
    assert not list((REPO / "book").glob("*.ipynb"))


# ---- the server ----------------------------------------------------------------------------------------------

class Lab:
    def __init__(self, url: str, token: str):
        self.url, self.token = url, token

    def request(self, path: str, body=None, method: str = "GET"):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as response:
            text = response.read().decode()
        return json.loads(text) if response.headers.get_content_type() == "application/json" else text

    def notebook(self, path: str) -> dict:
        model = self.request(f"/api/contents/{path}?type=notebook&content=1")
        assert model["type"] == "notebook" and model["format"] == "json", model["type"]
        return model["content"]

    def save(self, path: str, nb: dict) -> None:
        self.request(f"/api/contents/{path}", {"type": "notebook", "format": "json", "content": nb}, "PUT")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab():
    if importlib.util.find_spec("jupyterlab") is None:
        message = "JupyterLab is not installed: `make lab` (or `make test`) installs the lab extra"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    home = Path(tempfile.mkdtemp(prefix="toyinterp-lab-"))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    port, token = _free_port(), secrets.token_hex(24)
    log = open(home / "server.log", "w")
    server = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO}",
         "--ServerApp.allow_root=True"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    client = Lab(f"http://127.0.0.1:{port}", token)
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited ({server.returncode}):\n{(home / 'server.log').read_text()}")
            try:
                client.request("/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in 180 s:\n{(home / 'server.log').read_text()}")
                time.sleep(0.25)
        yield client
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(home, ignore_errors=True)
    assert server.returncode is not None


def test_lab_opens_markdown_as_a_notebook_by_default(lab):
    schema = lab.request("/lab/api/settings/@jupyterlab/docmanager-extension:plugin")["schema"]
    viewers = schema["properties"].get("defaultViewers", schema)["default"]
    assert viewers.get("markdown") == "Jupytext Notebook", viewers
    page = lab.request("/lab")  # the page config lists the lab extensions JupyterLab loads
    assert '"name": "jupyterlab-jupytext"' in page or '"name":"jupyterlab-jupytext"' in page


def test_the_chapters_kernel_is_this_venvs_python(lab):
    specs = lab.request("/api/kernelspecs")
    names = {(front_matter(p.read_text())[1]["kernelspec"]["name"],
              front_matter(p.read_text())[1]["kernelspec"]["display_name"]) for p in CHAPTERS}
    assert names == {("python3", "Python 3")}, names
    spec = specs["kernelspecs"]["python3"]["spec"]
    assert spec["display_name"] == "Python 3"  # so JupyterLab writes back the chapters' own kernelspec
    exe = spec["argv"][0]
    assert exe in ("python", "python3") or Path(exe).resolve() == Path(sys.executable).resolve(), spec["argv"]


@pytest.mark.parametrize("page", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_a_chapter_opens_as_a_notebook_with_its_parameters_cell_tagged(lab, page):
    nb = lab.notebook(f"book/{page.name}")
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    tagged = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1, f"{page.name}: {len(tagged)} cells tagged parameters"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert not page.with_suffix(".ipynb").exists()


@pytest.fixture
def scratch():
    """A folder inside the repository (so the repository's jupytext.toml applies), ignored by git and the book."""
    folder = REPO / "build" / f"lab-test-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def as_jupyterlab_leaves_it(nb: dict, kernelspec: dict) -> dict:
    """What JupyterLab 4 changes in a notebook it opened, ran and saved without an edit: the kernelspec (its
    values, in its own key order), language_info, and each cell's UI state (property inspector, collapsed
    input and outputs, execution timings)."""
    nb = json.loads(json.dumps(nb))
    nb["metadata"]["kernelspec"] = {"name": kernelspec["name"], "display_name": kernelspec["display_name"],
                                    "language": kernelspec["language"]}
    nb["metadata"]["language_info"] = {"name": "python", "version": sys.version.split()[0],
                                       "pygments_lexer": "ipython3", "file_extension": ".py"}
    for cell in nb["cells"]:
        cell["metadata"].update({"editable": True, "slideshow": {"slide_type": ""}, "deletable": True,
                                 "jupyter": {"source_hidden": False, "outputs_hidden": False}})
        if cell["cell_type"] == "code":
            cell["metadata"].update({"collapsed": False, "scrolled": True, "trusted": True,
                                     "execution": {"iopub.status.busy": "2026-01-01T00:00:00.000Z"}})
    return nb


@pytest.mark.parametrize("page", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_a_chapter_saved_from_lab_is_the_same_myst_text(lab, scratch, page):
    original = page.read_text()
    copy = scratch / page.name
    copy.write_text(original)
    path = copy.relative_to(REPO).as_posix()
    spec = lab.request("/api/kernelspecs")["kernelspecs"]["python3"]["spec"]

    lab.save(path, as_jupyterlab_leaves_it(lab.notebook(path), {"name": "python3", **spec}))
    assert copy.read_text() == original, "".join(difflib.unified_diff(
        original.splitlines(True), copy.read_text().splitlines(True), "chapter", "saved from lab"))

    # an edit shows as that edit alone
    nb = lab.notebook(path)
    first_markdown = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    first_markdown["source"] += "\n\nAn added line."
    lab.save(path, as_jupyterlab_leaves_it(nb, {"name": "python3", **spec}))
    diff = [line for line in difflib.unified_diff(original.splitlines(), copy.read_text().splitlines(),
                                                  lineterm="", n=0)
            if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert all(line.startswith("+") for line in diff) and [line for line in diff if line != "+"] == [
        "+An added line."], diff
    assert not copy.with_suffix(".ipynb").exists()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make chromium)")
def test_jupyterlab_opens_a_chapter_as_a_notebook_on_its_kernel(lab, scratch):
    """The JupyterLab page itself, in headless chromium: a chapter's URL (a copy of it, in case the page saves)
    shows a notebook with the chapter's cells, not a text editor, and starts the kernel python3 for it."""
    import jupytext

    page = CHAPTERS[0]
    copy = scratch / page.name
    copy.write_text(page.read_text())
    path = copy.relative_to(REPO).as_posix()
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # the network closed, but for the server
             "--window-size=1280,900", "--virtual-time-budget=30000",
             "--dump-dom", f"{lab.url}/lab/tree/{path}?token={lab.token}"],
            capture_output=True, text=True, timeout=300).stdout
    cells = jupytext.read(page).cells
    assert "jp-NotebookPanel" in dom, "the chapter did not open as a notebook"
    assert len(re.findall(r'class="lm-Widget jp-Cell jp-CodeCell', dom)) == sum(c.cell_type == "code" for c in cells)
    assert len(re.findall(r'class="lm-Widget jp-Cell jp-MarkdownCell', dom)) == \
        sum(c.cell_type == "markdown" for c in cells)
    sessions = [s for s in lab.request("/api/sessions") if s["path"] == path]
    assert sessions and sessions[0]["kernel"]["name"] == "python3", sessions
