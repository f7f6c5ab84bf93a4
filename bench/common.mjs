// What the benchmarks that drive servers share: a free loopback port, a
// process started and waited for, and percentiles.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

/** A port nothing listens on now, on 127.0.0.1. */
export const freePort = () => new Promise((done) => {
  const server = createServer();
  server.listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => done(port)); });
});

/** Starts `bin` and waits for `ready` to match its stderr or stdout:
 * `up` resolves to the match; `stop` ends the process. */
export function start(bin, argv, env, ready) {
  const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } });
  let log = '';
  const up = new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`${bin} not ready:\n${log}`)), 60_000);
    const seen = (chunk) => { log += chunk; const m = log.match(ready); if (m) { clearTimeout(timer); done(m); } };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.once('exit', (code) => { clearTimeout(timer); fail(new Error(`${bin} exited (${code}):\n${log}`)); });
  });
  const stop = () => new Promise((done) => { if (child.exitCode !== null) return done(); child.once('exit', done); child.kill('SIGTERM'); });
  return { up, stop };
}

/** The `p` quantile (0..1) of `xs`. */
export const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
