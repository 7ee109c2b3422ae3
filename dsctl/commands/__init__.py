"""dsctl sub-commands: every module here defines ``register(subparsers)``.

``register`` adds one sub-parser (with ``--help`` text) and sets ``func`` via
``set_defaults(func=...)``; ``func(args)`` returns the exit code.
"""
