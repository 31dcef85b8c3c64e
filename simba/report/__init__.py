"""``simba report``: one self-contained, offline HTML file about a run or a sweep.

The run's database (:mod:`simba.record`) is read by :mod:`~simba.report.record`;
:mod:`~simba.report.run_page` and :mod:`~simba.report.sweep_page` turn it into what the
page shows, and :mod:`~simba.report.page` renders the Jinja2 templates with the vendored
ECharts and the data inlined (``vendor/README.md`` says which version and why).
"""
