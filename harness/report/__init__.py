"""HTML run report: analysis (pandas/numpy), charts (matplotlib SVG), rendering (Jinja2), index page."""
