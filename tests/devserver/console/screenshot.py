"""Saves a screenshot of a run page to docs/console-run-page.png (the README shows it).

    PYTHONPATH=. .venv/bin/python -m tests.devserver.console.screenshot [OUT.png]

A devserver with the sample tasks, one run with inputs, outputs and logs, opened in the
same headless Chromium the console tests use.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from flyte_remote_core.devserver import DevServer

from .browser import make_driver, open_page

OUT = Path(__file__).resolve().parents[3] / "docs" / "console-run-page.png"


def main(out: Path = OUT) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        server = DevServer(tasks=["tests.devserver.sample_tasks"], data_dir=Path(tmp) / "data", port=0)
        with server:
            client = server.client()
            try:
                run = client.run("sample_tasks.chatty", {"lines": 4, "pause": 0.05}).wait(quiet=True)
                driver = make_driver(Path(tmp) / "profile")
                try:
                    open_page(driver, run.url)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    driver.save_screenshot(str(out))
                finally:
                    driver.quit()
            finally:
                client.close()
    return out


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
