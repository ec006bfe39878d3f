# Runs the S0 pulse feeder at boot (see pulsefeeder.py); Ctrl-C gives the REPL back.
import pulsefeeder

pulsefeeder.main()
