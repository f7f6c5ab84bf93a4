// A live terminal in a workspace: a login shell on a PTY of the jail,
// xterm.js over the runtime's terminal WebSocket. The key travels as a
// WebSocket subprotocol, never in the URL. xterm.js (the console's largest
// file) is loaded when a terminal is first opened, not with the page.

import { api, auth, base64url, runtime, workspacePath } from '../api.js';
import { html, useEffect, useRef, useState } from '../ui.js';

export function TerminalPanel({ id, report, refresh }) {
  const box = useRef(null);
  const [status, setStatus] = useState('starting the workspace…');
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let term;
    let socket;
    let observer;
    let process;
    // 'alive' until the shell exits ('exited') or the connection drops
    // without an exit ('gone': the workspace stopped, its records with it).
    let shell = 'alive';
    let closed = false;
    const base = runtime(id);
    // The shell ends with its panel, as a terminal window's would, and
    // leaves no record behind in the process list.
    const end = async () => {
      if (!process || shell === 'gone') return;
      const path = `${base}/processes/${process.id}`;
      if (shell === 'alive') await api('POST', `${path}/kill?waitMs=2000`);
      await api('DELETE', path);
    };
    (async () => {
      await api('POST', `${workspacePath(id)}/start`);
      if (closed) return;
      refresh();
      setStatus('opening a shell…');
      process = await api('POST', `${base}/processes`, {
        body: { command: 'bash', args: ['-l'], tty: true, interactive: true, env: { TERM: 'xterm-256color' } },
      });
      if (closed) { await end(); return; }
      const [{ Terminal }, { FitAddon }] = await Promise.all([import('../vendor/xterm.js'), import('../vendor/addon-fit.js')]);
      if (closed) { await end(); return; }
      term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, fontFamily: 'ui-monospace, monospace' });
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.open(box.current);
      fit.fit();
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
      socket = new WebSocket(`${scheme}://${location.host}${base}/processes/${process.id}/terminal/ws`,
        ['paddock.terminal', `paddock.bearer.${base64url(auth.key)}`]);
      socket.binaryType = 'arraybuffer';
      const send = (frame) => socket.readyState === WebSocket.OPEN && socket.send(JSON.stringify(frame));
      socket.onopen = () => {
        setStatus(`connected · ${process.id}`);
        send({ type: 'resize', cols: term.cols, rows: term.rows });
        term.focus();
      };
      socket.onmessage = (message) => {
        if (typeof message.data !== 'string') { term.write(new Uint8Array(message.data)); return; }
        const frame = JSON.parse(message.data);
        if (frame.type === 'exit') {
          shell = 'exited';
          term.write(`\r\n[the shell exited with ${frame.exitCode}]\r\n`);
          setStatus('exited');
        }
        if (frame.type === 'error') term.write(`\r\n[error: ${frame.message}]\r\n`);
      };
      socket.onclose = () => {
        if (closed) return;
        if (shell === 'alive') shell = 'gone';
        setStatus('disconnected');
      };
      term.onData((data) => send({ type: 'input', data }));
      term.onResize(({ cols, rows }) => send({ type: 'resize', cols, rows }));
      observer = new ResizeObserver(() => fit.fit());
      observer.observe(box.current);
    })().catch((e) => { setStatus('failed'); report(e); });
    return () => {
      closed = true;
      observer?.disconnect();
      socket?.close();
      term?.dispose();
      end().catch(() => {});
    };
  }, [id, generation]);
  return html`<div class="terminal-head"><span class="muted small" data-testid="terminal-status">${status}</span>
      <button class="link" onClick=${() => setGeneration(generation + 1)}>New shell</button></div>
    <div class="terminal" ref=${box} data-testid="terminal"></div>`;
}
