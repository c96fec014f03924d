"""Benchmarks of sttwatch against its peers, measured in the same run (issue 7).

Not tests: every module here prints figures. ``bench/run`` (or ``python -m bench``)
runs all six benchmarks and writes ``bench/results/latest.json``; BENCHMARKS.md
records the figures, the command for each and the machine.
"""
