"""`python -m sanitiser`."""

from sanitiser.cli import main

if __name__ == "__main__":
    main()
