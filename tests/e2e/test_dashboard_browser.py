"""The dashboard in a real headless Chromium (Debian's, driven by Playwright) against ``pykube server`` with
its Docker agent and the real kubectl: log in with the URL `pykube dashboard` prints, watch pods appear as
a Deployment scales, follow a log, type into a terminal, scale, edit and delete from the page, and see
every change through kubectl.

Screenshots of the main pages go to a directory the test prints; with PYKUBE_UPDATE_SCREENSHOTS=1 they
are also copied to docs/screenshots/, where the README shows them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_helpers import busybox_pod, create, pod_obj, wait_running
from kubectl_helpers import Kubectl
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from support import BUSYBOX_IMAGE, ensure_docker, fake_node_flags

from minikube_py.agent.runtime.pause import PAUSE_IMAGE
from minikube_py.testing import RunningServer, remove_node_containers, start_server
from minikube_py.testing import eventually as wait_for

NODE = "pykube-e2e-dashboard"
FAKE_NODE = "pykube-e2e-dashboard-fake"
HISTORY = "/pykube/metrics/v1"
CHROMIUM = "/usr/bin/chromium"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with its Docker agent; no service proxy (these tests need none, and a kernel proxy's
    rules would be shared with other clusters on this host)."""
    ensure_docker()
    remove_node_containers(NODE)
    running = start_server(
        tmp_path_factory.mktemp("dashboard") / "data",
        "--node-name",
        NODE,
        "--node-ip",
        "127.0.0.1",
        "--cluster-cidr",
        "10.237.0.0/16",
        "--kubelet-port",
        "0",
        "--proxy-mode",
        "none",
        agent=True,
    )
    running.node_network = False
    try:
        wait_for(
            lambda: (
                running.kubectl(
                    "get", "node", NODE, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False
                ).stdout
                == "True"
            ),
            f"node {NODE} to be Ready",
            timeout=90,
        )
        yield running
    finally:
        running.stop()
        remove_node_containers(NODE)


