// One workspace: its lifecycle, and tabs for the terminal, files,
// processes with live logs, previews, snapshots, the notebook and agents.

import { api, readEvents, runtime, scoped, withQuery, workspacePath } from '../api.js';
import { html, useState, useEffect, usePoll, useApi, useError, ErrorBox, Action, Badge, Empty, bytes, when } from '../ui.js';
import { Lifecycle } from './workspaces.js';
import { TerminalPanel } from './terminal.js';
import { FilesPanel } from './files.js';
import { NotebookPanel } from './notebook.js';
import { AgentsPanel } from './agents.js';

const TABS = [
  ['terminal', 'Terminal'], ['files', 'Files'], ['processes', 'Processes'], ['previews', 'Previews'],
  ['snapshots', 'Snapshots'], ['notebook', 'Notebook'], ['agents', 'Agents'],
];

export function WorkspacePage({ id, tab }) {
  const [workspace, setWorkspace] = useState(null);
  const [state, setState] = useState(null);
  const [error, report] = useError();
  const load = async (deleted) => {
    if (deleted === true) { location.hash = '#/workspaces'; return; }
    try {
      const path = workspacePath(id);
      const [found, run] = await Promise.all([api('GET', path), api('GET', `${path}/state`)]);
      setWorkspace(found);
      setState(run);
    } catch (e) { report(e); }
  };
  usePoll(load, 5000, [id]);
  if (!workspace) return html`<p><a href="#/workspaces">← Workspaces</a></p><${ErrorBox} error=${error} /><p class="muted">Loading…</p>`;
  const spec = workspace.config;
  return html`<p><a href="#/workspaces">← Workspaces</a></p>
    <div class="title-row">
      <h1>${workspace.label || workspace.id} <${Badge} value=${workspace.paused_at ? 'paused' : state ? state.state : '…'} /></h1>
      <${Lifecycle} workspace=${workspace} state=${state && state.state} onChange=${load} report=${report} />
    </div>
    <p class="muted small">${workspace.id} · tenant ${workspace.tenant_id} · ${spec.memory_mb} MiB · ${spec.cpu_percent}% CPU · network ${spec.network_mode}
      ${workspace.git_repo && ` · ${workspace.git_repo}${workspace.git_ref ? ` @ ${workspace.git_ref}` : ''}`}
      ${workspace.disk_used_mb != null && ` · disk ${workspace.disk_used_mb} of ${spec.disk_mb} MiB`}
      ${state && state.processes ? ` · ${state.processes} process${state.processes === 1 ? '' : 'es'}` : ''}</p>
    <${ErrorBox} error=${error} onClose=${() => report(null)} />
    <div class="tabs">${TABS.map(([name, label]) => html`<a class=${tab === name ? 'active' : ''} href=${`#/workspaces/${id}/${name}`}>${label}</a>`)}</div>
    ${workspace.paused_at ? html`<${Empty}>This workspace is paused: its tree is in a snapshot. Resume it to use it.</${Empty}>` : html`
      ${tab === 'terminal' && html`<${TerminalPanel} id=${id} report=${report} refresh=${load} />`}
      ${tab === 'files' && html`<${FilesPanel} id=${id} />`}
      ${tab === 'processes' && html`<${ProcessesPanel} id=${id} running=${state && state.state === 'running'} refresh=${load} />`}
      ${tab === 'previews' && html`<${PreviewsPanel} id=${id} />`}
      ${tab === 'snapshots' && html`<${SnapshotsPanel} id=${id} />`}
      ${tab === 'notebook' && html`<${NotebookPanel} id=${id} refresh=${load} />`}
      ${tab === 'agents' && html`<${AgentsPanel} id=${id} refresh=${load} />`}`}`;
}

/** Characters of a process's output kept on the page. */
const MAX_LOG = 200_000;

