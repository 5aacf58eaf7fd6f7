// Shared by the e2e runs and the benchmarks that start servers: free ports, waiting for an
// answer, and background processes that are stopped (with their children) when we exit.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';

/** A TCP port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Whether a GET on the URL answers 2xx within the timeout. */
export async function answers(url, headers = {}, timeoutMs = 3000) {
  try {
    const res = await fetch(url, {
      headers,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * Polls `check` until it returns something truthy; throws with the last error after `seconds`,
 * or at once when `proc` (a process that should be serving) has exited.
 */
export async function waitFor(
  what,
  seconds,
  check,
  { proc, everyMs = 500 } = {},
) {
  const deadline = Date.now() + seconds * 1000;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (proc && proc.exitCode !== null) {
      throw new Error(
        `${what} exited with ${proc.exitCode} before it was ready`,
      );
    }
    await new Promise(r => setTimeout(r, everyMs));
  }
  throw new Error(
    `${what} not ready within ${seconds} s${last ? `: ${last.message}` : ''}`,
  );
}

/**
 * Background processes, each in its own process group with its output in `<logDir>/<name>.log`
 * (`logDir` given here or per start),
 * all stopped when this process exits (or is interrupted).
 */
export function backgroundProcesses({ logDir, onUnexpectedExit } = {}) {
  const children = [];
  let stopping = false;
  const stopAll = () => {
    stopping = true;
    for (const child of children) {
      if (child.exitCode === null) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {}
      }
    }
  };
  process.on('exit', stopAll);
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));
  const start = (
    name,
    command,
    args,
    { cwd, env, logDir: dir = logDir } = {},
  ) => {
    const log = path.join(dir, `${name}.log`);
    const out = fs.openSync(log, 'w');
    const child = spawn(command, args, {
      cwd,
      env,
      detached: true,
      stdio: ['ignore', out, out],
    });
    children.push(child);
    child.on('exit', code => {
      if (!stopping && code !== 0) onUnexpectedExit?.(name, code, log);
    });
    return child;
  };
  return { start, stopAll };
}

/** Waits until a GET on the URL answers 2xx. */
export function waitForUrl(url, seconds, what, { headers, proc } = {}) {
  return waitFor(`${what} on ${url}`, seconds, () => answers(url, headers), {
    proc,
    everyMs: 1000,
  });
}