@pytest.fixture(scope="module")
def fake_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose node runs the fake runtime, whose simulated usage pods pin with FAKE_CPU and
    FAKE_MEMORY (no Docker, no host networking: nothing to clean up beyond the server)."""
    running = start_server(tmp_path_factory.mktemp("dashboard-fake") / "data", *fake_node_flags(FAKE_NODE), agent=True)
    running.node_network = False
    try:
        wait_for(
            lambda: (
                running.kubectl(
                    "get",
                    "node",
                    FAKE_NODE,
                    "-o",
                    "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                    check=False,
                ).stdout
                == "True"
            ),
            f"node {FAKE_NODE} to be Ready",
            timeout=90,
        )
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert os.path.exists(CHROMIUM), "Debian's chromium must be installed (scripts/install.sh does it)"
    # a page's first load on a busy 2-core host may take seconds: no assertion here is about speed
    expect.set_options(timeout=20000)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    where = tmp_path_factory.mktemp("dashboard-screenshots")
    print(f"\ndashboard screenshots: {where}")
    yield where
    if os.environ.get("PYKUBE_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in where.glob("*.png"):
            shutil.copy(shot, DOCS_SCREENSHOTS / shot.name)


def login_url(cluster: RunningServer) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "minikube_py.cli.main", "dashboard", "--kubeconfig", str(cluster.kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    url = done.stdout.strip()
    assert re.fullmatch(re.escape(cluster.url) + r"/dashboard/\?code=[\w-]+", url), url
    return url


@pytest.fixture(scope="module")
def logged_in(cluster: RunningServer, browser: Browser) -> Iterator[BrowserContext]:
    """A browser context (its own cookie jar) logged in with the printed URL. The browser does not know
    the cluster's CA, as a user's would not at first."""
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    goto(page, login_url(cluster))
    assert page.url == cluster.url + "/dashboard/"
    expect(page.locator("#whoami")).to_have_text("admin")
    page.close()
    yield context
    context.close()


@pytest.fixture
def k(cluster: RunningServer, request: pytest.FixtureRequest) -> Iterator[Kubectl]:
    name = "d-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-") + f"-{os.urandom(2).hex()}"
    cluster.kubectl("create", "namespace", name)
    yield Kubectl(cluster, name)
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def open_page(context: BrowserContext, cluster: RunningServer, route: str, namespace: str = "") -> Page:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # (error pages have no localStorage: the script runs there too when a navigation is cut off)
    page.add_init_script(f"try {{ localStorage.setItem('pykube.namespace', {json.dumps(namespace)}) }} catch {{}}")
    page.on(
        "console",
        lambda message: errors.append(f"console {message.type}: {message.text}") if message.type == "error" else None,
    )
    goto(page, f"{cluster.url}/dashboard/#/{route}")
    try:
        expect(page.locator("#namespace")).to_have_value(namespace)
    except AssertionError as exc:
        shown = page.locator("main").inner_text() + " | " + page.locator("#notice").inner_text()
        raise AssertionError(f"{exc}\nthe page showed: {shown!r}; console and errors: {errors}") from None
    assert not [e for e in errors if not e.startswith("console")], f"the page raised: {errors}"
    return page


def goto(page: Page, url: str) -> None:
    """Chromium aborts what is loading when the host's network interfaces change (other clusters' pods
    start and stop on this host); the page then reloads itself, but the very first request has no page
    to do that yet."""
    for attempt in range(5):
        try:
            page.goto(url)
            return
        except PlaywrightError as exc:
            if 'interrupted by another navigation to "https://' in str(exc):
                page.wait_for_load_state()  # the login's redirect, reported as a second navigation
                return
            cut_off = "ERR_NETWORK_CHANGED" in str(exc) or "chrome-error://" in str(exc)
            if not cut_off or attempt == 4:
                raise


def deployment(name: str, replicas: int, script: str = "exec sleep 3600") -> dict[str, object]:
    pod = busybox_pod("x", script)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod["spec"]},
        },
    }


def pod_rows(page: Page, app: str) -> list[str]:
    return page.locator(f"#pods-table tbody tr[data-key*='/{app}-']").all_inner_texts()


def test_the_printed_url_logs_in_once(cluster: RunningServer, browser: Browser) -> None:
    url = login_url(cluster)
    context = browser.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        goto(page, url)
        expect(page.locator("#whoami")).to_have_text("admin")
        cookie = next(c for c in context.cookies() if c["name"] == "pykube-dashboard")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == "", "scripts cannot read the session"
        expect(page.locator("#pod-phases .card")).to_have_count(5)
        expect(page.locator("#nodes-table tbody tr", has_text=NODE)).to_contain_text("Ready")
    finally:
        context.close()
    used = browser.new_context(ignore_https_errors=True)
    try:
        answer = used.request.get(url, max_redirects=0)  # the context's own cookie jar
        assert answer.status == 401, "the code was used: a second browser gets nothing"
        assert not used.cookies()
        page = used.new_page()
        goto(page, f"{cluster.url}/dashboard/#/pods")  # the page's reads go out before it knows: they fail quietly
        expect(page.locator("#main h1")).to_have_text("Not logged in")
        page.wait_for_timeout(500)  # not a timing assertion: lets a late answer try to draw over the hint
        expect(page.locator("#main h1")).to_have_text("Not logged in")
        assert page.locator("#pods-table").count() == 0
    finally:
        used.close()


def test_pods_appear_live_as_a_deployment_scales(
    cluster: RunningServer, logged_in: BrowserContext, k: Kubectl, screenshots: Path
) -> None:
    create(k, deployment("web", 1))
    page = open_page(logged_in, cluster, "pods", k.namespace)
    wait_for(lambda: len(pod_rows(page, "web")) == 1 and "Running" in pod_rows(page, "web")[0], "one running pod row")
    lists: list[str] = []  # from now on: the rows were listed once, the rest must come by watch
    page.on(
        "request",
        lambda r: lists.append(r.url) if "/api/v1/" in r.url and "/pods" in r.url and "watch=" not in r.url else None,
    )
    page.evaluate("window.stillTheSamePage = true")

    k.run("scale", "deployment", "web", "--replicas=3")
    wait_for(
        lambda: len(rows := pod_rows(page, "web")) == 3 and all("Running" in r for r in rows),
        "three running pod rows",
        timeout=90,
    )
    assert page.evaluate("window.stillTheSamePage") is True, "the rows came without a reload"
    assert lists == [], f"the page listed pods again instead of watching: {lists}"
    page.locator("#nav a[data-page=overview]").click()
    expect(page.locator("#pod-phases [data-phase=Running] .n")).to_have_text("3")
    page.screenshot(path=screenshots / "overview.png", full_page=True)
    page.go_back()
    expect(page.locator("#pods-table tbody tr")).to_have_count(3)
    page.screenshot(path=screenshots / "pods.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 760})
    page.screenshot(path=screenshots / "pods-phone.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page fits a phone's width"
    page.close()


def test_a_followed_log_shows_what_the_container_prints_later(
    cluster: RunningServer, logged_in: BrowserContext, k: Kubectl, screenshots: Path
) -> None:
    pod = busybox_pod(
        "talker",
        "echo started; while [ ! -f /tmp/go ]; do sleep 0.2; done; echo printed-after-the-page-opened; exec sleep 3600",
        volumes=[{"name": "data", "emptyDir": {}}],
    )
    # a second container that fails once: its previous log is the first run's
    pod["spec"]["containers"].append(
        {
            "name": "side",
            "image": pod["spec"]["containers"][0]["image"],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "command": [
                "sh",
                "-c",
                "if [ -f /data/once ]; then echo second-run; exec sleep 3600; fi; "
                "touch /data/once; echo first-run; exit 1",
            ],
        }
    )
    create(k, pod)

    def both_running_after_one_failure() -> bool:
        statuses = {c["name"]: c for c in pod_obj(k, "talker")["status"].get("containerStatuses") or []}
        side, main = statuses.get("side", {}), statuses.get("main", {})
        return (
            side.get("restartCount", 0) >= 1
            and "running" in side.get("state", {})
            and "running" in main.get("state", {})
        )

    wait_for(both_running_after_one_failure, "the side container running again after its first run", timeout=120)
    page = open_page(logged_in, cluster, f"pods/{k.namespace}/talker/logs", k.namespace)
    log = page.locator("#log-output")
    expect(log).to_contain_text("started")
    expect(log).not_to_contain_text("printed-after")
    k.run("exec", "talker", "-c", "main", "--", "touch", "/tmp/go")
    expect(log).to_contain_text("printed-after-the-page-opened", timeout=30000)
    page.screenshot(path=screenshots / "logs.png", full_page=True)

    page.locator("#container").select_option("side")
    expect(log).to_contain_text("second-run")
    expect(log).not_to_contain_text("started")
    page.locator("#log-previous").check()
    expect(log).to_contain_text("first-run")
    expect(log).not_to_contain_text("second-run")
    page.close()


def test_a_command_typed_in_the_terminal_runs_in_the_container(
    cluster: RunningServer, logged_in: BrowserContext, k: Kubectl, screenshots: Path
) -> None:
    create(k, busybox_pod("shell", "exec sleep 3600"))
    wait_running(k, "shell")
    page = open_page(logged_in, cluster, f"pods/{k.namespace}/shell/terminal", k.namespace)
    expect(page.locator("#exec-state")).to_contain_text("connected")
    page.locator("#terminal .xterm").click()
    page.keyboard.type("echo the-answer-is-$((6*7)) > /tmp/out; cat /tmp/out\n")
    expect(page.locator("#terminal .xterm-rows")).to_contain_text("the-answer-is-42", timeout=20000)
    assert k.out("exec", "shell", "--", "cat", "/tmp/out").strip() == "the-answer-is-42"
    page.screenshot(path=screenshots / "terminal.png", full_page=True)
    page.close()


def test_scale_edit_and_delete_from_the_page(
    cluster: RunningServer, logged_in: BrowserContext, k: Kubectl, screenshots: Path
) -> None:
    create(k, deployment("api", 1))
    page = open_page(logged_in, cluster, "workloads", k.namespace)
    row = page.locator("#deployments-table tbody tr[data-key$='/api']")
    expect(row).to_be_visible()
    row.locator("input.replicas").fill("2")
    row.locator("button.scale").click()
    wait_for(lambda: k.out("get", "deployment", "api", "-o", "jsonpath={.spec.replicas}") == "2", "replicas 2")
    wait_for(lambda: k.out("get", "deployment", "api", "-o", "jsonpath={.status.readyReplicas}") == "2", "2 ready")
    page.reload()
    expect(page.locator("#deployments-table tbody tr[data-key$='/api']")).to_contain_text("2/2")
    for plural in ("replicasets", "replicationcontrollers", "daemonsets", "statefulsets", "jobs"):
        expect(page.locator(f"#{plural}-table tbody")).not_to_contain_text("Loading")
    page.screenshot(path=screenshots / "workloads.png", full_page=True)

    page.locator("#deployments-table tbody tr[data-key$='/api'] button.restart").click()
    wait_for(
        lambda: k.out(
            "get",
            "deployment",
            "api",
            "-o",
            "jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}",
        ),
        "the restartedAt annotation",
    )

    page.locator("#deployments-table tbody tr[data-key$='/api'] td:first-child a").click()
    page.locator("#yaml-edit").click()
    text = page.locator("#yaml-text")
    text.fill(text.input_value().replace("  name: api\n", "  name: api\n  labels:\n    tier: backend\n", 1))
    page.locator("#yaml-apply").click()
    outcome = wait_for(
        lambda: (
            "applied" if page.locator("#yaml-view").count() else "".join(page.locator("#yaml-error").all_inner_texts())
        ),
        "the apply's outcome",
    )
    assert outcome == "applied", outcome
    expect(page.locator("#yaml-view")).to_contain_text("tier: backend")
    labels = json.loads(k.out("get", "deployment", "api", "-o", "jsonpath={.metadata.labels}") or "{}")
    assert labels.get("tier") == "backend"
    managers = json.loads(k.out("get", "deployment", "api", "-o", "json", "--show-managed-fields"))
    assert any(
        m["manager"] == "pykube-dashboard" and m["operation"] == "Apply" for m in managers["metadata"]["managedFields"]
    )
    expect(page.locator("#events-table")).to_contain_text("ScalingReplicaSet")
    page.screenshot(path=screenshots / "yaml.png", full_page=True)

    goto(page, f"{cluster.url}/dashboard/#/workloads")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#deployments-table tbody tr[data-key$='/api'] button.delete").click()
    wait_for(lambda: "NotFound" in k.run("get", "deployment", "api", check=False).stderr, "the deployment deleted")
    page.close()


def history_rows(page: Page) -> dict[str, str]:
    """The history table's rows by revision number."""
    rows = page.locator("#history-table tbody tr[data-key]")
    return {rows.nth(i).get_attribute("data-key") or "": rows.nth(i).inner_text() for i in range(rows.count())}


