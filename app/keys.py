"""Print a new API key and the hash to configure for it: `python -m app.keys`.

The key is 32 random bytes, URL-safe base64 (43 characters). Only the hash
goes into the configuration; hand the key to its one client and keep no copy.
"""

from __future__ import annotations

import argparse
import json
import secrets

from app.api.auth import SCOPES, hash_key


def new_key() -> str:
    return secrets.token_urlsafe(32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.keys", description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="my-service", help="the caller's name, as it will appear in logs")
    parser.add_argument("--scope", action="append", choices=SCOPES, help="repeatable; default: alerts:write")
    args = parser.parse_args(argv)
    key = new_key()
    scopes = args.scope or ["alerts:write"]
    digest = hash_key(key)
    print(f"key:  {key}")
    print(f"hash: {digest}")
    print()
    print("# TOML (alerts.toml):")
    print("[[api_keys]]")
    print(f"name = {json.dumps(args.name)}")
    print(f'hash = "{digest}"')
    print(f"scopes = {json.dumps(scopes)}")
    print()
    print("# or the environment (a JSON list of every key):")
    entry = {"name": args.name, "hash": digest, "scopes": scopes}
    print(f"ALERTS_API_KEYS='{json.dumps([entry])}'")


if __name__ == "__main__":
    main()
