"""The performance benchmark: every figure beside the baseline it is judged against.

Run it through `scripts/bench`, which starts PostgreSQL behind PgBouncer (transaction mode),
sets DATABASE_URL and runs `python -m scripts.benchmark`. The modules:

- `plan`: how many runs and requests (full or quick), and the small helpers all share;
- `environment`: the settings and database the measured functions run with;
- `fixtures`: users with live sessions, and the requests sent to the functions;
- `scenarios`: a table of what each function's cold start serves;
- `cold_start`: every function's init and first request, beside its floors, with and without bytecode;
- `tokens`, `requests`: the token path, login, /user/me and refresh beside their floors;
- `load_clients`, `load`: the mixed load against a local server;
- `peer`: fastapi-users, measured beside us in the same run;
- `report`: the table and the JSON.

Nothing here is imported by the worker (`worker.py`), which measures in fresh interpreters.
"""
