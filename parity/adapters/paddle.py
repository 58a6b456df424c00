"""PaddlePaddle in its own worker process (it crashes a process that imported TensorFlow first): the adapter
is :data:`parity.adapters._paddle.IN_PROCESS`."""
from parity.adapters._in_worker import InWorker

ADAPTER = InWorker("paddle", "parity.adapters._paddle:IN_PROCESS")
