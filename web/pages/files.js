// A workspace's files: browse, view and edit text, upload by drag and
// drop or picker, download, make folders, delete.

import { api, download, runtime, withQuery } from '../api.js';
import { html, useState, usePoll, useError, ErrorBox, Action, Empty, bytes, when } from '../ui.js';

const EDITABLE = 2 * 1024 * 1024;

export function FilesPanel({ id }) {
  const base = runtime(id);
  const [path, setPath] = useState('/workspace');
  const [entries, setEntries] = useState(null);
  const [open, setOpen] = useState(null);
  const [progress, setProgress] = useState('');
  const [dragging, setDragging] = useState(false);
  const [error, report] = useError();
  const load = async () => {
    try {
      const found = await api('GET', withQuery(`${base}/fs/entries`, { path }));
      found.sort((a, b) => (a.entryType === b.entryType ? a.name.localeCompare(b.name) : a.entryType === 'directory' ? -1 : 1));
      setEntries(found);
    } catch (e) { report(e); }
  };
  usePoll(load, 0, [path]);
  const join = (name) => `${path.replace(/\/$/, '')}/${name}`;
  const upload = async (files) => {
    const list = [...files];
    try {
      for (const [i, file] of list.entries()) {
        setProgress(`uploading ${file.name} (${i + 1} of ${list.length}, ${bytes(file.size)})…`);
        await api('PUT', withQuery(`${base}/fs/file`, { path: join(file.name) }), { body: file });
      }
      report(null);
    } catch (e) { report(e); } finally { setProgress(''); await load(); }
  };
  const view = async (entry) => {
    try {
      const response = await api('GET', withQuery(`${base}/fs/file`, { path: entry.path }), { raw: true });
      const buffer = await response.arrayBuffer();
      let text = null;
      if (buffer.byteLength <= EDITABLE) {
        try { text = new TextDecoder('utf-8', { fatal: true }).decode(buffer); } catch { /* binary */ }
      }
      setOpen({ entry, text, draft: text, size: buffer.byteLength });
    } catch (e) { report(e); }
  };
  const crumbs = path.split('/').filter(Boolean);
  return html`<div class=${`files ${dragging ? 'dragging' : ''}`} data-testid="files"
      onDragOver=${(e) => { e.preventDefault(); setDragging(true); }} onDragLeave=${() => setDragging(false)}
      onDrop=${(e) => { e.preventDefault(); setDragging(false); upload(e.dataTransfer.files); }}>
    <${ErrorBox} error=${error} onClose=${() => report(null)} />
    <div class="row">
      <span class="crumbs">${crumbs.map((name, i) => html`/<button class="link" onClick=${() => setPath(`/${crumbs.slice(0, i + 1).join('/')}`)}>${name}</button>`)}</span>
      <label class="button">Upload<input type="file" multiple hidden data-testid="file-input" onChange=${(e) => upload(e.target.files)} /></label>
      <${Action} run=${async () => { const name = prompt('New folder name'); if (name) { await api('POST', withQuery(`${base}/fs/mkdir`, { path: join(name) })); await load(); } }} onError=${report}>New folder</${Action}>
      <${Action} run=${async () => { const name = prompt('New file name'); if (name) { await api('PUT', withQuery(`${base}/fs/file`, { path: join(name) }), { body: '' }); await load(); } }} onError=${report}>New file</${Action}>
      <${Action} run=${() => download(withQuery(`${base}/fs/archive`, { path }), `${crumbs[crumbs.length - 1] || 'workspace'}.tar`)} onError=${report}>Download folder</${Action}>
    </div>
    ${progress && html`<p class="small"><span class="spinner"></span> ${progress}</p>`}
    <p class="muted small">Drop files here to upload them into ${path}.</p>
    <div class="split">
      <div class="list">
        ${path !== '/workspace' && html`<div class="entry"><button class="link" onClick=${() => setPath(path.replace(/\/[^/]+$/, '') || '/workspace')}>..</button></div>`}
        ${entries && entries.length === 0 && html`<${Empty}>This folder is empty. Drop files here, or make one with the terminal.</${Empty}>`}
        ${entries && entries.map((entry) => html`<div key=${entry.path} class="entry" data-testid=${`entry-${entry.name}`}>
          <button class="link" onClick=${() => (entry.entryType === 'directory' ? setPath(entry.path) : view(entry))}>${entry.name}${entry.entryType === 'directory' ? '/' : ''}</button>
          <span class="muted small" title=${when(entry.modified)}>${entry.entryType === 'directory' ? 'folder' : bytes(entry.size)}</span>
          <span class="actions">
            ${entry.entryType !== 'directory' && html`<${Action} kind="small" run=${() => download(withQuery(`${base}/fs/file`, { path: entry.path }), entry.name)} onError=${report} testid=${`download-${entry.name}`}>Download</${Action}>`}
            <${Action} kind="small danger" confirm=${`Delete ${entry.path}?`} run=${async () => { await api('DELETE', withQuery(`${base}/fs/entry`, { path: entry.path, recursive: entry.entryType === 'directory' ? 'true' : undefined })); if (open && open.entry.path === entry.path) setOpen(null); await load(); }} onError=${report}>Delete</${Action}>
          </span></div>`)}
      </div>
      ${open && html`<div class="viewer">
        <div class="row"><b>${open.entry.path}</b><span class="muted small">${bytes(open.size)}</span>
          <button class="link" onClick=${() => setOpen(null)}>close</button></div>
        ${open.text === null ? html`<${Empty}>Binary or larger than ${bytes(EDITABLE)}: download it to look inside.</${Empty}>`
          : html`<textarea class="code" rows="20" spellcheck="false" value=${open.draft} data-testid="file-editor"
              onInput=${(e) => setOpen({ ...open, draft: e.target.value })}></textarea>
            <${Action} kind="primary" disabled=${open.draft === open.text} busyLabel="Saving…" testid="file-save" onError=${report}
              run=${async () => { await api('PUT', withQuery(`${base}/fs/file`, { path: open.entry.path }), { body: open.draft }); setOpen({ ...open, text: open.draft, size: new Blob([open.draft]).size }); await load(); }}>Save</${Action}>`}
      </div>`}
    </div>
  </div>`;
}
