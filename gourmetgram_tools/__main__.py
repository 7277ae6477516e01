"""`python -m gourmetgram_tools` (and, through the foundation's shim, `python -m gourmetgram`)."""

from gourmetgram_tools import main

main()