function ProcessLogs({ id, process }) {
  const [text, setText] = useState('');
  useEffect(() => {
    const controller = new AbortController();
    // One decoder for the stream: a character split across entries stays whole.
    const decoder = new TextDecoder();
    const decode = (entry) => (entry.encoding === 'base64'
      ? decoder.decode(Uint8Array.from(atob(entry.data), (c) => c.charCodeAt(0)), { stream: true })
      : entry.data);
    let shown = '';
    setText('');
    (async () => {
      const response = await api('GET', withQuery(`${runtime(id)}/processes/${process.id}/logs`, { follow: 'true' }),
        { raw: true, signal: controller.signal, headers: { accept: 'text/event-stream' } });
      await readEvents(response, (name, data) => {
        if (name !== 'log') return;
        shown += decode(JSON.parse(data));
        if (shown.length > MAX_LOG) shown = shown.slice(-MAX_LOG);
        setText(shown);
      });
    })().catch(() => {});
    return () => controller.abort();
  }, [id, process.id]);
  return html`<pre class="output" data-testid="process-logs">${text}</pre>`;
}

/**
 * The workspace's processes. Listing them needs the workspace running (the
 * runtime would start it), so the list is read only while it runs: the
 * panel never undoes a Stop or keeps an idle workspace awake.
 */
function ProcessesPanel({ id, running, refresh }) {
  const base = runtime(id);
  const [list, setList] = useState(null);
  const [line, setLine] = useState('');
  const [chosen, setChosen] = useState(null);
  const [error, report] = useError();
  const load = async () => {
    if (!running) { setList(null); return; }
    try { setList((await api('GET', `${base}/processes`)).processes); } catch (e) { report(e); }
  };
  usePoll(load, running ? 2000 : 0, [id, running]);
  const start = async () => {
    await api('POST', `${workspacePath(id)}/start`);
    const created = await api('POST', `${base}/processes`, { body: { command: 'bash', args: ['-lc', line] } });
    refresh();
    setLine('');
    setChosen(created);
    report(null);
    await load();
  };
  const act = (process, what) => async () => { await api('POST', `${base}/processes/${process.id}/${what}`); await load(); };
  return html`<${ErrorBox} error=${error} onClose=${() => report(null)} />
    <form class="row" onSubmit=${(e) => e.preventDefault()}>
      <input class="grow" value=${line} onInput=${(e) => setLine(e.target.value)} placeholder="a command, e.g. python3 -m http.server 8000" data-testid="process-command" />
      <${Action} kind="primary" run=${start} onError=${report} busyLabel="Starting…" disabled=${!line.trim()} testid="process-start">Start process</${Action}>
    </form>
    ${!running && html`<${Empty}>The workspace is not running: starting a process starts it.</${Empty}>`}
    ${list && (list.length === 0 ? html`<${Empty}>No processes. Start a server or a long job here; it keeps running after you leave the page.</${Empty}>`
      : html`<table class="grid"><thead><tr><th>id</th><th>command</th><th>status</th><th>pid</th><th>exit</th><th>started</th><th></th></tr></thead>
        <tbody>${list.map((p) => html`<tr key=${p.id} class=${chosen && chosen.id === p.id ? 'selected' : ''}>
          <td><button class="link" onClick=${() => setChosen(p)}>${p.id}</button></td><td class="clip"><code>${[p.command, ...p.args].join(' ')}</code>${p.tty ? ' (tty)' : ''}</td>
          <td><${Badge} value=${p.status} /></td><td>${p.pid ?? '—'}</td><td>${p.exitCode ?? '—'}</td><td>${when(p.createdAtMs)}</td>
          <td class="actions">${p.status === 'running' ? html`<${Action} run=${act(p, 'stop')} onError=${report}>Stop</${Action}><${Action} kind="danger" run=${act(p, 'kill')} onError=${report}>Kill</${Action}>`
            : html`<${Action} run=${async () => { await api('DELETE', `${base}/processes/${p.id}`); if (chosen && chosen.id === p.id) setChosen(null); await load(); }} onError=${report}>Remove</${Action}>`}</td></tr>`)}</tbody></table>`)}
    ${chosen && html`<h3>Output of ${chosen.id}</h3><${ProcessLogs} id=${id} process=${chosen} />`}`;
}

