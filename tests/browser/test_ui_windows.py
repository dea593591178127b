"""The three windows in a real browser: Airflow's trigger form, the cost report, MLflow's run comparison.

Starts the services of `make up` (Airflow standalone, MLflow UI, SMTP catcher) on free loopback
ports with a throwaway home, makes two real training runs, then drives headless Chromium
(Debian's chromium + chromedriver) through Selenium. Screenshots go to $RNN_UI_SCREENSHOTS
(default: the test's tmp dir). Skipped, saying why, when Chromium is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import free_port

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
REPO = Path(__file__).resolve().parents[2]
TINY = {
    "epochs": 1,
    "max_steps_per_epoch": 6,
    "hidden_size": 16,
    "num_layers": 1,
    "embedding_dim": 8,
    "seq_len": 32,
    "batch_size": 8,
    "load_test_seconds": 0,  # tests/dags/test_rnn_retraining_e2e.py runs the load test
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        reason = "Chromium/ChromeDriver not installed (apt-get install chromium chromium-driver; `make test` tries)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)  # CI must run the browser test, not skip it
        pytest.skip(reason)
    home = tmp_path_factory.mktemp("ui-stack")
    corpus = home / "corpus.txt"
    from rnn.corpus import default_corpus_text

    corpus.write_text(default_corpus_text()[:40_000])
    env = {
        **os.environ,
        "RNN_PIPELINE_HOME": str(home),
        "AIRFLOW_HOME": str(home / "airflow"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        "AIRFLOW_PORT": str(free_port()),
        "MLFLOW_PORT": str(free_port()),
        "SMTP_PORT": str(free_port()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    env["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps(
        {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": int(env["SMTP_PORT"]),
            "extra": {"disable_ssl": True, "disable_tls": True},
        }
    )
    services = [sys.executable, "-m", "devtools.services"]
    up = subprocess.run([*services, "up"], env=env, capture_output=True, text=True, timeout=400)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        airflow = Path(sys.executable).with_name("airflow")
        for _ in range(2):  # two real training runs for the MLflow comparison
            trained = subprocess.run(
                [
                    str(airflow),
                    "dags",
                    "test",
                    "rnn_retraining",
                    "--conf",
                    json.dumps({**TINY, "corpus_uri": str(corpus)}),
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert trained.returncode == 0, trained.stdout[-3000:]
        yield env
    finally:
        subprocess.run([*services, "down"], env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1100",
    ):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("RNN_UI_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def api(env: dict, method: str, path: str, body: dict | None = None) -> dict:
    base = f"http://127.0.0.1:{env['AIRFLOW_PORT']}"
    login = json.loads(
        (Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated").read_text()
    )
    user, password = next(iter(login.items()))
    token_request = urllib.request.Request(
        f"{base}/auth/token",
        data=json.dumps({"username": user, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    token = json.loads(urllib.request.urlopen(token_request, timeout=30).read())["access_token"]
    request = urllib.request.Request(
        f"{base}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return {"status": response.status, **json.loads(response.read() or b"{}")}
    except urllib.error.HTTPError as error:
        return {"status": error.code, **json.loads(error.read() or b"{}")}


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_trigger_form_report_and_mlflow_comparison(stack: dict, browser, shots: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    airflow = f"http://127.0.0.1:{stack['AIRFLOW_PORT']}"
    login = json.loads(
        (Path(stack["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated").read_text()
    )
    user, password = next(iter(login.items()))

    # 1. Log in to Airflow.
    browser.get(f"{airflow}/")
    fields = wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "input[name=username], input[name=password]")
    )
    fields[0].send_keys(user)
    fields[1].send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "/auth/login" not in d.current_url)

    # 2. Open the ad hoc DAG's trigger form and fill it with non-default values.
    browser.get(f"{airflow}/dags/adhoc_cost_analysis")
    wait.until(lambda d: [b for b in d.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Trigger"])[
        0
    ].click()
    wait.until(lambda d: d.find_element(By.NAME, "element_horizon_months"))
    time.sleep(1)
    assert "Requests per day" in browser.find_element(By.TAG_NAME, "body").text
    # Requests per day is a JSON editor (Monaco) that re-formats valid JSON as you type: clear it (the
    # form puts back "[]"), drop the closing bracket, type the list, close it last.
    editor = browser.find_element(By.CSS_SELECTOR, "[role=dialog] .monaco-editor .view-lines")
    (
        ActionChains(browser)
        .click(editor)
        .key_down(Keys.CONTROL)
        .send_keys(Keys.END)
        .key_up(Keys.CONTROL)
        .key_down(Keys.SHIFT)
        .key_down(Keys.CONTROL)
        .send_keys(Keys.HOME)
        .key_up(Keys.CONTROL)
        .key_up(Keys.SHIFT)
        .send_keys(Keys.BACKSPACE)
        .perform()
    )
    time.sleep(0.3)
    (
        ActionChains(browser)
        .key_down(Keys.CONTROL)
        .send_keys(Keys.END)
        .key_up(Keys.CONTROL)
        .send_keys(Keys.BACKSPACE)
        .send_keys("2500, 750000")
        .send_keys("]")
        .perform()
    )
    for name, value in (("element_horizon_months", "24"), ("element_latency_slo_ms", "1500")):
        field = browser.find_element(By.NAME, name)
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(value)
    region = browser.find_element(By.XPATH, "//input[@name='element_region']/..//input[@role='combobox']")
    region.send_keys("eu-west-1")
    time.sleep(0.5)
    region.send_keys(Keys.ENTER)
    browser.find_element(By.NAME, "element_recipients").send_keys("lead@example.com")
    browser.set_window_size(1400, 2600)  # the whole form in one picture
    time.sleep(0.5)
    browser.save_screenshot(str(shots / "trigger-form.png"))
    browser.set_window_size(1400, 1100)
    trigger = [
        b
        for b in browser.find_elements(By.CSS_SELECTOR, "[role=dialog] button")
        if b.text.strip() == "Trigger"
    ]
    trigger[-1].click()

    # 3. Wait for the run to succeed (it was unpaused by the form's checkbox).
    def finished_run():
        runs = api(stack, "GET", "/api/v2/dags/adhoc_cost_analysis/dagRuns")["dag_runs"]
        done = [r for r in runs if r["state"] in ("success", "failed")]
        return done[0] if done else None

    run = wait_for(finished_run, 420, "the ad hoc run to finish")
    assert run["state"] == "success", run
    assert run["conf"]["region"] == "eu-west-1" and run["conf"]["horizon_months"] == 24
    assert run["conf"]["requests_per_day"] == [2500, 750000]

    # 4. The "Cost report" extra link and the Cost reports page inside the Airflow UI.
    links = api(
        stack,
        "GET",
        f"/api/v2/dags/adhoc_cost_analysis/dagRuns/{run['dag_run_id']}/taskInstances/render_and_store/links",
    )
    report_url = links["extra_links"]["Cost report"]
    assert links["extra_links"]["MLflow run"].startswith(
        f"http://127.0.0.1:{stack['MLFLOW_PORT']}/#/experiments/"
    )
    assert report_url.startswith(f"{airflow}/cost-reports/view/adhoc_cost_analysis/")
    browser.get(f"{airflow}/plugin/cost-reports")  # the plugin's page, embedded in Airflow's UI
    frame = wait.until(lambda d: d.find_element(By.TAG_NAME, "iframe"))
    browser.switch_to.frame(frame)
    wait.until(lambda d: "Ad hoc cost analysis" in d.find_element(By.TAG_NAME, "body").text)
    browser.switch_to.default_content()
    browser.save_screenshot(str(shots / "cost-reports-page.png"))
    browser.get(report_url)
    body = wait.until(lambda d: d.find_element(By.TAG_NAME, "body")).text
    browser.save_screenshot(str(shots / "report.png"))
    assert "eu-west-1" in body and "750,000" in body and "2,500" in body
    images = browser.find_elements(By.TAG_NAME, "img")
    assert images and all(
        browser.execute_script("return arguments[0].naturalWidth", img) > 0 for img in images
    )

    # 5. MLflow's run comparison shows cost.train_usd for the two training runs.
    mlflow = f"http://127.0.0.1:{stack['MLFLOW_PORT']}"
    search = json.loads(
        urllib.request.urlopen(
            urllib.request.Request(
                f"{mlflow}/api/2.0/mlflow/experiments/get-by-name?experiment_name=rnn-textgen"
            ),
            timeout=30,
        ).read()
    )
    experiment_id = search["experiment"]["experiment_id"]
    runs = json.loads(
        urllib.request.urlopen(
            urllib.request.Request(
                f"{mlflow}/api/2.0/mlflow/runs/search",
                data=json.dumps({"experiment_ids": [experiment_id]}).encode(),
                headers={"Content-Type": "application/json"},
            ),
            timeout=30,
        ).read()
    )["runs"]
    run_ids = [r["info"]["run_id"] for r in runs]
    assert len(run_ids) >= 2
    browser.get(
        f"{mlflow}/#/compare-runs?runs={json.dumps(run_ids)}&experiments={json.dumps([experiment_id])}"
    )
    wait.until(lambda d: d.find_element(By.XPATH, "//*[normalize-space(text())='cost.train_usd']"))
    metrics_header = browser.find_element(By.XPATH, "//*[normalize-space(text())='Metrics']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", metrics_header)
    time.sleep(1)
    browser.save_screenshot(str(shots / "mlflow-compare.png"))
    page = browser.find_element(By.TAG_NAME, "body").text
    assert f"Comparing {len(run_ids)} Runs" in page
    for run in runs:  # the compared runs really carry the metric the page lists
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert metrics["cost.train_usd"] > 0


def test_rest_api_rejects_out_of_bounds_params(stack: dict) -> None:
    response = api(
        stack,
        "POST",
        "/api/v2/dags/adhoc_cost_analysis/dagRuns",
        {"logical_date": None, "conf": {"horizon_months": 0}},
    )
    assert response["status"] == 400
    assert "horizon_months" in response["detail"] and "minimum" in response["detail"]
