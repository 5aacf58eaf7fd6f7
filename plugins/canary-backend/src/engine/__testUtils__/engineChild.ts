import { ChildProcess, spawn } from 'child_process';
import path from 'path';

const SCRIPT = path.resolve(__dirname, 'engineProcess.ts');

/** An engine process for crash tests; killed with SIGKILL, never asked to stop. */
export class EngineChild {
  private constructor(
    readonly process: ChildProcess,
    readonly exited: Promise<number | null>,
    readonly output: string[],
  ) {}

  static async start(env: Record<string, string>): Promise<EngineChild> {
    const child = spawn(
      process.execPath,
      [
        '-r',
        require.resolve('@backstage/cli/config/nodeTransform.cjs'),
        SCRIPT,
      ],
      {
        env: { ...process.env, ...env, NODE_ENV: 'test' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const output: string[] = [];
    child.stderr!.on('data', d => output.push(String(d)));
    const exited = new Promise<number | null>(resolve =>
      child.on('exit', code => resolve(code)),
    );
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`engine did not start: ${output.join('')}`)),
        60_000,
      );
      child.stdout!.on('data', d => {
        if (String(d).includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      exited.then(code => {
        clearTimeout(timer);
        reject(new Error(`engine exited with ${code}: ${output.join('')}`));
      });
    });
    return new EngineChild(child, exited, output);
  }

  /** Freezes the process (SIGSTOP): its timers, lease renewals and writes wait. */
  pause(): void {
    this.process.kill('SIGSTOP');
  }

  /** Lets a frozen process run on (SIGCONT). */
  resume(): void {
    this.process.kill('SIGCONT');
  }

  async kill(): Promise<void> {
    this.process.kill('SIGKILL');
    await this.exited;
  }
}