function PreviewsPanel({ id }) {
  const path = `${workspacePath(id)}/previews`;
  const [port, setPort] = useState(8000);
  const [shared, setShared] = useState(false);
  const [created, setCreated] = useState(null);
  const [error, report] = useError();
  const [list, load] = useApi(path, { pick: (answer) => answer.previews, report, every: 5000 });
  return html`<${ErrorBox} error=${error} onClose=${() => report(null)} />
    <p class="muted">A preview exposes a port served inside the workspace (start the server under Processes). A private preview opens once with its access link, which the browser trades for a cookie.</p>
    <form class="row" onSubmit=${(e) => e.preventDefault()}>
      <label>port <input type="number" min="1" max="65535" value=${port} onInput=${(e) => setPort(e.target.value)} /></label>
      <label class="check"><input type="checkbox" checked=${shared} onChange=${(e) => setShared(e.target.checked)} /> public (anyone with the link)</label>
      <${Action} kind="primary" run=${async () => { setCreated(await api('POST', path, { body: { port: Number(port), public: shared } })); report(null); await load(); }} onError=${report} busyLabel="Exposing…">Expose port</${Action}>
    </form>
    ${created && html`<div class="notice">Port ${created.port} is exposed: <a href=${created.access_url || created.url} target="_blank" rel="noopener noreferrer">open it in a new tab</a>${created.access_url ? ' (this access link is shown once)' : ''}.</div>`}
    ${list && (list.length === 0 ? html`<${Empty}>No previews.</${Empty}>`
      : html`<table class="grid"><thead><tr><th>port</th><th>url</th><th>access</th><th>state</th><th>expires</th><th></th></tr></thead>
        <tbody>${list.map((p) => html`<tr key=${p.id}><td>${p.port}</td><td class="clip"><a href=${p.url} target="_blank" rel="noopener noreferrer">${p.url}</a></td>
          <td>${p.public ? 'public' : 'private'}</td><td><${Badge} value=${p.state} /></td><td>${when(p.expires_at)}</td>
          <td class="actions">${p.state === 'active' && html`<${Action} kind="danger" run=${async () => { await api('DELETE', `${path}/${p.id}`); await load(); }} onError=${report}>Revoke</${Action}>`}</td></tr>`)}</tbody></table>`)}`;
}

function SnapshotsPanel({ id }) {
  const [name, setName] = useState('');
  const [error, report] = useError();
  const [list, load] = useApi(scoped('/v1/snapshots', { workspace_id: id, limit: 100 }), { pick: (answer) => answer.rows, report });
  return html`<${ErrorBox} error=${error} onClose=${() => report(null)} />
    <form class="row" onSubmit=${(e) => e.preventDefault()}>
      <label>name <input value=${name} onInput=${(e) => setName(e.target.value)} placeholder="before-refactor" /></label>
      <${Action} kind="primary" run=${async () => { await api('POST', `${workspacePath(id)}/snapshot`, { body: { name: name || null } }); setName(''); report(null); await load(); }} onError=${report} busyLabel="Snapshotting…">Take snapshot</${Action}>
    </form>
    ${list && (list.length === 0 ? html`<${Empty}>No snapshots of this workspace. A snapshot is content-addressed: files it shares with others are stored once.</${Empty}>`
      : html`<table class="grid"><thead><tr><th>snapshot</th><th>taken</th><th>files</th><th>size</th><th>stored</th><th></th></tr></thead>
        <tbody>${list.map((s) => html`<tr key=${s.id}><td>${s.name || s.id}${s.auto ? ' (auto)' : ''}<div class="muted small">${s.id}</div></td><td>${when(s.created_at)}</td>
          <td>${s.file_count}</td><td>${bytes(s.size_bytes)}</td><td>${bytes(s.stored_bytes)}</td>
          <td class="actions"><${Action} run=${async () => { const w = await api('POST', '/v1/workspaces/from-snapshot', { body: { snapshot_id: s.id, parent_workspace_id: id } }); location.hash = `#/workspaces/${w.id}`; }} onError=${report} busyLabel="Restoring…">New workspace from it</${Action}>
            <${Action} kind="danger" confirm=${`Delete snapshot ${s.name || s.id}?`} run=${async () => { await api('DELETE', `/v1/snapshots/${s.id}`); await load(); }} onError=${report}>Delete</${Action}></td></tr>`)}</tbody></table>`)}`;
}
