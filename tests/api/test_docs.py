"""Swagger UI and ReDoc load nothing from another host: every script, style,
icon and font they name is served by the service itself."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from tests.conftest import Service

KEY = "docs-read-key"
READ_KEY = {
    "name": "reader",
    "hash": "sha256:" + hashlib.sha256(KEY.encode()).hexdigest(),
    "scopes": ["read"],
}


def _references(html: str) -> list[str]:
    """Every URL a page names: src, href, and the quoted URLs in its scripts."""
    found = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    found += re.findall(r"""url\s*:\s*['"]([^'"]+)['"]""", html)
    found += re.findall(r"""spec-url\s*=\s*["']([^"']+)["']""", html)
    found += re.findall(r"""https?://[^\s"'<>)]+""", html)
    return found


async def _check_pages(service: Service, headers: dict[str, str]) -> None:
    for page in ("/docs", "/redoc"):
        response = await service.client.get(page, headers=headers)
        assert response.status_code == 200, (page, response.text)
        references = _references(response.text)
        assert references, page
        for url in references:
            assert not url.startswith(("http:", "https:", "//")), f"{page} loads {url} from another host"
        for url in {u for u in references if u.startswith("/docs-assets/")}:
            asset = await service.client.get(url)  # generic assets: no key needed
            assert asset.status_code == 200 and len(asset.content) > 1_000, url
        assert "fonts.googleapis" not in response.text


async def test_public_docs_serve_their_own_assets(service: Service) -> None:
    await _check_pages(service, {})
    spec = await service.client.get("/openapi.json")
    assert spec.status_code == 200 and spec.json()["info"]["title"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_private_docs_need_a_key_and_serve_their_own_assets(service_factory: Any) -> None:
    async with service_factory(api_keys=[READ_KEY], public_docs=False) as svc:
        assert (await svc.client.get("/docs")).headers["location"] == "/ui/login?next=/docs"  # sign in first
        assert (await svc.client.get("/openapi.json")).status_code == 401
        await _check_pages(svc, {"X-API-Key": KEY})
