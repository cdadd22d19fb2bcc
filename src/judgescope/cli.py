"""The ``judgescope`` command line."""

from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    from .report.demo import run_demo

    path = run_demo(args.out, quick=args.quick)
    print(f"demo written to {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="judgescope", description="Look inside image-edit judge models.")
    parser.add_argument(
        "--version", action="version", version=f"judgescope {__import__('judgescope').__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="offline demo on bundled edits and tiny built-in judges")
    demo.add_argument("--out", default="judgescope-demo", help="output folder (default: ./judgescope-demo)")
    demo.add_argument("--quick", action="store_true", help="fewer samples, for smoke tests")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
