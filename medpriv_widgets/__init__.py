"""medpriv_widgets: interactive lessons on privacy in medical machine learning.

The core (``data``, ``models``, ``privacy``, ``training``, ``attacks``) is a plain Python library
with no Jupyter dependency; ``widgets`` are thin views over it. Start with
``notebooks/00_start_here.ipynb`` or ``medpriv --help``.
"""

__version__ = "0.1.0"