def kubectl_history(k: Kubectl, resource: str) -> dict[str, str]:
    """`kubectl rollout history`'s rows by revision number (after its title and header lines)."""
    rows = [line.split(None, 1) for line in k.lines("rollout", "history", resource)]
    return {row[0]: row[1] if len(row) > 1 else "" for row in rows if row and row[0].isdigit()}


def change_image(k: Kubectl, resource: str, image: str, cause: str) -> None:
    """An image change recorded with its change-cause, as `kubectl set image --record` once did."""
    patch = {
        "metadata": {"annotations": {"kubernetes.io/change-cause": cause}},
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}},
    }
    k.run("patch", resource, "--type=strategic", "-p", json.dumps(patch))


def test_a_deployments_image_change_is_undone_from_its_history(
    cluster: RunningServer, logged_in: BrowserContext, k: Kubectl, screenshots: Path
) -> None:
    web = deployment("web", 1)
    web["metadata"]["annotations"] = {"kubernetes.io/change-cause": "first release"}
    create(k, web)
    wait_for(lambda: k.out("get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}") == "1", "1 ready")
    change_image(k, "deployment/web", PAUSE_IMAGE, "a bad image")  # pause has no sh: the new pod fails
    wait_for(lambda: kubectl_history(k, "deployment/web").get("2") == "a bad image", "revision 2 in kubectl's history")

    page = open_page(logged_in, cluster, "workloads", k.namespace)
    page.locator("#deployments-table tbody tr[data-key$='/web'] a.history").click()
    wait_for(lambda: set(history_rows(page)) == {"1", "2"}, "revisions 1 and 2 on the page")
    rows = history_rows(page)
    assert "first release" in rows["1"] and BUSYBOX_IMAGE in rows["1"] and "Undo to 1" in rows["1"]
    assert "a bad image" in rows["2"] and PAUSE_IMAGE in rows["2"] and "current" in rows["2"]

    page.locator("#history-table tbody tr[data-key='1'] button.undo").click()
    wait_for(
        lambda: (
            k.out("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
            == BUSYBOX_IMAGE
        ),
        "the first image back in the Deployment",
    )
    restored = k.json("get", "deployment", "web")
    assert restored["metadata"]["annotations"]["kubernetes.io/change-cause"] == "first release"
    assert restored["spec"]["template"]["metadata"]["labels"] == {"app": "web"}, "no pod-template-hash label"
    wait_for(
        lambda: kubectl_history(k, "deployment/web") == {"2": "a bad image", "3": "first release"},
        "the first release as revision 3 in kubectl's history",
    )
    # the page follows: the first template is now revision 3, the current one; 2 can be undone to
    wait_for(
        lambda: set(history_rows(page)) == {"2", "3"} and "current" in history_rows(page)["3"], "revisions 2 and 3"
    )
    assert "Undo to 2" in history_rows(page)["2"]
    wait_for(
        lambda: (
            k.out("get", "deployment", "web", "-o", "jsonpath={.status.updatedReplicas}/{.status.readyReplicas}")
            == "1/1"
        ),
        "the restored pod ready",
    )
    page.screenshot(path=screenshots / "history.png", full_page=True)
    page.close()


@pytest.mark.parametrize("kind", ["DaemonSet", "StatefulSet"])
def test_a_controller_revision_is_restored_from_the_page(
    cluster: RunningServer, logged_in: BrowserContext, k: Kubectl, kind: str
) -> None:
    name = kind.lower()
    template = deployment(name, 1)["spec"]["template"]
    spec: dict[str, object] = {"selector": {"matchLabels": {"app": name}}, "template": template}
    if kind == "StatefulSet":
        spec.update(replicas=1, serviceName=name)
    create(k, {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec})
    wait_for(lambda: k.out("get", "controllerrevisions", "-o", "name"), "the first revision")
    change_image(k, f"{name}/{name}", PAUSE_IMAGE, "a bad image")
    wait_for(lambda: len(k.lines("get", "controllerrevisions", "-o", "name")) == 2, "the second revision")

    page = open_page(logged_in, cluster, "workloads", k.namespace)
    page.locator(f"#{name}s-table tbody tr[data-key$='/{name}'] a.history").click()
    wait_for(lambda: set(history_rows(page)) == {"1", "2"}, "revisions 1 and 2 on the page")
    assert PAUSE_IMAGE in history_rows(page)["2"] and "current" in history_rows(page)["2"]
    page.locator("#history-table tbody tr[data-key='1'] button.undo").click()
    wait_for(
        lambda: k.out("get", name, name, "-o", "jsonpath={.spec.template.spec.containers[0].image}") == BUSYBOX_IMAGE,
        f"the first image back in the {kind}",
    )
    # the controller renumbers the restored template's revision as the newest, as kubectl sees it
    wait_for(lambda: set(kubectl_history(k, f"{name}/{name}")) == {"2", "3"}, "revisions 2 and 3 in kubectl's history")
    wait_for(
        lambda: set(history_rows(page)) == {"2", "3"} and BUSYBOX_IMAGE in history_rows(page)["3"],
        "the page's revisions 2 and 3",
    )
    page.close()


def test_the_page_loads_through_a_network_that_blinks(cluster: RunningServer, logged_in: BrowserContext) -> None:
    """What Chromium does when the host's interfaces change (pods starting and stopping): requests in
    flight fail with ERR_NETWORK_CHANGED. Here the entry module, the shell and the session fail a few
    times each; the page still comes up whole."""
    failures = {"app.js": 3, "shell.js": 3, "session": 2}

    def blink(route: Route) -> None:
        name = next((n for n in failures if route.request.url.split("?")[0].endswith(n)), None)
        if name is not None and failures[name] > 0:
            failures[name] -= 1
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page = logged_in.new_page()
    page.route("**/dashboard/**", blink)
    goto(page, f"{cluster.url}/dashboard/#/overview")
    expect(page.locator("#whoami")).to_have_text("admin")
    expect(page.locator("#pod-phases .card")).to_have_count(5)
    assert failures == {"app.js": 0, "shell.js": 0, "session": 0}
    page.close()


def test_a_saved_namespace_that_is_gone_falls_back_to_all(cluster: RunningServer, logged_in: BrowserContext) -> None:
    # the page is drawn for the saved namespace before the namespace list comes, then again for all
    page = logged_in.new_page()
    page.add_init_script("try { localStorage.setItem('pykube.namespace', 'd-gone-namespace') } catch {}")
    goto(page, f"{cluster.url}/dashboard/#/pods")
    expect(page.locator("#namespace")).to_have_value("")
    expect(page.locator("#pods-table th", has_text="Namespace")).to_have_count(1)
    expect(page.locator("h1")).to_have_text("Pods")
    page.close()


def test_the_cookie_alone_cannot_write(cluster: RunningServer, logged_in: BrowserContext, k: Kubectl) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "forged"}}
    url = f"{cluster.url}/api/v1/namespaces/{k.namespace}/configmaps"
    # the browser's cookie jar, a POST with no CSRF header: what a cross-site form would send
    answer = logged_in.request.post(url, data=json.dumps(cm), headers={"Content-Type": "application/json"})
    assert answer.status == 403
    page = open_page(logged_in, cluster, "overview", k.namespace)
    status = page.evaluate(
        """async ([url, body]) => (await fetch(url, {method: "POST", body,
        headers: {"Content-Type": "application/json"}})).status""",
        [url, json.dumps(cm)],
    )
    assert status == 403, "even the page's own origin needs the header"
    assert k.out("get", "configmaps", "-o", "name").split() == ["configmap/kube-root-ca.crt"]  # no forged one
    page.close()


