"""Package data: the files ``twinbed new-scenario`` renders (``scenario/``, see
:mod:`twinbed.scaffold`)."""
