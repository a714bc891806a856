"""Run the KServe SDK's REST client, at its defaults, on the cases of a JSON file; print the
answers as JSON. Runs in .venv-clients (``make .venv-clients``), not the project's venv.

Usage: ``python kserve_infer.py CASES.json`` where the file holds a list of cases ``{"url",
"model", "id", "inputs": [{"name", "datatype", "shape", "data"}], "parameters"?}``. Each input is
set with ``InferInput.set_data_from_numpy`` (binary data, the default).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

NUMPY = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "BOOL": np.bool_}


def _array(tensor: dict[str, Any]) -> np.ndarray:
    if tensor["datatype"] == "BYTES":
        return np.array(tensor["data"], dtype=object).reshape(tensor["shape"])
    return np.array(tensor["data"], dtype=NUMPY[tensor["datatype"]]).reshape(tensor["shape"])


def _plain(values: np.ndarray) -> Any:
    return [v.decode() if isinstance(v, bytes) else v for v in values.tolist()]


async def main(path: str) -> None:
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=60))
    answers = []
    for case in spec:
        inputs = []
        for tensor in case["inputs"]:
            item = InferInput(tensor["name"], tensor["shape"], tensor["datatype"])
            item.set_data_from_numpy(_array(tensor))
            inputs.append(item)
        request = InferRequest(
            case["model"], inputs, request_id=case["id"], parameters=case.get("parameters")
        )
        headers: dict[str, str] = {}
        response = await client.infer(
            case["url"], request, model_name=case["model"], response_headers=headers
        )
        answers.append(
            {
                "id": case["id"],
                "request_id": response.id,
                "binary": "inference-header-content-length" in headers,
                "outputs": {o.name: _plain(o.as_numpy()) for o in response.outputs},
            }
        )
    await client.close()
    print(json.dumps(answers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
