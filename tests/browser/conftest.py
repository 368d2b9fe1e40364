"""What the real-browser tests share: one headless Chromium per test module (Debian's, driven by
Playwright; .ci/run installs it)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from servers import CHROMIUM_ARGS, chromium_path  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
