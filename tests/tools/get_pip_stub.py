# Stand-in for the pip bootstrap script ansible-test downloads from a host this machine cannot reach.
# ansible-test runs it inside a fresh venv with pip's options and the packages to install; we bootstrap pip
# from the interpreter's bundled ensurepip wheel and then let pip install the requested packages from PyPI
# (with the machine's pip configuration, which ensurepip would otherwise switch off for this process).
import ensurepip
import os
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
ensurepip.bootstrap(upgrade=True)
os.environ.pop('PIP_CONFIG_FILE', None)
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + args))
