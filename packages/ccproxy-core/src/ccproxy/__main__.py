"""``python -m ccproxy``: the same as the ``ccproxy`` console script."""

from ccproxy.cli.main import main

if __name__ == "__main__":
    main()
