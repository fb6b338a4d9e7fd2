"""JupyterHub for a workshop on one machine: a fixed password, one process per learner, and ONE
privacy budget shared by the whole class (lesson 02's classroom lab).

Run (after `make env` and `npm install -g configurable-http-proxy@5.3.0`):

    MEDPRIV_WORKSHOP_PASSWORD=... MEDPRIV_CLASSROOM_DIR=/srv/medpriv/classroom \
        .venv/bin/jupyterhub -f deploy/jupyterhub_config.py

Learners log in with any user name and the workshop password; each gets a JupyterLab of their
own (SimpleLocalProcessSpawner: every server runs as the hub's own system user, in
/tmp/<name>, with no isolation between learners — fine for a workshop VM, not for patient data;
on Kubernetes use deploy/kubernetes/). tests/test_jupyterhub_classroom.py runs exactly this file
on 127.0.0.1 with three learners.

Settings from the environment (so the same file serves the test and a real workshop):
MEDPRIV_HUB_IP / MEDPRIV_HUB_PORT (default 127.0.0.1:8000), MEDPRIV_HUB_DIR (the hub's state:
database, cookie secret; default ./hub-state), MEDPRIV_CLASSROOM_DIR (where the shared ledger
lives: every learner's server must be able to write there), MEDPRIV_WORKSHOP_PASSWORD,
MEDPRIV_CHP (the configurable-http-proxy executable), MEDPRIV_LESSONS_DIR (notebooks copied
into each learner's folder at first start).
"""

import os
import shutil
from pathlib import Path

c = get_config()  # noqa: F821 - provided by JupyterHub when it reads this file

state = Path(os.environ.get("MEDPRIV_HUB_DIR", "hub-state")).resolve()
state.mkdir(parents=True, exist_ok=True)
classroom = Path(os.environ.get("MEDPRIV_CLASSROOM_DIR", state / "classroom")).resolve()
classroom.mkdir(parents=True, exist_ok=True)
lessons = os.environ.get("MEDPRIV_LESSONS_DIR", "")

c.JupyterHub.ip = os.environ.get("MEDPRIV_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(os.environ.get("MEDPRIV_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("MEDPRIV_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('MEDPRIV_PROXY_API_PORT', '8001')}"
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
if os.environ.get("MEDPRIV_CHP"):
    c.ConfigurableHTTPProxy.command = [os.environ["MEDPRIV_CHP"]]

# A fixed workshop password for everyone (DummyAuthenticator: any name, this password).
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = os.environ.get("MEDPRIV_WORKSHOP_PASSWORD", "medpriv-workshop")
c.Authenticator.allow_all = True
c.Authenticator.admin_users = set(filter(None, os.environ.get("MEDPRIV_HUB_ADMINS", "").split(",")))

# One local process per learner. A second login of the same learner (another browser, another
# laptop) reaches the same server and the same kernels: nothing is started twice, nothing lost.
c.JupyterHub.spawner_class = "simple"
c.Spawner.default_url = "/lab"
if os.geteuid() == 0:  # a workshop VM or CI container run as root: Jupyter refuses without this
    c.Spawner.args = ["--allow-root"]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
# What every learner's kernels see: the shared budget, the caches the instructor pre-computed
# (`medpriv precompute --profile workshop`), the data, FAST mode for tests.
env = {"MEDPRIV_CLASSROOM_LEDGER": str(classroom / "classroom-budget.sqlite"),
       "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
for name in ("MEDPRIV_CACHE_DIR", "MEDPRIV_DATA_DIR", "MEDPRIV_FAST", "MEDPRIV_OFFLINE",
             "MEDPRIV_LEDGER_DIR"):
    if os.environ.get(name):
        env[name] = os.environ[name]
c.Spawner.environment = env


def _copy_lessons(spawner):
    """Give a new learner their own copies of the lessons (kept on later logins)."""
    if not lessons:
        return
    home = Path(spawner.home_dir_template.format(username=spawner.user.name))
    home.mkdir(parents=True, exist_ok=True)
    for nb in Path(lessons).glob("*.ipynb"):
        if not (home / nb.name).exists():
            shutil.copy(nb, home / nb.name)


c.Spawner.pre_spawn_hook = _copy_lessons
# Idle servers are stopped by JupyterHub's own culler service in production (deploy/kubernetes).
