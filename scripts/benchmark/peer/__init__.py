"""The benchmark's peer: an app built on fastapi-users the way its documentation shows (`app.py`,
run in a venv of its own from `requirements.txt`), and its figures beside ours (`compare.py`)."""