def test_services_show_endpoints_and_node_ports(
    cluster: RunningServer, logged_in: BrowserContext, k: Kubectl, screenshots: Path
) -> None:
    create(k, deployment("shop", 1))
    k.run("expose", "deployment", "shop", "--port=80", "--type=NodePort")
    node_port = k.out("get", "service", "shop", "-o", "jsonpath={.spec.ports[0].nodePort}")
    wait_for(
        lambda: k.run("get", "endpoints", "shop", "-o", "jsonpath={.subsets[0].addresses[0].ip}", check=False).stdout,
        "an endpoint",
    )
    page = open_page(logged_in, cluster, "services", k.namespace)
    row = page.locator("#services-table tbody tr[data-key$='/shop']")
    expect(row).to_contain_text(f"80:{node_port}/TCP")
    expect(row).to_contain_text(re.compile(r"10\.237\.\d+\.\d+"))
    page.screenshot(path=screenshots / "services.png", full_page=True)
    page.close()


def test_sparklines_draw_the_metrics_history_and_grow_at_each_sample(
    fake_cluster: RunningServer, browser: Browser, screenshots: Path
) -> None:
    k = Kubectl(fake_cluster, "spark")
    fake_cluster.kubectl("create", "namespace", k.namespace)
    create(
        k,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "busy"},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "fake.pykube.io/app:1",
                        "env": [{"name": "FAKE_CPU", "value": "250m"}, {"name": "FAKE_MEMORY", "value": "64Mi"}],
                    }
                ]
            },
        },
    )
    history = f"{HISTORY}/namespaces/{k.namespace}/pods/busy"
    wait_for(
        lambda: (
            json.loads(fake_cluster.kubectl("get", "--raw", history, check=False).stdout or "{}")
            .get("items", [{}])[0]
            .get("samples")
        ),
        "a sample of the pod in the history",
    )
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
    try:
        goto(context.new_page(), login_url(fake_cluster))
        page = open_page(context, fake_cluster, "pods", k.namespace)
        row = page.locator(f"#pods-table tbody tr[data-key='{k.namespace}/busy']")
        expect(row.locator(".usage.cpu .figure")).to_have_text("250m")
        expect(row.locator(".usage.memory .figure")).to_have_text("64Mi")
        expect(row.locator(".usage.cpu svg.spark polyline")).to_have_count(1)
        drawn = int(row.locator(".usage.cpu svg.spark").get_attribute("data-points") or 0)
        assert drawn >= 1
        # the page asks again at the sampling interval and draws the new sample on the same line
        page.evaluate("window.stillTheSamePage = true")
        wait_for(
            lambda: int(row.locator(".usage.cpu svg.spark").get_attribute("data-points") or 0) > drawn,
            "a further sample on the sparkline",
            timeout=60,
        )
        assert page.evaluate("window.stillTheSamePage") is True
        expect(row.locator(".usage.cpu .figure")).to_have_text("250m")
        page.screenshot(path=screenshots / "pods-metrics.png", full_page=True)

        page.locator("#nav a[data-page=overview]").click()
        node = page.locator(f"#nodes-table tbody tr[data-key='{FAKE_NODE}']")
        expect(node.locator(".usage.cpu .figure")).to_have_text(re.compile(r"^\d+(m|\.\d+)?$"))
        expect(node.locator(".usage.memory .figure")).to_have_text(re.compile(r"^[\d.]+(Ki|Mi|Gi)$"))
        expect(node.locator(".usage.cpu svg.spark polyline")).to_have_count(1)
        page.close()

        # a server without the history path (404): no usage column at all
        bare = context.new_page()
        bare.route(
            f"**{HISTORY}/**",
            lambda route: route.fulfill(
                status=404,
                content_type="application/json",
                body=json.dumps(
                    {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}
                ),
            ),
        )
        with bare.expect_response(lambda answer: HISTORY in answer.url):
            goto(bare, f"{fake_cluster.url}/dashboard/#/overview")
        expect(bare.locator(f"#nodes-table tbody tr[data-key='{FAKE_NODE}']")).to_contain_text("Ready")
        expect(bare.locator("#nodes-table th", has_text="CPU use")).to_have_count(0)
        assert bare.locator("#nodes-table svg.spark").count() == 0
        bare.close()
    finally:
        context.close()
        fake_cluster.kubectl("delete", "namespace", k.namespace, "--wait=false", check=False)
