"""paddock: a Python client for the paddock control plane.

```python
from paddock import Paddock

client = Paddock()  # PADDOCK_URL, PADDOCK_API_KEY
print(client.runs.create(language="python", code="print(6*7)").stdout)
with client.workspace(label="demo") as ws:
    ws.files.write("hello.py", "print('hi')")
    print(ws.processes.run("python3", ["hello.py"]).stdout)
```

``AsyncPaddock`` has the same surface for ``asyncio``. ``Agentjail`` and
``AgentjailError`` are aliases, so agentjail's Python code runs against
paddock once the import changes.
"""

from . import models
from ._shared import Retry
from .models import *  # noqa: F403  (every record type, as agentjail exported its types)
from .models import ForkResponse, Settings
from ._async.client import (
    AsyncAcpStream,
    AsyncAgents,
    AsyncCodeStream,
    AsyncEventStream,
    AsyncFiles,
    AsyncLogStream,
    AsyncPaddock,
    AsyncProcesses,
    AsyncRuntime,
    AsyncTerminal,
    AsyncWorkspaceHandle,
)
from ._sync.client import (
    AcpStream,
    Agents,
    Audit,
    Code,
    CodeStream,
    Credentials,
    EventStream,
    Files,
    Jails,
    Keys,
    LogStream,
    Paddock,
    Previews,
    Processes,
    Public,
    Runs,
    Runtime,
    Sessions,
    SettingsAPI,
    Snapshots,
    Terminal,
    WorkspaceHandle,
    Workspaces,
)
from ._version import __version__
from .errors import (
    AgentjailError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InsufficientStorageError,
    NotFoundError,
    PaddockError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    ServerError,
    UnavailableError,
)
from .events import AcpMessage, CodeEvent, LogChunk, ProcessLogs, StreamEvent

#: agentjail's client name: ``from paddock import Agentjail``.
Agentjail = Paddock
#: The async client under agentjail's naming.
AsyncAgentjail = AsyncPaddock
# agentjail's type names where paddock's differ.
ForkResult = ForkResponse
SettingsSnapshot = Settings
JailKind = str
JailStatus = str
SeccompSpec = str
ServiceId = str

__all__ = [
    "Paddock",
    "AsyncPaddock",
    "Agentjail",
    "AsyncAgentjail",
    "Retry",
    "models",
    "WorkspaceHandle",
    "AsyncWorkspaceHandle",
    "Runtime",
    "AsyncRuntime",
    "Processes",
    "AsyncProcesses",
    "Files",
    "AsyncFiles",
    "Agents",
    "AsyncAgents",
    "AcpStream",
    "AsyncAcpStream",
    "AcpMessage",
    "Terminal",
    "AsyncTerminal",
    "EventStream",
    "AsyncEventStream",
    "LogStream",
    "AsyncLogStream",
    "CodeStream",
    "AsyncCodeStream",
    "Code",
    "CodeEvent",
    "StreamEvent",
    "LogChunk",
    "ProcessLogs",
    "PaddockError",
    "AgentjailError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "RateLimitError",
    "ServerError",
    "UnavailableError",
    "InsufficientStorageError",
    "APITimeoutError",
    "APIConnectionError",
    "ProtocolError",
    "__version__",
    "Audit",
    "Credentials",
    "Jails",
    "Keys",
    "Previews",
    "Public",
    "Runs",
    "Sessions",
    "SettingsAPI",
    "Snapshots",
    "Workspaces",
    "ForkResult",
    "SettingsSnapshot",
    "JailKind",
    "JailStatus",
    "SeccompSpec",
    "ServiceId",
    *models.__all__,
]
