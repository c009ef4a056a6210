"""Headless Chromium (Debian's `chromium` and `chromium-driver`) driven by Selenium, for
the dashboard tests. Nothing is downloaded: the browser and its driver are the system's.
Every host name but 127.0.0.1 fails to resolve inside the browser, so the page meets the
world as it would without telegram.org and nothing leaves the machine."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--window-size=430,1000",
    "--force-device-scale-factor=1",
    "--lang=en-US",
)
OUTPUT = Path(__file__).resolve().parents[2] / "out" / "dashboard"
LIGHT = {
    "bg_color": "#ffffff",
    "text_color": "#000000",
    "hint_color": "#707579",
    "link_color": "#3390ec",
    "button_color": "#3390ec",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#f4f4f5",
}
DARK = {
    "bg_color": "#17212b",
    "text_color": "#f5f5f5",
    "hint_color": "#708499",
    "link_color": "#6ab3f3",
    "button_color": "#5288c1",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#232e3c",
}


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists() and shutil.which(path.name) is None:
            return f"{path} not found: apt-get install -y chromium chromium-driver (CI installs them)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (requirements-dev.txt)"
    return None


def launch_url(base: str, init_data: str, theme: dict[str, str], platform: str = "tdesktop") -> str:
    """The address Telegram opens: launch parameters in the fragment, initData URL-encoded."""
    fragment = "&".join(
        (
            f"tgWebAppData={quote(init_data, safe='')}",
            "tgWebAppVersion=8.0",
            f"tgWebAppPlatform={platform}",
            f"tgWebAppThemeParams={quote(json.dumps(theme), safe='')}",
        )
    )
    return f"{base}/#{fragment}"


class Browser:
    """One Chromium; every call runs in a worker thread so the bot keeps serving."""

    def __init__(self, user_data_dir: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        options = Options()
        options.binary_location = str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium"))
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={user_data_dir}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = str(CHROMEDRIVER if CHROMEDRIVER.exists() else shutil.which("chromedriver"))
        self.driver = webdriver.Chrome(service=Service(executable_path=driver), options=options)
        self.driver.set_page_load_timeout(20)

    def quit(self) -> None:
        self.driver.quit()

    async def run(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(call, *args)

    async def open(self, url: str, page: str) -> None:
        await self.run(self.driver.get, "about:blank")  # a new fragment alone would not reload the page
        await self.run(self.driver.get, url)
        await self.wait_page(page)

    async def wait_page(self, page: str, limit: float = 10.0) -> None:
        script = "return document.body.dataset.page === arguments[0] && document.body.dataset.ready === '1'"
        await self.wait(lambda: self.driver.execute_script(script, page), limit, f"page {page}")

    async def wait(self, condition: Callable[[], Any], limit: float = 10.0, what: str = "condition") -> Any:
        """Poll `condition` (in a worker thread) until it is true, for at most `limit` seconds."""
        deadline = asyncio.get_running_loop().time() + limit
        while True:
            value = await asyncio.to_thread(condition)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                logs = self.driver.get_log("browser")
                raise TimeoutError(f"{what} did not happen in {limit}s; browser log: {logs}")
            await asyncio.sleep(0.05)

    async def tab(self, page: str) -> None:
        await self.click(f"#tabs button[data-page='{page}']")
        await self.wait_page(page)

    async def click(self, css: str) -> None:
        from selenium.webdriver.common.by import By

        await self.run(lambda: self.driver.find_element(By.CSS_SELECTOR, css).click())

    async def text(self, css: str) -> str:
        from selenium.webdriver.common.by import By

        return str(await self.run(lambda: self.driver.find_element(By.CSS_SELECTOR, css).text))

    async def texts(self, css: str) -> list[str]:
        from selenium.webdriver.common.by import By

        return await self.run(lambda: [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, css)])

    async def value(self, css: str) -> float:
        """The raw number behind a figure (its data-value)."""
        from selenium.webdriver.common.by import By

        raw = await self.run(lambda: self.driver.find_element(By.CSS_SELECTOR, css).get_attribute("data-value"))
        return float(raw)

    async def js(self, script: str, *args: Any) -> Any:
        return await self.run(self.driver.execute_script, script, *args)

    async def screenshot(self, name: str) -> Path:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / f"{name}.png"

        def take() -> None:
            self.driver.execute_script("document.getElementById('toast').hidden = true")
            height = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
            self.driver.set_window_size(430, min(max(height, 600), 2400) + 100)  # + the window's chrome
            self.driver.save_screenshot(str(path))
            self.driver.set_window_size(430, 1000)

        await self.run(take)
        return path
