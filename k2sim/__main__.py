"""`python -m k2sim`: serve the emulator until stopped, printing its base URL and credentials."""
from __future__ import annotations

import argparse
from decimal import Decimal

from .app import create_app
from .config import SimConfig
from .server import bind, make_server

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> SimConfig:
    """The command line as a config."""
    defaults = SimConfig()
    parser = argparse.ArgumentParser(prog="python -m k2sim", description="Local emulator of Kopo Kopo K2 Connect.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    parser.add_argument("--client-id", help="generated when not given")
    parser.add_argument("--client-secret", help="generated when not given")
    parser.add_argument("--api-key", help="webhook signing key; generated when not given")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every K2 API answer")
    parser.add_argument("--fail-rate", type=float, default=0.0,
                        help="share (0-1) of STK pushes and payouts that fail for a random plausible reason")
    parser.add_argument("--seed", type=int, help="makes --fail-rate draws and simulated traffic repeatable")
    parser.add_argument("--callback-delay-s", type=float, default=defaults.callback_delay_s,
                        help="seconds before a request reaches its final state and its callback is sent")
    parser.add_argument("--token-ttl-s", type=float, default=defaults.token_ttl_s)
    parser.add_argument("--balance", type=Decimal, default=defaults.balance, help="opening balance in KES")
    parser.add_argument("--till-number", default=defaults.till_number)
    args = parser.parse_args(argv)
    if not 0 <= args.fail_rate <= 1:
        parser.error("--fail-rate must be between 0 and 1")
    return SimConfig(client_id=args.client_id, client_secret=args.client_secret, api_key=args.api_key,
                     host=args.host, port=args.port, latency_ms=args.latency_ms, fail_rate=args.fail_rate,
                     seed=args.seed, callback_delay_s=args.callback_delay_s, token_ttl_s=args.token_ttl_s,
                     balance=args.balance, till_number=args.till_number)


def main(argv: list[str] | None = None) -> None:
    """Bind, print where and with what to connect, serve until Ctrl-C."""
    config = parse_args(argv).with_credentials()
    sock, base_url = bind(config.host, config.port)
    print(f"k2sim serving K2 Connect at {base_url}", flush=True)
    print(f"  client_id:     {config.client_id}", flush=True)
    print(f"  client_secret: {config.client_secret}", flush=True)
    print(f"  api_key:       {config.api_key}", flush=True)
    print(f"  till_number:   {config.till_number}   control routes: {base_url}/sim/", flush=True)
    make_server(create_app(config)).run(sockets=[sock])


if __name__ == "__main__":
    main()
