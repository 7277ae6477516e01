"""`python -m gourmetgram`: runs the command, which lives on the floor above (`gourmetgram_tools`). By name,
through runpy, so that no module of the foundation imports the tools."""

import runpy

runpy.run_module("gourmetgram_tools", run_name="__main__")  # sys left as is: the usage says `python -m gourmetgram`
