"""Every HTML page: run (run_page), index (index_page), compare, history, ROI and switches pages.

All render through one Jinja environment (jinja.py) and draw charts through one encoder
(figures.to_svg). Page builders render figures computed by their stage; analysis.py prepares the
run page's views.
"""
