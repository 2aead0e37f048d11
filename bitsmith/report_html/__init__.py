"""bitsmith.report_html: a result as one self-contained HTML page (`bitsmith report`).

inputs.py reads a result and picks the GEMM to trace; timeline.py turns its trace
into paged data; sections.py and pareto.py write the sections; page.py puts them,
style.css and viewer.js into one file that needs no network to view.
"""
