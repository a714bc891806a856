"""Stock Open Inference Protocol clients against the real server: helpers and the kserve
script, which runs in its own environment (``make .venv-clients``)."""
