"""The peer of paddock's code-kernel row: `1 + 1` round trips from
jupyter_client to a local ipykernel outside any jail, timed the way
paddock's server waits for a call (the execute reply and the kernel back
to idle). Prints one JSON list of seconds.

    python3 jupyter_client_rtt.py WARM N
"""
import json
import sys
import time

from jupyter_client.manager import start_new_kernel


def main() -> None:
    warm, n = int(sys.argv[1]), int(sys.argv[2])
    manager, client = start_new_kernel(kernel_name="python3")
    try:

        def once() -> None:
            msg_id = client.execute("1 + 1")
            replied = idle = False
            while not (replied and idle):
                if not replied:
                    reply = client.get_shell_msg(timeout=10)
                    replied = reply["parent_header"].get("msg_id") == msg_id
                message = client.get_iopub_msg(timeout=10)
                if (
                    message["parent_header"].get("msg_id") == msg_id
                    and message["msg_type"] == "status"
                    and message["content"]["execution_state"] == "idle"
                ):
                    idle = True

        for _ in range(warm):
            once()
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            once()
            samples.append(time.perf_counter() - start)
        print(json.dumps(samples))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
