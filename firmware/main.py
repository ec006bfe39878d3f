# Board entry point: pick the board module, build the app, run it (filled in by the board layer).
