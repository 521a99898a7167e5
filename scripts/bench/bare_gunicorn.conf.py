"""gunicorn settings for the bare app, served as ``config/gunicorn.conf.py`` serves ours.

Only the server's part: a response's headers go out with its first body
bytes (``config/gunicorn_response.py``). ``bench_api.py`` measures the bare
app both ways, so a ratio never credits the application with the server's
saving.
"""

from config.gunicorn_response import install

install()
