"""Sub-commands of ``accord``; each module exposes ``register(subparsers)``.

A command's handler is ``handler(args, settings) -> int | None``, set with
``parser.set_defaults(handler=...)``.
"""
