"""``python -m telewatch`` runs the command line."""

from telewatch.cli import main

if __name__ == "__main__":
    main()
