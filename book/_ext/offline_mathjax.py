"""Serve MathJax from the built book itself, so that no page needs a CDN.

MathJax ships inside the jupyter-server-mathjax package (the copy Jupyter
uses offline). After an HTML build, its files are copied to
_static/mathjax, and `mathjax_path` in _config.yml points there.
"""

import shutil
from pathlib import Path


def copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    import jupyter_server_mathjax

    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    target = Path(app.outdir) / "_static" / "mathjax"
    if not (target / "MathJax.js").exists():
        shutil.copytree(source, target, dirs_exist_ok=True)


def setup(app):
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
